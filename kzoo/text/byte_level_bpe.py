"""Byte-level BPE with each model's own pre-tokenizer split, on keras_hub's merge machinery."""

import keras
import tensorflow as tf
from keras_hub.src.utils.tensor_utils import preprocessing_function
from keras_hub.tokenizers import BytePairTokenizer

from kzoo.text.pre_tokenizers import pre_tokenizer_named, split_pieces

GPT2_ROLES = {"end_of_text": "<|endoftext|>", "pad": "<|endoftext|>"}


@keras.saving.register_keras_serializable(package="kzoo")
class ByteLevelBPE(BytePairTokenizer):
    """keras_hub's BytePairTokenizer (merge ranks, cache, id tables, detokenizer) behind the
    exact split of GPT-2, Llama 3 or Qwen2 (`kzoo.text.pre_tokenizers`), with the options a
    `tokenizer.json` sets: `normalization` (None or "NFC"), `ignore_merges` (a piece that is in
    the vocabulary is one token, as Llama 3's BPE asks) and `special_tokens` (kept whole).
    `special_roles` names the end-of-text and padding tokens.

    Example:
        >>> tok = ByteLevelBPE(vocab, merges, pre_tokenizer="llama3", ignore_merges=True)
        >>> tok(["It's 2026"])
    """

    def __init__(
        self,
        vocabulary=None,
        merges=None,
        pre_tokenizer="gpt2",
        normalization=None,
        ignore_merges=False,
        special_tokens=None,
        special_roles=None,
        **kwargs,
    ):
        self.pre_tokenizer = pre_tokenizer_named(pre_tokenizer)
        self.normalization, self.ignore_merges = normalization, ignore_merges
        self.special_roles = dict(special_roles or GPT2_ROLES)
        if special_tokens is None and isinstance(vocabulary, dict):
            special_tokens = [t for t in vocabulary if t.startswith("<|") and t.endswith("|>")]
        kwargs.setdefault("unsplittable_tokens", list(special_tokens or ()))
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "pre_tokenizer": self.pre_tokenizer.name,
            "normalization": self.normalization,
            "ignore_merges": self.ignore_merges,
            "special_roles": self.special_roles,
        }

    def _use_tf_workflow(self):
        # keras_hub's eager path runs the `tokenizers` library with one fixed split (Llama 3's)
        # for every model; the graph path is the one with this model's split.
        return True

    @preprocessing_function
    def _tokenize_tf(self, inputs):
        # keras_hub's own _tokenize_tf with this split in place of its GPT-2 approximation and
        # with `ignore_merges`; its merges, cache and id table are reused as they are.
        self._maybe_initialized_tf()
        if self.add_prefix_space:
            inputs = tf.strings.join([" ", inputs])
        inputs = tf.convert_to_tensor(inputs)
        unbatched = inputs.shape.rank == 0
        if unbatched:
            inputs = tf.expand_dims(inputs, 0)
        pieces = split_pieces(
            inputs, self.pre_tokenizer, self.unsplittable_tokens, self.normalization
        )
        flat = pieces.flat_values
        cached = self.cache.lookup(flat)
        unseen = cached == ""
        merged = tf.cond(
            tf.reduce_any(unseen & (flat != "")),
            lambda: self._merge_and_cache(flat, unseen),
            lambda: cached,
        )
        tokens = tf.strings.split(merged, sep=" ")
        if self.compute_dtype != tf.string:
            tokens = self.token_to_id_map.lookup(tokens)
        tokens = tf.RaggedTensor.from_row_splits(
            tokens.flat_values, tf.gather(tokens.row_splits, pieces.row_splits)
        )
        if self.sequence_length:
            shape = tokens.shape.as_list()
            shape[-1] = self.sequence_length
            tokens = tokens.to_tensor(shape=shape)
        return tf.squeeze(tokens, 0) if unbatched else tokens

    def _merge_and_cache(self, flat, unseen):
        pieces = tf.boolean_mask(flat, unseen)
        if self.ignore_merges:
            symbols = tf.strings.reduce_join(
                self.byte2unicode.lookup(tf.strings.bytes_split(pieces)), axis=-1
            )
            whole = self.token_to_id_map.lookup(symbols) != -1
            self.cache.insert(tf.boolean_mask(pieces, whole), tf.boolean_mask(symbols, whole))
            pieces = tf.boolean_mask(pieces, ~whole)
        self._bpe_merge_and_update_cache_tf(pieces)
        return self.cache.lookup(flat)
