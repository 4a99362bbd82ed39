"""One call from a trained task to a versioned, raw-text SavedModel that TF Serving loads."""

import tempfile
import types
from pathlib import Path

import keras
import tensorflow as tf

from kzoo.export.layout import next_version_dir, publish
from kzoo.export.warmup import write_warmup_requests
from kzoo.generation.decode import sample_or_greedy
from kzoo.generation.generator import left_pad
from kzoo.tasks.embedder import mean_pool
from kzoo.text.encoder_inputs import TextPairEncoder

TEXT = tf.TensorSpec([None], tf.string, name="text")
TEXT_PAIR = tf.TensorSpec([None], tf.string, name="text_pair")


def clean_text(text):
    """Invalid UTF-8 becomes U+FFFD, so a bad request gets an answer instead of an op error."""
    return tf.strings.unicode_transcode(text, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD)


def classifier_signatures(task, encode, pair=False) -> dict:
    """`serving_default`: text[, text_pair] → label_ids, labels, probabilities (or `score` for regression)."""
    label_names = tf.constant(task.label_names or [""])

    def outputs(text, text_pair=None):
        inputs = encode(clean_text(text), None if text_pair is None else clean_text(text_pair))
        logits = tf.cast(task(inputs, training=False), tf.float32)
        if task.num_classes == 1:
            return {"score": logits[:, 0]}
        probabilities = tf.nn.softmax(logits)
        ids = tf.argmax(probabilities, -1, output_type=tf.int32)
        return {"label_ids": ids, "labels": tf.gather(label_names, ids), "probabilities": probabilities}

    if pair:
        return {"serving_default": tf.function(outputs, input_signature=[TEXT, TEXT_PAIR])}
    return {"serving_default": tf.function(lambda text: outputs(text), input_signature=[TEXT])}


def embedder_signatures(encoder_model, encode) -> dict:
    """`embed`: text → pooled output and L2-normalised mean of the token states."""
    def embed(text):
        inputs = encode(clean_text(text))
        out = encoder_model(inputs, training=False)
        mean = mean_pool(tf.cast(out["sequence_output"], tf.float32), inputs["padding_mask"])
        return {"pooled": tf.cast(out["pooled_output"], tf.float32), "mean": tf.math.l2_normalize(mean, -1)}

    return {"embed": tf.function(embed, input_signature=[TEXT])}


def fill_mask_signatures(pretrainer, encode, top_k=5) -> dict:
    """`fill_mask`: text with one `[MASK]` → the `top_k` tokens for it and their probabilities
    (a text without `[MASK]` is scored at its first token)."""
    mask_id = encode.tokenizer.token_to_id("[MASK]")
    vocabulary = tf.constant(encode.tokenizer.get_vocabulary())

    def fill_mask(text):
        inputs = encode(clean_text(text))
        position = tf.argmax(tf.cast(inputs["token_ids"] == mask_id, tf.int32), axis=1, output_type=tf.int32)
        logits = pretrainer({**inputs, "mask_positions": position[:, None]}, training=False)["mlm"][:, 0]
        scores, ids = tf.math.top_k(tf.nn.softmax(tf.cast(logits, tf.float32)), k=top_k)
        return {"tokens": tf.gather(vocabulary, ids), "token_ids": ids, "scores": scores}

    return {"fill_mask": tf.function(fill_mask, input_signature=[TEXT])}


