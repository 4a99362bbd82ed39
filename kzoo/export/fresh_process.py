"""Runs exported signatures in a new Python process that imports only TensorFlow and TF Text.

This is what TF Serving sees: no kzoo, no Keras, no Python tokenizer. Two loaders:
- `"session"`: `tf.compat.v1.saved_model.loader.load` into a `Session`, then `session.run` on the
  signature's tensor names: the C++ `LoadSavedModel` path that TF Serving and `saved_model_cli run`
  use;
- `"object"`: TF2's `tf.saved_model.load`, as Python callers load a model.

Used by the quickstart and the export tests.
"""

import base64
import json
import os
import subprocess
import sys

LOADERS = ("session", "object")

_SCRIPT = r"""
import base64, json, sys
import numpy as np, tensorflow as tf
import tensorflow_text  # noqa: F401  (TF Text ops, as TF Serving links them)

request = json.loads(sys.stdin.read())


def value(v, dtype):
    if isinstance(v, dict):  # bytes that are not UTF-8 travel as base64
        return np.array([base64.b64decode(b) for b in v["b64"]], object)
    return np.array(v, object if dtype == tf.string else dtype.as_numpy_dtype)


def plain(array):
    array = np.asarray(array)
    if array.dtype == object:
        return np.vectorize(lambda s: s.decode("utf-8", "replace"), otypes=[object])(array).tolist()
    return array.tolist()


def one_line(message):
    return " | ".join(line.strip() for line in message.strip().splitlines() if line.strip())[:2000]


def answer(run):
    try:
        return {"outputs": {k: plain(v) for k, v in run().items()}}
    except tf.errors.OpError as error:
        return {"error": f"{type(error).__name__}: {one_line(error.message)}"}
    except UnicodeDecodeError as error:  # TF's message echoes request bytes that are not UTF-8
        message = one_line(error.object.decode("utf-8", "replace"))
        return {"error": f"OpError (code not readable: the message is not UTF-8): {message}"}


def session_calls(calls):
    sessions = {}
    for call in calls:
        if call["path"] not in sessions:
            session = tf.compat.v1.Session(graph=tf.Graph())
            meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], call["path"])
            sessions[call["path"]] = session, meta_graph
        session, meta_graph = sessions[call["path"]]
        signature = meta_graph.signature_def[call["signature"]]
        feed = {signature.inputs[k].name: value(v, tf.as_dtype(signature.inputs[k].dtype))
                for k, v in call["inputs"].items()}
        fetch = {k: t.name for k, t in signature.outputs.items()}
        yield answer(lambda: session.run(fetch, feed))


def object_calls(calls):
    loaded = {}
    for call in calls:
        if call["path"] not in loaded:
            loaded[call["path"]] = tf.saved_model.load(call["path"])
        function = loaded[call["path"]].signatures[call["signature"]]
        specs = function.structured_input_signature[1]
        inputs = {k: tf.constant(value(v, specs[k].dtype), specs[k].dtype)
                  for k, v in call["inputs"].items()}
        yield answer(lambda: {k: t.numpy() for k, t in function(**inputs).items()})


runs = {"session": session_calls, "object": object_calls}
replies = {loader: list(runs[loader](request["calls"])) for loader in request["loaders"]}
forbidden = sorted(m for m in ("kzoo", "keras_hub") if m in sys.modules)
print(json.dumps({"replies": replies, "imported": forbidden}))
"""


def _wire(value):
    """A request value as JSON: lists holding bytes go as base64 (they need not be UTF-8)."""
    if isinstance(value, bytes):  # a scalar string input
        return value.decode("utf-8")
    if isinstance(value, list) and any(isinstance(v, bytes) for v in value):
        return {
            "b64": [
                base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode() for v in value
            ]
        }
    return value


