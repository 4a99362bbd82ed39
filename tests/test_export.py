"""Raw-text SavedModels: signatures, TF-Serving op coverage, layout, warmup records, bad text.
(Every export kind through both loaders in a fresh process: test_serving.py.)"""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.export import check_serving_ops, export_saved_model, write_models_config
from kzoo.export.layout import publish
from kzoo.export.op_check import graph_ops
from kzoo.export.warmup import read_warmup_requests
from kzoo.tasks import Classifier
from kzoo.text import TextPairEncoder, learn_wordpiece_vocabulary, load_wordpiece
from tf_examples import serialized_examples

DATA = Path(__file__).parent / "data"
TEXTS = ["a charming and affecting journey", "a dull , lifeless movie", ""]


@pytest.fixture(scope="module")
def tokenizer():
    return load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 800))


@pytest.fixture(scope="module")
def classifier(tokenizer):
    keras.utils.set_random_seed(0)
    backbone = kzoo.build_encoder(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=32
    )
    return Classifier(backbone, num_classes=3, label_names=["neg", "neutral", "pos"])


@pytest.fixture(scope="module")
def exported(classifier, tokenizer, tmp_path_factory):
    return export_saved_model(
        classifier, tokenizer, tmp_path_factory.mktemp("models") / "clf", sequence_length=32
    )


def _keras_probabilities(classifier, tokenizer, texts, pair=None):
    inputs = TextPairEncoder(tokenizer, 32)(
        tf.constant(texts), None if pair is None else tf.constant(pair)
    )
    return tf.nn.softmax(classifier(inputs)).numpy()


def test_embed_signature_gives_pooled_and_unit_mean_embeddings(exported, classifier, tokenizer):
    outputs = tf.saved_model.load(str(exported)).signatures["embed"](text=tf.constant(TEXTS[:2]))
    inputs = TextPairEncoder(tokenizer, 32)(tf.constant(TEXTS[:2]))
    np.testing.assert_allclose(
        outputs["pooled"], classifier.backbone(inputs)["pooled_output"], atol=1e-5
    )
    np.testing.assert_allclose(np.linalg.norm(outputs["mean"], axis=-1), 1.0, atol=1e-5)


def test_export_holds_only_tensorflow_and_tf_text_ops(exported):
    ops = check_serving_ops(exported)
    assert "FastWordpieceTokenizeWithOffsets" in ops and not ops & {"PyFunc", "EagerPyFunc"}


def test_op_check_rejects_python_callbacks(tmp_path):
    module = tf.Module()
    module.f = tf.function(
        lambda x: tf.py_function(lambda v: v * 2, [x], tf.float32),
        input_signature=[tf.TensorSpec([None], tf.float32)],
    )
    tf.saved_model.save(module, str(tmp_path / "py"), signatures={"serving_default": module.f})
    assert "EagerPyFunc" in graph_ops(tmp_path / "py")
    with pytest.raises(ValueError, match=r"Python ops \['EagerPyFunc'\]"):
        check_serving_ops(tmp_path / "py")


def test_vocabulary_is_stored_in_assets(exported, tokenizer):
    vocabulary = (exported / "assets" / "vocab.txt").read_text().splitlines()
    assert vocabulary == tokenizer.get_vocabulary()


def test_versions_are_integers_and_never_overwritten(classifier, tokenizer, tmp_path):
    first = export_saved_model(
        classifier.backbone, tokenizer, tmp_path / "clf", sequence_length=32
    )
    second = export_saved_model(
        classifier.backbone, tokenizer, tmp_path / "clf", sequence_length=32
    )
    assert (first.name, second.name) == ("1", "2")
    # A concurrent export took version 1 between choosing it and publishing: take the next.
    staging = tmp_path / "clf" / ".staging"
    staging.mkdir()
    (staging / "saved_model.pb").write_bytes(b"another export")
    assert publish(staging, first) == tmp_path / "clf" / "3"
    assert (first / "saved_model.pb").read_bytes() != b"another export"
    assert not [p for p in (tmp_path / "clf").iterdir() if p.name.startswith(".")]