def generator_signatures(decoder, tokenizer, seed_generator, end_token_id, max_prompt_length) -> dict:
    """`generate`: prompt, max_new_tokens, method ("greedy"/"sample"), temperature, top_k, top_p, seed
    → text (the continuation) and token_ids. The decode loop and its KV cache run in the graph."""
    limit = decoder.config.max_positions - max_prompt_length

    def generate(prompt, max_new_tokens, method, temperature, top_k, top_p, seed):
        checks = [
            tf.debugging.assert_equal(tf.reduce_any(method == tf.constant(["greedy", "sample"])), True,
                                      message="method must be 'greedy' or 'sample'"),
            tf.debugging.assert_positive(temperature, message="temperature must be > 0"),
            tf.debugging.assert_non_negative(top_k, message="top_k must be >= 0 (0 = off)"),
            tf.debugging.assert_equal(tf.logical_and(top_p > 0, top_p <= 1), True, message="top_p must be in (0, 1]"),
            tf.debugging.assert_equal(tf.logical_and(max_new_tokens >= 1, max_new_tokens <= limit), True,
                                      message=f"max_new_tokens must be in [1, {limit}]")]
        with tf.control_dependencies(checks):
            seed_generator.state.assign(tf.stack([tf.cast(seed, seed_generator.state.dtype), 0]))

        def continue_prompts():
            ids = tokenizer(clean_text(prompt))[:, -max_prompt_length:]  # over-long prompts keep their end
            empty = ids.row_lengths() == 0  # an empty prompt starts from the end-of-text token
            ids = tf.concat([tf.RaggedTensor.from_row_lengths(
                tf.fill([tf.reduce_sum(tf.cast(empty, tf.int32))], tf.cast(end_token_id, ids.dtype)),
                tf.cast(empty, tf.int64)), ids], axis=1)
            ids, mask = left_pad(ids)
            config = types.SimpleNamespace(
                max_new_tokens=max_new_tokens, method="greedy_or_sample", greedy=method == "greedy",
                temperature=temperature, top_k=top_k, top_p=top_p, repetition_penalty=1.0, min_new_tokens=0,
                end_token_id=end_token_id, pad_token_id=end_token_id, stop_sequences=())
            new = sample_or_greedy(decoder, ids, mask, config, seed_generator)[:, tf.shape(ids)[1]:]
            ended = tf.cast(new == end_token_id, tf.int32)
            lengths = tf.where(tf.reduce_any(ended > 0, 1), tf.argmax(ended, 1, output_type=tf.int32),
                               tf.shape(new)[1])
            new = tf.RaggedTensor.from_tensor(new, lengths=lengths)
            return {"text": tokenizer.detokenize(new), "token_ids": new.to_tensor(end_token_id)}

        def empty_batch():
            return {"text": tf.zeros([0], tf.string), "token_ids": tf.zeros([0, 0], tf.int32)}

        return tf.cond(tf.size(prompt) > 0, continue_prompts, empty_batch)

    spec = [tf.TensorSpec([None], tf.string, name="prompt"), tf.TensorSpec([], tf.int32, name="max_new_tokens"),
            tf.TensorSpec([], tf.string, name="method"), tf.TensorSpec([], tf.float32, name="temperature"),
            tf.TensorSpec([], tf.int32, name="top_k"), tf.TensorSpec([], tf.float32, name="top_p"),
            tf.TensorSpec([], tf.int32, name="seed")]
    return {"serving_default": tf.function(generate, input_signature=spec)}


GENERATE_WARMUP = {"prompt": ["kzoo warmup request"], "max_new_tokens": 4, "method": "greedy",
                   "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0}


def export_saved_model(task, tokenizer, model_dir, sequence_length=128, pair=False, end_token_id=None,
                       warmup_texts=("kzoo warmup request",)) -> Path:
    """Writes `model_dir/<next version>/` with raw-text signatures and warmup requests.

    A `Classifier` gets `serving_default` (labels and probabilities) and `embed`;
    a `MaskedLMPretrainer` gets `serving_default` = fill_mask and `embed`; a `CausalLM` gets
    `serving_default` = generate (prompts up to `sequence_length` tokens; pass `end_token_id`);
    an `Encoder` gets `embed`. The vocabulary travels in the
    SavedModel's assets. Returns the version directory.

    Example:
        >>> export_saved_model(classifier, tokenizer, "saved_models/sst2")
        PosixPath('saved_models/sst2/1')
    """
    from kzoo.tasks import CausalLM, Classifier, MaskedLMPretrainer

    module = tf.Module()
    module.model, module.tokenizer = task, tokenizer
    encode = TextPairEncoder(tokenizer, sequence_length)
    texts = list(warmup_texts)
    if isinstance(task, CausalLM):
        if end_token_id is None:
            raise ValueError("exporting a CausalLM needs end_token_id (the token that ends generation).")
        seed_generator = keras.random.SeedGenerator(0)
        module.seed_state = seed_generator.state  # the generator itself is not a tf trackable
        signatures = generator_signatures(task.backbone, tokenizer, seed_generator, end_token_id, sequence_length)
        requests = {"serving_default": GENERATE_WARMUP}
    elif isinstance(task, Classifier):
        signatures = {**classifier_signatures(task, encode, pair), **embedder_signatures(task.backbone, encode)}
        requests = {"serving_default": {"text": texts, **({"text_pair": texts} if pair else {})},
                    "embed": {"text": texts}}
    elif isinstance(task, MaskedLMPretrainer):
        signatures = {**fill_mask_signatures(task, encode), **embedder_signatures(task.backbone, encode)}
        signatures["serving_default"] = signatures["fill_mask"]
        requests = {"serving_default": {"text": ["the [MASK] is blue"]}, "embed": {"text": texts}}
    else:
        signatures = embedder_signatures(task, encode)
        signatures["serving_default"] = signatures["embed"]
        requests = {"serving_default": {"text": texts}}
    return _write(module, signatures, tokenizer, model_dir, requests)


def _write(module, signatures, tokenizer, model_dir, requests) -> Path:
    version_dir = next_version_dir(model_dir)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
        module.vocabulary_file = tf.saved_model.Asset(str(vocab_file))
        staging = Path(tempfile.mkdtemp(dir=version_dir.parent, prefix=f".{version_dir.name}-"))
        tf.saved_model.save(module, str(staging), signatures=signatures)
    write_warmup_requests(staging, version_dir.parent.name, requests)
    return publish(staging, version_dir)
