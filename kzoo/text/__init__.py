"""In-graph tokenizers (WordPiece, byte-level BPE, SentencePiece) and vocabulary learning."""

from kzoo.text.bpe import END_OF_TEXT, learn_bpe, load_bpe
from kzoo.text.encoder_inputs import TextPairEncoder
from kzoo.text.record import end_of_text_id, kind_of, load_tokenizer, save_tokenizer
from kzoo.text.sentencepiece import learn_sentencepiece, load_sentencepiece
from kzoo.text.wordpiece import (
    SPECIAL_TOKENS,
    learn_wordpiece_vocabulary,
    load_wordpiece,
    read_vocabulary,
)

__all__ = [
    "END_OF_TEXT",
    "SPECIAL_TOKENS",
    "TextPairEncoder",
    "end_of_text_id",
    "kind_of",
    "learn_bpe",
    "learn_sentencepiece",
    "learn_wordpiece_vocabulary",
    "load_bpe",
    "load_sentencepiece",
    "load_tokenizer",
    "load_wordpiece",
    "read_vocabulary",
    "save_tokenizer",
]
