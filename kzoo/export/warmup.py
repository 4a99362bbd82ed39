"""TF Serving warmup requests: `assets.extra/tf_serving_warmup_requests`, one PredictionLog per signature."""

from pathlib import Path

import tensorflow as tf
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def write_warmup_requests(version_dir, model_name, requests: dict) -> Path:
    """`requests` maps a signature name to its inputs, e.g. `{"serving_default": {"text": ["hi"]}}`."""
    path = Path(version_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature))
            for key, value in inputs.items():
                request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
            log = prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir) -> list:
    """The PredictionLog records of an export, parsed (for checks and tests)."""
    logs = []
    for record in tf.data.TFRecordDataset(str(Path(version_dir) / WARMUP_FILE)):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs
