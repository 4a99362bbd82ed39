"""Clients for a running TF Serving: REST (JSON) and gRPC (tensorflow-serving-api).

Example:
    >>> rest_predict("http://localhost:8501", "sst2", {"text": ["a charming film"]})
    {'labels': ['positive'], 'probabilities': [[0.1, 0.9]], 'label_ids': [1]}
    >>> grpc_predict("localhost:8500", "sst2", {"text": ["a charming film"]})
"""

import json
import urllib.error
import urllib.parse
import urllib.request


class ServingError(ConnectionError):
    """A TF Serving request that failed: the message names the URL and the model."""


def rest_predict(
    base_url, model, inputs: dict, signature="serving_default", version=None, timeout=30
) -> dict:
    """POSTs `{"signature_name", "inputs"}` to `/v1/models/<model>[/versions/<v>]:predict` (names
    URL-encoded); returns outputs. Raises `ServingError` naming the URL and the model when the
    server refuses or cannot be reached."""
    version_path = f"/versions/{urllib.parse.quote(str(version), safe='')}" if version else ""
    name = urllib.parse.quote(model, safe="")
    url = f"{base_url.rstrip('/')}/v1/models/{name}{version_path}:predict"
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())["outputs"]
    except urllib.error.HTTPError as error:
        detail = error.read().decode("utf-8", "replace").strip()
        message = f"{url}: model {model!r} answered HTTP {error.code}: {detail}"
        raise ServingError(message) from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise ServingError(
            f"{url}: cannot reach TF Serving for model {model!r} ({reason}); is "
            "tensorflow_model_server running there (tools/serve.sh)?"
        ) from error


def grpc_predict(address, model, inputs: dict, signature="serving_default", timeout=30) -> dict:
    """Calls PredictionService.Predict over gRPC; returns numpy arrays by output name. Raises
    `ServingError` naming the address and the model when the call fails."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    try:
        with grpc.insecure_channel(address) as channel:
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                request, timeout=timeout
            )
    except grpc.RpcError as error:
        raise ServingError(
            f"{address}: gRPC Predict for model {model!r} failed ({error.code().name}: "
            f"{error.details()}); is tensorflow_model_server serving it there?"
        ) from error
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
