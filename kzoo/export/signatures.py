"""Raw-text serving signatures (tf.functions) for classifiers, embedders, fill-mask and
generation."""

import types

import tensorflow as tf

from kzoo.export.request_checks import checked, generation_checks, same_batch
from kzoo.generation.decode import sample_or_greedy
from kzoo.generation.generator import left_pad
from kzoo.tasks.embedder import mean_pool

TEXT = tf.TensorSpec([None], tf.string, name="text")
TEXT_PAIR = tf.TensorSpec([None], tf.string, name="text_pair")
EXAMPLES = tf.TensorSpec(
    [None], tf.string, name="inputs"
)  # serialized tf.Example, as TF Serving sends them
# TF Serving's Classify and Regress APIs only call signatures with these method names.
SERVING_METHODS = {
    "classify": "tensorflow/serving/classify",
    "regress": "tensorflow/serving/regress",
}


def clean_text(text):
    """Invalid UTF-8 becomes U+FFFD, so a bad request gets an answer instead of an op error."""
    return tf.strings.unicode_transcode(
        text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
    )


def model_call(model, jit_compile=False):
    """How a signature runs the model: in inference mode, compiled with XLA when asked. Only this
    part is compiled: tokenization is string ops, which XLA has no kernels for."""

    def call(inputs):
        return model(inputs, training=False)

    return tf.function(call, jit_compile=True) if jit_compile else call


def classifier_signatures(task, encode, pair=False, jit_compile=False) -> dict:
    """`serving_default`: text[, text_pair] → label_ids, labels, probabilities (or `score` for
    regression).

    Also `classify` (→ classes, scores) or, for regression, `regress` (→ outputs): TF Serving's
    Classify/Regress APIs on serialized tf.Examples with bytes features `text` [and `text_pair`].
    """
    label_names = tf.constant(task.label_names or [""])
    run = model_call(task, jit_compile)

    def outputs(text, text_pair=None):
        if text_pair is not None:
            text, text_pair = checked((text, text_pair), [same_batch(text, text_pair)])
        inputs = encode(clean_text(text), None if text_pair is None else clean_text(text_pair))
        logits = tf.cast(run(inputs), tf.float32)
        if task.num_classes == 1:
            return {"score": logits[:, 0]}
        probabilities = tf.nn.softmax(logits)
        ids = tf.argmax(probabilities, -1, output_type=tf.int32)
        return {
            "label_ids": ids,
            "labels": tf.gather(label_names, ids),
            "probabilities": probabilities,
        }

    def from_examples(inputs):
        names = ("text", "text_pair") if pair else ("text",)
        # No default: an Example without a feature is refused (InvalidArgument names it), not
        # classified as "".
        spec = {n: tf.io.FixedLenFeature([], tf.string) for n in names}
        features = tf.io.parse_example(inputs, spec)
        result = outputs(*(features[n] for n in names))
        if task.num_classes == 1:
            return {"outputs": result["score"]}
        return {
            "classes": tf.tile(label_names[None], [tf.shape(inputs)[0], 1]),
            "scores": result["probabilities"],
        }

    signatures = {
        "regress" if task.num_classes == 1 else "classify": tf.function(
            from_examples, input_signature=[EXAMPLES]
        )
    }
    if pair:
        return {
            "serving_default": tf.function(outputs, input_signature=[TEXT, TEXT_PAIR]),
            **signatures,
        }
    return {
        "serving_default": tf.function(lambda text: outputs(text), input_signature=[TEXT]),
        **signatures,
    }


def embedder_signatures(encoder_model, encode, jit_compile=False) -> dict:
    """`embed`: text → pooled output and L2-normalised mean of the token states."""
    run = model_call(encoder_model, jit_compile)

    def embed(text):
        inputs = encode(clean_text(text))
        out = run(inputs)
        mean = mean_pool(tf.cast(out["sequence_output"], tf.float32), inputs["padding_mask"])
        return {
            "pooled": tf.cast(out["pooled_output"], tf.float32),
            "mean": tf.math.l2_normalize(mean, -1),
        }

    return {"embed": tf.function(embed, input_signature=[TEXT])}


