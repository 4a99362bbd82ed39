"""Raw text → tf.data examples: pretraining corpora, fine-tuning readers, TFRecord shards."""

from kzoo.data.classification import (
    classification_batches,
    read_classification,
    split_off,
)
from kzoo.data.documents import read_documents, split_sentences
from kzoo.data.masking import MaskingConfig, continuation_flags, mask_tokens
from kzoo.data.multi_task import mix_task_batches
from kzoo.data.multiple_choice import encode_choices
from kzoo.data.nsp import make_nsp_examples, tokenize_documents
from kzoo.data.pretraining import (
    causal_lm_batches,
    causal_lm_windows,
    mlm_nsp_batches,
    with_known_length,
)
from kzoo.data.records import read_records, write_records

__all__ = [
    "MaskingConfig",
    "causal_lm_batches",
    "causal_lm_windows",
    "classification_batches",
    "continuation_flags",
    "encode_choices",
    "make_nsp_examples",
    "mask_tokens",
    "mix_task_batches",
    "mlm_nsp_batches",
    "read_classification",
    "read_documents",
    "read_records",
    "split_off",
    "split_sentences",
    "tokenize_documents",
    "with_known_length",
    "write_records",
]
