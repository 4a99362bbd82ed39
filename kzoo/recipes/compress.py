"""`kzoo quantize` and `kzoo prune`: a run directory in, a compressed run directory out, which
`kzoo evaluate`, `kzoo generate` and `kzoo export` take like any other."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from kzoo import text
from kzoo.compression import prune_structure, quantize
from kzoo.compression.modes import DEFAULT_BLOCK_SIZE, MODES
from kzoo.compression.quantization import check_request
from kzoo.recipes.finetune import load_run
from kzoo.recipes.run_config import RUN_FILE, load_run_config
from kzoo.training.model_file import MODEL_FILE, save_model_file

QUANTIZATION_FILE = "quantization.json"
PRUNING_FILE = "pruning.json"
# The model fields compression can change, written back into the new run's run.json.
SHAPE_FIELDS = ("num_heads", "num_kv_heads", "head_size", "intermediate_size")


def weight_bytes(model) -> int:
    """Bytes of a model's weights as stored (int4 values pack two to a byte)."""
    return int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights))


def quantize_run(source, output, mode: str, block_size: int = DEFAULT_BLOCK_SIZE) -> dict:
    """Quantizes the model of run directory `source` (`kzoo.compression.quantize`) into a new
    run directory `output` with the same tokenizer and run.json; returns, and writes to
    quantization.json, what was done and the weights' bytes before and after (a source
    model.keras may also hold optimizer state; the quantized one holds none).

    Example:
        >>> quantize_run("runs/sst2", "runs/sst2-int8", "int8")["size_ratio"]
        0.27
    """
    check_request([], mode, block_size)  # before the (slow) load
    task, tokenizer = _load_source(source, output)
    source_bytes = weight_bytes(task)
    layers = quantize(task, mode, block_size)
    report = {
        "mode": mode,
        "description": MODES[mode].description,
        "block_size": block_size if mode == "int4_weights" else None,
        "quantized_layers": len(layers),
    }
    return _write_run(task, tokenizer, source, output, QUANTIZATION_FILE, report, source_bytes)


def prune_run(source, output, heads: int = 0, neurons: int = 0) -> dict:
    """Removes the `heads` least important attention heads and `neurons` feed-forward neurons of
    every block of run directory `source` (`kzoo.compression.prune_structure`) into a new run
    directory `output`; returns, and writes to pruning.json, the new sizes.

    Example:
        >>> prune_run("runs/sst2", "runs/sst2-small", heads=4, neurons=1024)["size_ratio"]
        0.61
    """
    task, tokenizer = _load_source(source, output)
    smaller = prune_structure(task, heads, neurons)
    c = smaller.backbone.config
    report = {
        "heads_removed": heads,
        "neurons_removed": neurons,
        "num_heads": c.num_heads,
        "num_kv_heads": c.kv_heads,
        "intermediate_size": c.intermediate_size,
    }
    return _write_run(smaller, tokenizer, source, output, PRUNING_FILE, report, weight_bytes(task))


def _load_source(source, output):
    source, output = Path(source), Path(output)
    if output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the source run; name a new directory.")
    if (output / MODEL_FILE).exists():
        raise FileExistsError(f"{output} already holds a model; name a new directory.")
    return load_run(source)


def _write_run(task, tokenizer, source, output, record, report, source_bytes) -> dict:
    """Writes the compressed run directory (model, tokenizer, run.json with the new model
    fields) and its record of what was done."""
    source, output = Path(source), Path(output)
    output.mkdir(parents=True, exist_ok=True)
    save_model_file(task, output)
    text.save_tokenizer(tokenizer, output)
    if (source / RUN_FILE).exists():  # its task and columns, for evaluate and export
        run = load_run_config(source / RUN_FILE)
        if run.init_from is None:  # the model section built the model: give it the new shape
            fields = {k: getattr(task.backbone.config, k) for k in SHAPE_FIELDS}
            run = replace(
                run, model=replace(run.model, overrides={**run.model.overrides, **fields})
            )
        replace(run, run_dir=str(output)).save(output)
    report = {
        **report,
        "source": str(source),
        "source_weight_bytes": source_bytes,
        "weight_bytes": weight_bytes(task),
        "model_file_bytes": (output / MODEL_FILE).stat().st_size,
        "size_ratio": round(weight_bytes(task) / source_bytes, 4),
    }
    (output / record).write_text(json.dumps(report, indent=2))
    return report
