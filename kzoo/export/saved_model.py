"""One call from a trained task to a versioned, raw-text SavedModel that TF Serving loads."""

import tempfile
from pathlib import Path

import tensorflow as tf

from kzoo.export.layout import next_version_dir, publish
from kzoo.export.warmup import write_warmup_requests
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
        mask = tf.cast(inputs["padding_mask"], tf.float32)[:, :, None]
        mean = tf.reduce_sum(tf.cast(out["sequence_output"], tf.float32) * mask, 1) / tf.maximum(
            tf.reduce_sum(mask, 1), 1.0)
        return {"pooled": tf.cast(out["pooled_output"], tf.float32), "mean": tf.math.l2_normalize(mean, -1)}

    return {"embed": tf.function(embed, input_signature=[TEXT])}


def export_saved_model(task, tokenizer, model_dir, sequence_length=128, pair=False,
                       warmup_texts=("kzoo warmup request",)) -> Path:
    """Writes `model_dir/<next version>/` with raw-text signatures and warmup requests.

    Classifiers get `serving_default` (and `embed`, from their backbone). The
    vocabulary travels in the SavedModel's assets. Returns the version directory.

    Example:
        >>> export_saved_model(classifier, tokenizer, "saved_models/sst2")
        PosixPath('saved_models/sst2/1')
    """
    encode = TextPairEncoder(tokenizer, sequence_length)
    signatures = {**classifier_signatures(task, encode, pair), **embedder_signatures(task.backbone, encode)}
    module = tf.Module()
    module.model, module.tokenizer = task, tokenizer
    version_dir = next_version_dir(model_dir)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
        module.vocabulary_file = tf.saved_model.Asset(str(vocab_file))
        staging = Path(tempfile.mkdtemp(dir=version_dir.parent, prefix=f".{version_dir.name}-"))
        tf.saved_model.save(module, str(staging), signatures=signatures)
    texts = list(warmup_texts)
    requests = {"serving_default": {"text": texts, **({"text_pair": texts} if pair else {})},
                "embed": {"text": texts}}
    write_warmup_requests(staging, version_dir.parent.name, requests)
    return publish(staging, version_dir)
