"""One call from a trained task to a versioned, raw-text SavedModel that TF Serving loads."""

import shutil
import tempfile
from pathlib import Path

import keras
import tensorflow as tf

from kzoo.export.layout import next_version_dir, publish
from kzoo.export.signatures import SERVING_METHODS
from kzoo.export.task_exports import ExportSettings, endpoints_of, generates
from kzoo.export.warmup import write_warmup_requests
from kzoo.text.record import save_tokenizer


def export_saved_model(
    task,
    tokenizer,
    model_dir,
    sequence_length=None,
    pair=False,
    end_token_id=None,
    precision="float32",
    jit_compile=False,
    warmup_texts=("kzoo warmup request",),
    signatures=None,
) -> Path:
    """Writes `model_dir/<next version>/` with raw-text signatures and warmup requests.

    By task: `Classifier` → `serving_default` (labels and probabilities, or `score`) + `classify`
    (or `regress`) + `embed`; `TokenClassifier` → `serving_default` (entities with character
    offsets) + `embed`; `SpanQA` → `serving_default` (question, context → answer, offsets)
    + `embed`; `MaskedLMPretrainer` → `serving_default` = `fill_mask` + `embed`; `CausalLM` →
    `serving_default` = generate (pass `end_token_id`); an `Encoder` or `Embedder` → `embed`.

    `sequence_length` defaults to the model's `max_positions`; for a generator it is the prompt's
    budget, by default half the positions, and the rest is room for new tokens. `precision` exports
    a copy under that Keras dtype policy ("bfloat16", "mixed_float16", ...; outputs stay float32).
    `jit_compile=True` compiles the model part of each signature with XLA (tokenization stays
    outside: string ops have no XLA kernels). `signatures` (names) writes only those of the task's
    signatures, e.g. `("serving_default",)`; all by default. Returns the version directory.

    Example:
        >>> export_saved_model(classifier, tokenizer, "saved_models/sst2")
        PosixPath('saved_models/sst2/1')
    """
    settings = ExportSettings(
        serving_length(task, sequence_length), pair, jit_compile, end_token_id, tuple(warmup_texts)
    )
    if precision != "float32":
        task = task.with_dtype(precision)
    endpoints = endpoints_of(task, tokenizer, settings)
    if signatures is not None:
        endpoints = endpoints.only(signatures)
    return _write(tokenizer, endpoints, model_dir)


def serving_length(task, requested=None) -> int:
    """The export's sequence length: `requested`, checked against the model's positions, or the
    model's own default. Refuses lengths that would make every request fail."""
    limit = (task.backbone if hasattr(task, "backbone") else task).config.max_positions
    if generates(task):
        if requested is not None and not 1 <= requested < limit:
            raise ValueError(
                f"sequence_length={requested} is invalid for a generator: prompts take at most "
                f"{limit - 1} of the model's {limit} positions, leaving room for new tokens; "
                f"pass a smaller --sequence-length (default {limit // 2})."
            )
        return limit // 2 if requested is None else requested
    if requested is not None and not 2 <= requested <= limit:
        raise ValueError(
            f"sequence_length={requested} is invalid: the model has {limit} positions "
            f"(max_positions), so it must be in [2, {limit}]; pass --sequence-length {limit} "
            "or less."
        )
    return limit if requested is None else requested


def _write(tokenizer, endpoints, model_dir) -> Path:
    """Saves through Keras's `ExportArchive`, which tracks the variables each signature reads. So
    the export restores in TF Serving's session loader (the C++ `LoadSavedModel` path) as well as
    in `tf.saved_model.load`: a `tf.Module` holding the Keras model saves its variables twice and
    restores the copy the signatures do not read (keras-team/keras#20095)."""
    version_dir = next_version_dir(model_dir)
    version_dir.parent.mkdir(parents=True, exist_ok=True)
    archive = keras.export.ExportArchive()
    # Not `archive.track(task)`: the archive saves the variables its endpoints read by itself, and
    # tracking the model too would store every weight a second time (twice the bytes on disk).
    # The tokenizer's lookup tables, if any. A keras_hub tokenizer is a layer that is never built,
    # which `track` refuses; held by a tf.Module it is walked for its resources.
    holder = tf.Module()
    holder.tokenizer = tokenizer
    archive.track(holder)
    for name, function in endpoints.signatures.items():
        archive.add_endpoint(
            name, function.python_function, input_signature=function.input_signature
        )
    staging = Path(tempfile.mkdtemp(dir=version_dir.parent, prefix=f".{version_dir.name}-"))
    try:
        archive.write_out(str(staging), verbose=False)
        # The tokenizer's files and record beside the graph, for people and tools (the graph
        # holds its own copy).
        save_tokenizer(tokenizer, staging / "assets")
        set_serving_methods(
            staging,
            {
                name: SERVING_METHODS[name]
                for name in endpoints.signatures
                if name in SERVING_METHODS
            },
        )
        write_warmup_requests(staging, version_dir.parent.name, endpoints.warmup)
        _readable_by_all(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return publish(staging, version_dir)


def _readable_by_all(directory: Path):
    """mkdtemp makes 0700 folders; a server running as another user must read the version."""
    for path in [directory, *directory.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


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
