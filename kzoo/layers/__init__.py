"""The few Keras layers every kzoo model is made of."""

from kzoo.layers.attention import Attention, attention_mask
from kzoo.layers.dense import Dense
from kzoo.layers.embedding import TransformerEmbedding
from kzoo.layers.norms import LayerNorm, RMSNorm, make_norm
from kzoo.layers.transformer_block import TransformerBlock

__all__ = ["Attention", "Dense", "LayerNorm", "RMSNorm", "TransformerBlock",
           "TransformerEmbedding", "attention_mask", "make_norm"]