def test_warmup_requests_parse_one_per_signature(exported):
    logs = read_warmup_requests(exported)
    kinds = sorted(
        (kind, getattr(log, kind).request.model_spec.signature_name)
        for log, kind in ((log, log.WhichOneof("log_type")) for log in logs)
    )
    assert kinds == [
        ("classify_log", "classify"),
        ("predict_log", "embed"),
        ("predict_log", "serving_default"),
    ]
    request = next(log.predict_log.request for log in logs if log.HasField("predict_log"))
    assert request.model_spec.name == "clf" and tf.make_ndarray(request.inputs["text"]).shape == (
        1,
    )
    examples = next(
        log.classify_log.request.input.example_list.examples
        for log in logs
        if log.HasField("classify_log")
    )
    assert examples[0].features.feature["text"].bytes_list.value == [b"kzoo warmup request"]


def _method_names(version):
    from tensorflow.python.tools import saved_model_utils

    signatures = saved_model_utils.get_meta_graph_def(str(version), "serve").signature_def
    return {name: signature.method_name for name, signature in signatures.items()}


def test_classify_signature_takes_tf_examples_for_tf_servings_classify_api(
    exported, classifier, tokenizer
):
    assert _method_names(exported)["classify"] == "tensorflow/serving/classify"
    assert _method_names(exported)["serving_default"] == "tensorflow/serving/predict"
    out = tf.saved_model.load(str(exported)).signatures["classify"](
        inputs=tf.constant(serialized_examples(text=TEXTS))
    )
    np.testing.assert_allclose(
        out["scores"], _keras_probabilities(classifier, tokenizer, TEXTS), atol=1e-5
    )
    assert out["classes"].numpy().tolist() == [[b"neg", b"neutral", b"pos"]] * len(TEXTS)


def test_models_config_lists_every_model(tmp_path):
    config = write_models_config(tmp_path, ["sst2", "gpt"]).read_text()
    assert config.count("config {") == 2 and "base_path: '/models/gpt'" in config
    from google.protobuf import text_format
    from tensorflow_serving.config import model_server_config_pb2

    parsed = text_format.Parse(config, model_server_config_pb2.ModelServerConfig())
    assert [c.name for c in parsed.model_config_list.config] == ["sst2", "gpt"]
    assert "max_batch_size" in (tmp_path / "batching.config").read_text()


@pytest.mark.skipif(
    not shutil.which("tensorflow_model_server"),
    reason="tensorflow_model_server is not on PATH; test_serving.py's session-loader tests "
    "(TF Serving's C++ LoadSavedModel path, in a fresh process) stand in for it",
)
def test_live_tf_serving_answers_rest_and_grpc(exported, tmp_path):
    import subprocess
    import time

    from kzoo.serving import grpc_predict, rest_predict

    shutil.copytree(exported.parent, tmp_path / "clf")
    write_models_config(tmp_path, ["clf"], base_path=str(tmp_path))
    server = subprocess.Popen(
        [
            "tensorflow_model_server",
            "--port=8610",
            "--rest_api_port=8611",
            f"--model_config_file={tmp_path / 'models.config'}",
        ]
    )
    try:
        for _ in range(120):
            try:
                outputs = rest_predict("http://127.0.0.1:8611", "clf", {"text": TEXTS[:1]})
                break
            except OSError:
                time.sleep(0.5)
        assert len(outputs["probabilities"][0]) == 3
        assert grpc_predict("127.0.0.1:8610", "clf", {"text": TEXTS[:1]})[
            "probabilities"
        ].shape == (1, 3)
    finally:
        server.terminate()


def test_bad_requests_get_defined_outputs(exported, classifier, tokenizer):
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    empty_batch = serve(text=tf.constant([], tf.string))
    assert empty_batch["probabilities"].shape == (0, 3)
    long_text = " ".join(["movie"] * 2000)
    truncated = " ".join(["movie"] * 30)  # 30 pieces + [CLS] + [SEP] = the 32-token maximum
    np.testing.assert_allclose(
        serve(text=tf.constant([long_text]))["probabilities"],
        serve(text=tf.constant([truncated]))["probabilities"],
        atol=1e-6,
    )
    broken = serve(text=tf.constant([b"bad \xff\xfe bytes"]))
    replaced = serve(text=tf.constant(["bad \ufffd\ufffd bytes"]))
    np.testing.assert_allclose(broken["probabilities"], replaced["probabilities"], atol=1e-6)
