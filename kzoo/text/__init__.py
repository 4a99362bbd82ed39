"""In-graph tokenizers and vocabulary learning."""

from kzoo.text.encoder_inputs import TextPairEncoder
from kzoo.text.wordpiece import SPECIAL_TOKENS, learn_wordpiece_vocabulary, load_wordpiece, read_vocabulary

__all__ = ["SPECIAL_TOKENS", "TextPairEncoder", "learn_wordpiece_vocabulary", "load_wordpiece",
           "read_vocabulary"]