def call_in_fresh_process(version_dir, calls: list, loaders=("session",), timeout=900) -> dict:
    """Runs `calls` (`{"signature": name, "inputs": {name: list}}` each, and optionally `"path"`:
    another version directory than `version_dir`), in order, through each of `loaders` in one
    clean interpreter. Returns `{loader: replies}`, a reply being `{"outputs": {...}}` or
    `{"error": "InvalidArgumentError: ..."}`. A request that crashes or hangs the process raises
    RuntimeError.

    Example:
        >>> request = {"signature": "serving_default", "inputs": {"text": ["a charming film"]}}
        >>> call_in_fresh_process("saved_models/sst2/1", [request])
        {'session': [{'outputs': {'labels': ['positive'], ...}}]}
    """
    unknown = sorted(set(loaders) - set(LOADERS))
    if unknown:
        raise ValueError(f"loaders {unknown} are invalid: expected some of {LOADERS}.")
    calls = [
        {
            "signature": c["signature"],
            "path": str(c.get("path", version_dir)),
            "inputs": {k: _wire(v) for k, v in c["inputs"].items()},
        }
        for c in calls
    ]
    request = json.dumps({"calls": calls, "loaders": list(loaders)})
    try:
        result = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=request,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        )
    except subprocess.TimeoutExpired as error:
        raise RuntimeError(
            f"serving {version_dir} in a fresh process hung for {timeout} s"
        ) from error
    if result.returncode:
        raise RuntimeError(
            f"serving {version_dir} in a fresh process ({', '.join(loaders)}) failed with "
            f"exit code {result.returncode}:\n{result.stderr[-3000:]}"
        )
    reply = json.loads(result.stdout.strip().splitlines()[-1])
    if reply["imported"]:
        raise RuntimeError(
            f"the fresh process imported {reply['imported']}; the export must not need them."
        )
    return reply["replies"]


def predict_in_fresh_process(
    version_dir, inputs: dict, signature="serving_default", loader="session"
) -> dict:
    """Calls `signature` of the SavedModel at `version_dir` in a clean interpreter through `loader`;
    returns its outputs, or raises RuntimeError with the model's refusal."""
    (reply,) = call_in_fresh_process(
        version_dir, [{"signature": signature, "inputs": inputs}], (loader,)
    )[loader]
    if "error" in reply:
        raise RuntimeError(f"{version_dir} refused the request: {reply['error']}")
    return reply["outputs"]


def warmup_calls(version_dir) -> list:
    """The export's warmup records as calls, fed the way TF Serving feeds them: Predict inputs as
    they are, Classify/Regress examples serialized into the signature's `inputs`."""
    import tensorflow as tf

    from kzoo.export.warmup import read_warmup_requests

    calls = []
    for log in read_warmup_requests(version_dir):
        kind = log.WhichOneof("log_type")
        request = getattr(log, kind).request
        if kind == "predict_log":
            inputs = {k: tf.make_ndarray(v).tolist() for k, v in request.inputs.items()}
        else:
            inputs = {
                "inputs": [e.SerializeToString() for e in request.input.example_list.examples]
            }
        calls.append(
            {
                "signature": request.model_spec.signature_name,
                "inputs": inputs,
                "path": str(version_dir),
            }
        )
    return calls


def replay_warmup_in_fresh_process(version_dir, loaders=("session",), extra_calls=()) -> dict:
    """Replays every warmup record, then `extra_calls`, through each of `loaders`, as TF Serving
    replays warmup when it loads a model. Raises RuntimeError naming the first warmup record that
    fails; returns `{loader: replies}` (warmup replies first)."""
    calls = warmup_calls(version_dir)
    replies = call_in_fresh_process(version_dir, calls + list(extra_calls), loaders)
    for loader, answers in replies.items():
        for call, reply in zip(calls, answers):
            if "error" in reply:
                raise RuntimeError(
                    f"{version_dir}: warmup request for {call['signature']!r} failed in the "
                    f"{loader} loader: {reply['error']}"
                )
    return replies
