"""What encoders and decoders share: config-based serialization and the layer stack."""

import keras

from kzoo.config import ModelConfig, resolve_config
from kzoo.layers import TransformerBlock, TransformerEmbedding
from kzoo.layers.layer_norm import LayerNorm


class Backbone(keras.Model):
    """A functional model that is rebuilt from its `ModelConfig` when loaded.

    Subclasses create their layers, wire the functional graph and call
    `super().__init__(inputs, outputs)`; saving stores only the config.
    """

    def __init__(self, *args, config: ModelConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config

    def get_config(self):
        return {"config": self.config.to_dict(), "name": self.name,
                "trainable": self.trainable, "dtype": keras.dtype_policies.serialize(self.dtype_policy)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def with_dtype(self, dtype):
        """A copy under the Keras dtype policy `dtype` ("bfloat16", "mixed_float16", ...), same weights.

        Example: `fast = encoder.with_dtype("bfloat16")` stores and computes in bfloat16.
        """
        return self._copy(self.config, dtype)

    def with_config(self, **overrides):
        """A copy with config fields that leave the weights' shapes alone changed, e.g. dropout.

        Example: `encoder.with_config(dropout=0.2, attention_dropout=0.2)` for fine-tuning.
        """
        return self._copy(self.config.replace(**overrides), self.dtype_policy)

    def _copy(self, config, dtype):
        copy = type(self)(config, name=self.name, dtype=dtype)
        copy.set_weights([w.astype(v.dtype) for w, v in zip(self.get_weights(), copy.weights)])
        return copy


def make_layers(config: ModelConfig, dtype=None):
    """The embedding, the blocks and (for pre-LN stacks) the final LayerNorm."""
    c = config
    embedding = TransformerEmbedding(
        c.vocab_size, c.hidden_size, c.max_positions, num_segments=c.num_segments,
        normalize=c.norm_placement == "post", layer_norm_epsilon=c.layer_norm_epsilon,
        dropout=c.dropout, initializer_range=c.initializer_range,
        tie_weights=c.tie_embeddings, dtype=dtype, name="embedding")
    blocks = [
        TransformerBlock(
            c.num_heads, c.intermediate_size, activation=c.activation,
            norm_placement=c.norm_placement, layer_norm_epsilon=c.layer_norm_epsilon,
            dropout=c.dropout, attention_dropout=c.attention_dropout, causal=c.causal,
            initializer_range=c.initializer_range, dtype=dtype, name=f"block_{i}")
        for i in range(c.num_layers)
    ]
    final_norm = LayerNorm(
        epsilon=c.layer_norm_epsilon, dtype=dtype, name="final_norm"
    ) if c.norm_placement == "pre" else None
    return embedding, blocks, final_norm


def checked_config(preset_or_config, overrides, causal: bool, builder: str) -> ModelConfig:
    config = resolve_config(preset_or_config, **overrides)
    if config.causal != causal:
        other = "build_decoder" if config.causal else "build_encoder"
        raise ValueError(
            f"{builder} got a config with causal={config.causal}; use {other} for it, "
            f"or pass causal={causal}.")
    return config
