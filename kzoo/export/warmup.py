"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`, one PredictionLog per signature."""

from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, input_pb2, model_pb2, predict_pb2, prediction_log_pb2,
                                     regression_pb2)

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def write_warmup_requests(version_dir, model_name, requests: dict) -> Path:
    """`requests` maps a signature name to its inputs, e.g. `{"serving_default": {"text": ["hi"]}}`;
    the `classify` and `regress` signatures take `{"examples": [{"text": "hi"}]}` (tf.Example features)."""
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests.items():
            spec = model_pb2.ModelSpec(name=model_name, signature_name=signature)
            writer.write(_log(signature, spec, inputs).SerializeToString())
    return path


def _log(signature, spec, inputs):
    if signature in ("classify", "regress"):
        examples = input_pb2.Input(
            example_list=input_pb2.ExampleList(examples=[_example(f) for f in inputs["examples"]]))
        if signature == "classify":
            return prediction_log_pb2.PredictionLog(classify_log=prediction_log_pb2.ClassifyLog(
                request=classification_pb2.ClassificationRequest(model_spec=spec, input=examples)))
        return prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(
            request=regression_pb2.RegressionRequest(model_spec=spec, input=examples)))
    request = predict_pb2.PredictRequest(model_spec=spec)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))


def _example(features: dict) -> tf.train.Example:
    """A tf.Example of UTF-8 string features."""
    return tf.train.Example(features=tf.train.Features(feature={
        key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value.encode("utf-8")]))
        for key, value in features.items()}))


def read_warmup_requests(version_dir) -> list:
    """The PredictionLog records of an export, parsed (for checks and tests)."""
    logs = []
    for record in tf.data.TFRecordDataset(str(Path(version_dir) / WARMUP_FILE)):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs
