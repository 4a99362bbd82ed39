"""Clients for a running TF Serving: REST (JSON) and gRPC (tensorflow-serving-api).

Example:
    >>> rest_predict("http://localhost:8501", "sst2", {"text": ["a charming film"]})
    {'labels': ['positive'], 'probabilities': [[0.1, 0.9]], 'label_ids': [1]}
    >>> grpc_predict("localhost:8500", "sst2", {"text": ["a charming film"]})
"""

import json
import urllib.request


def rest_predict(base_url, model, inputs: dict, signature="serving_default", version=None, timeout=30) -> dict:
    """POSTs `{"signature_name", "inputs"}` to `/v1/models/<model>[/versions/<v>]:predict`; returns outputs."""
    path = f"{base_url.rstrip('/')}/v1/models/{model}" + (f"/versions/{version}" if version else "") + ":predict"
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode()
    request = urllib.request.Request(path, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["outputs"]


def grpc_predict(address, model, inputs: dict, signature="serving_default", timeout=30) -> dict:
    """Calls PredictionService.Predict over gRPC; returns numpy arrays by output name."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    with grpc.insecure_channel(address) as channel:
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=timeout)
    return {key: tf.make_ndarray(value) for key, value in response.outputs.items()}
