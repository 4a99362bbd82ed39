"""The text-to-text serving signature of an encoder-decoder: source text and generation
parameters in, target text out, with the encoder pass and the whole decode loop in the graph."""

import tensorflow as tf

from kzoo.data.parallel import end_terminated
from kzoo.export.request_checks import checked, generation_checks
from kzoo.export.signatures import (
    GENERATION_SPEC,
    clean_text,
    empty_generation,
    request_config,
    text_until_end,
)
from kzoo.generation.seq2seq import generate_ids


def text_to_text_signatures(task, tokenizer, end_token_id, max_source_length) -> dict:
    """`serving_default`: source, max_new_tokens, method ("greedy"/"sample"), temperature,
    top_k, top_p, seed → text and token_ids. Sources are cut to `max_source_length` tokens
    (their end token kept), as training cuts them; an empty source is its end token alone.
    New tokens may fill the decoder's positions after the start token."""
    backbone = task.backbone
    limit = backbone.config.max_positions - 1

    def generate(source, max_new_tokens, method, temperature, top_k, top_p, seed):
        rules = generation_checks(method, temperature, top_k, top_p, max_new_tokens, limit,
                                  backbone.config.vocab_size)
        (source,) = checked((source,), rules)

        def translate():
            ids = end_terminated(tokenizer, clean_text(source), max_source_length, end_token_id)
            config = request_config(max_new_tokens, method, temperature, top_k, top_p,
                                    end_token_id)
            new = generate_ids(backbone, ids.to_tensor(end_token_id),
                               tf.ones_like(ids).to_tensor(0), config,
                               task.decoder_start_token_id, seed)[:, 1:]
            return text_until_end(tokenizer, new, end_token_id)

        return tf.cond(tf.size(source) > 0, translate, empty_generation)

    spec = [tf.TensorSpec([None], tf.string, name="source"), *GENERATION_SPEC]
    return {"serving_default": tf.function(generate, input_signature=spec)}
