"""One call from a trained task to a versioned, raw-text SavedModel that TF Serving loads."""

import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from kzoo.export.layout import next_version_dir, publish
from kzoo.export.signatures import (SERVING_METHODS, classifier_signatures, embedder_signatures,
                                    fill_mask_signatures, generator_signatures)
from kzoo.export.span_signatures import question_answering_signatures, token_classifier_signatures
from kzoo.export.warmup import write_warmup_requests
from kzoo.text.encoder_inputs import TextPairEncoder

GENERATE_WARMUP = {"prompt": ["kzoo warmup request"], "max_new_tokens": 4, "method": "greedy",
                   "temperature": 1.0, "top_k": 0, "top_p": 1.0, "seed": 0}


def export_saved_model(task, tokenizer, model_dir, sequence_length=128, pair=False, end_token_id=None,
                       precision="float32", jit_compile=False, warmup_texts=("kzoo warmup request",)) -> Path:
    """Writes `model_dir/<next version>/` with raw-text signatures and warmup requests.

    By task: `Classifier` → `serving_default` (labels and probabilities, or `score`) + `embed`;
    `TokenClassifier` → `serving_default` (entities with character offsets) + `embed`; `SpanQA` →
    `serving_default` (question, context → answer and its offsets) + `embed`; `MaskedLMPretrainer`
    → `serving_default` = fill_mask + `embed`; `CausalLM` → `serving_default` = generate (prompts up
    to `sequence_length` tokens; pass `end_token_id`); an `Encoder` → `embed`.

    `precision` exports a copy under that Keras dtype policy ("bfloat16", "mixed_float16", ...;
    outputs stay float32). `jit_compile=True` compiles the model part of each signature with XLA
    (tokenization stays outside: string ops have no XLA kernels). The vocabulary travels in the
    SavedModel's assets. Returns the version directory.

    Example:
        >>> export_saved_model(classifier, tokenizer, "saved_models/sst2")
        PosixPath('saved_models/sst2/1')
    """
    from kzoo.tasks import CausalLM

    if precision != "float32":
        task = task.with_dtype(precision)
    module = tf.Module()
    module.model, module.tokenizer = task, tokenizer
    if isinstance(task, CausalLM):
        if end_token_id is None:
            raise ValueError("exporting a CausalLM needs end_token_id (the token that ends generation).")
        seed_generator = keras.random.SeedGenerator(0)
        module.seed_state = seed_generator.state  # the generator itself is not a tf trackable
        signatures = generator_signatures(task.backbone, tokenizer, seed_generator, end_token_id, sequence_length)
        requests = {"serving_default": GENERATE_WARMUP}
    else:
        signatures, requests = _encoder_signatures(task, tokenizer, sequence_length, pair, jit_compile,
                                                   list(warmup_texts))
    return _write(module, signatures, tokenizer, model_dir, requests)


def _encoder_signatures(task, tokenizer, sequence_length, pair, jit_compile, texts):
    """(signatures, a warmup request for each) of an encoder or an encoder task."""
    from kzoo.tasks import Classifier, MaskedLMPretrainer, SpanQA, TokenClassifier

    encode = TextPairEncoder(tokenizer, sequence_length)
    if not hasattr(task, "backbone"):  # a bare encoder
        embed = embedder_signatures(task, encode, jit_compile)
        return {**embed, "serving_default": embed["embed"]}, {"serving_default": {"text": texts}}
    if isinstance(task, Classifier):
        main = classifier_signatures(task, encode, pair, jit_compile)
        request = {"text": texts, **({"text_pair": texts} if pair else {})}
        for name in set(SERVING_METHODS) & set(main):  # the tf.Example signature
            main_requests = {name: {"examples": [{k: v[0] for k, v in request.items()}]}}
    elif isinstance(task, TokenClassifier):
        main = token_classifier_signatures(task, tokenizer, sequence_length, jit_compile)
        request, main_requests = {"text": ["Peter Blackburn visited Brussels ."]}, {}
    elif isinstance(task, SpanQA):
        main = question_answering_signatures(task, tokenizer, sequence_length, jit_compile=jit_compile)
        request, main_requests = {"question": ["Where is kzoo?"], "context": ["kzoo is in the zoo ."]}, {}
    elif isinstance(task, MaskedLMPretrainer):
        main = fill_mask_signatures(task, encode, jit_compile=jit_compile)
        main["serving_default"] = main["fill_mask"]
        request, main_requests = {"text": ["the [MASK] is blue"]}, {}
    else:
        raise ValueError(f"kzoo cannot export a {type(task).__name__}; export its backbone for embeddings.")
    signatures = {**main, **embedder_signatures(task.backbone, encode, jit_compile)}
    return signatures, {"serving_default": request, **main_requests, "embed": {"text": texts}}


def _write(module, signatures, tokenizer, model_dir, requests) -> Path:
    version_dir = next_version_dir(model_dir)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        vocab_file = Path(scratch) / "vocab.txt"
        vocab_file.write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
        module.vocabulary_file = tf.saved_model.Asset(str(vocab_file))
        staging = Path(tempfile.mkdtemp(dir=version_dir.parent, prefix=f".{version_dir.name}-"))
        tf.saved_model.save(module, str(staging), signatures=signatures)
    set_serving_methods(staging, {name: SERVING_METHODS[name] for name in signatures if name in SERVING_METHODS})
    write_warmup_requests(staging, version_dir.parent.name, requests)
    return publish(staging, version_dir)


def set_serving_methods(saved_model_dir, methods: dict):
    """Sets SignatureDef method names, e.g. `{"classify": "tensorflow/serving/classify"}`.

    `tf.saved_model.save` writes every signature as a Predict one, and has no option for
    others, so the proto is edited and its fingerprint rewritten.
    """
    if not methods:
        return
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.saved_model import fingerprinting_utils

    path = Path(saved_model_dir) / "saved_model.pb"
    proto = saved_model_pb2.SavedModel.FromString(path.read_bytes())
    for name, method in methods.items():
        proto.meta_graphs[0].signature_def[name].method_name = method
    path.write_bytes(proto.SerializeToString())
    (Path(saved_model_dir) / "fingerprint.pb").unlink(missing_ok=True)
    fingerprinting_utils.write_fingerprint(str(saved_model_dir))