def fill_mask_signatures(pretrainer, encode, top_k=5, jit_compile=False) -> dict:
    """`fill_mask`: text with one `[MASK]` → the `top_k` tokens for it and their probabilities
    (a text without `[MASK]` is scored at its first token)."""
    mask_id = encode.tokenizer.token_to_id("[MASK]")
    vocabulary = tf.constant(encode.tokenizer.get_vocabulary())
    run = model_call(pretrainer, jit_compile)

    def fill_mask(text):
        inputs = encode(clean_text(text))
        position = tf.argmax(
            tf.cast(inputs["token_ids"] == mask_id, tf.int32), axis=1, output_type=tf.int32
        )
        logits = run({**inputs, "mask_positions": position[:, None]})["mlm"][:, 0]
        scores, ids = tf.math.top_k(tf.nn.softmax(tf.cast(logits, tf.float32)), k=top_k)
        return {"tokens": tf.gather(vocabulary, ids), "token_ids": ids, "scores": scores}

    return {"fill_mask": tf.function(fill_mask, input_signature=[TEXT])}


def request_config(max_new_tokens, method, temperature, top_k, top_p, end_token_id):
    """The decode settings of a generate request's tensors: greedy or sampled, decided in the
    graph per request."""
    return types.SimpleNamespace(
        max_new_tokens=max_new_tokens,
        method="greedy_or_sample",
        greedy=method == "greedy",
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        repetition_penalty=1.0,
        min_new_tokens=0,
        end_token_id=end_token_id,
        pad_token_id=end_token_id,
        stop_sequences=(),
    )


def text_until_end(tokenizer, new, end_token_id) -> dict:
    """`text` and `token_ids` of generated ids (batch, n), each row cut at its end token."""
    ended = tf.cast(new == end_token_id, tf.int32)
    lengths = tf.where(
        tf.reduce_any(ended > 0, 1), tf.argmax(ended, 1, output_type=tf.int32), tf.shape(new)[1]
    )
    new = tf.RaggedTensor.from_tensor(new, lengths=lengths)
    # a character cut by max_new_tokens (or an invalid byte run) becomes U+FFFD, so a REST/JSON
    # client never receives bytes it cannot decode
    text = clean_text(tokenizer.detokenize(new))
    return {"text": text, "token_ids": new.to_tensor(end_token_id)}


def empty_generation():
    """The answer to a request with no rows."""
    return {"text": tf.zeros([0], tf.string), "token_ids": tf.zeros([0, 0], tf.int32)}


# The inputs of every generate signature after its texts.
GENERATION_SPEC = [
    tf.TensorSpec([], tf.int32, name="max_new_tokens"),
    tf.TensorSpec([], tf.string, name="method"),
    tf.TensorSpec([], tf.float32, name="temperature"),
    tf.TensorSpec([], tf.int32, name="top_k"),
    tf.TensorSpec([], tf.float32, name="top_p"),
    tf.TensorSpec([], tf.int32, name="seed"),
]


def generator_signatures(decoder, tokenizer, end_token_id, max_prompt_length) -> dict:
    """`generate`: prompt, max_new_tokens, method ("greedy"/"sample"), temperature, top_k, top_p,
    seed → text (the continuation) and token_ids. The decode loop and its KV cache run in the graph.
    Prompts keep their last `max_prompt_length` tokens; the rest of the model's positions are room
    for new tokens. Sampling is stateless: a request's seed alone decides its tokens."""
    limit = decoder.config.max_positions - max_prompt_length

    def generate(prompt, max_new_tokens, method, temperature, top_k, top_p, seed):
        rules = generation_checks(
            method, temperature, top_k, top_p, max_new_tokens, limit, decoder.config.vocab_size
        )
        (prompt,) = checked((prompt,), rules)

        def continue_prompts():
            ids = tokenizer(clean_text(prompt))[
                :, -max_prompt_length:
            ]  # over-long prompts keep their end
            empty = ids.row_lengths() == 0  # an empty prompt starts from the end-of-text token
            ids = tf.concat(
                [
                    tf.RaggedTensor.from_row_lengths(
                        tf.fill(
                            [tf.reduce_sum(tf.cast(empty, tf.int32))],
                            tf.cast(end_token_id, ids.dtype),
                        ),
                        tf.cast(empty, tf.int64),
                    ),
                    ids,
                ],
                axis=1,
            )
            ids, mask = left_pad(ids)
            config = request_config(max_new_tokens, method, temperature, top_k, top_p,
                                    end_token_id)
            new = sample_or_greedy(decoder, ids, mask, config, seed)[:, tf.shape(ids)[1] :]
            return text_until_end(tokenizer, new, end_token_id)

        return tf.cond(tf.size(prompt) > 0, continue_prompts, empty_generation)

    spec = [tf.TensorSpec([None], tf.string, name="prompt"), *GENERATION_SPEC]
    return {"serving_default": tf.function(generate, input_signature=spec)}
