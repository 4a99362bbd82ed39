"""`kzoo quantize`: a run directory in, a quantized run directory out, which `kzoo evaluate`,
`kzoo generate` and `kzoo export` take like any other."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from kzoo import text
from kzoo.compression import quantize
from kzoo.compression.modes import DEFAULT_BLOCK_SIZE, MODES
from kzoo.compression.quantization import check_request
from kzoo.recipes.finetune import load_run
from kzoo.recipes.run_config import RUN_FILE, load_run_config
from kzoo.training.model_file import MODEL_FILE, save_model_file

QUANTIZATION_FILE = "quantization.json"


def weight_bytes(model) -> int:
    """Bytes of a model's weights as stored (int4 values pack two to a byte)."""
    return int(sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in model.weights))


def quantize_run(
    source, output, mode: str, block_size: int = DEFAULT_BLOCK_SIZE, precision="float32"
) -> dict:
    """Quantizes the model of run directory `source` (`kzoo.compression.quantize`) into a new
    run directory `output` with the same tokenizer and run.json; returns, and writes to
    quantization.json, what was done and the weights' bytes before and after (a source
    model.keras may also hold optimizer state; the quantized one holds none).

    `precision` ("float32", "bfloat16") is the dtype policy of what stays in float.

    Example:
        >>> quantize_run("runs/sst2", "runs/sst2-int8", "int8")["size_ratio"]
        0.27
    """
    check_request([], mode, block_size)  # before the (slow) load
    source, output = Path(source), Path(output)
    if output.resolve() == source.resolve():
        raise ValueError(f"--output {output} is the source run; name a new directory.")
    if (output / MODEL_FILE).exists():
        raise FileExistsError(f"{output} already holds a model; name a new directory.")
    task, tokenizer = load_run(source)
    if precision != "float32":
        task = task.with_dtype(precision)
    source_bytes = weight_bytes(task)
    layers = quantize(task, mode, block_size)
    output.mkdir(parents=True, exist_ok=True)
    save_model_file(task, output)
    text.save_tokenizer(tokenizer, output)
    if (source / RUN_FILE).exists():  # its task and columns, for evaluate and export
        replace(load_run_config(source / RUN_FILE), run_dir=str(output)).save(output)
    report = {
        "mode": mode,
        "description": MODES[mode].description,
        "block_size": block_size if mode == "int4_weights" else None,
        "precision": precision,
        "source": str(source),
        "quantized_layers": len(layers),
        "source_weight_bytes": source_bytes,
        "weight_bytes": weight_bytes(task),
        "model_file_bytes": (output / MODEL_FILE).stat().st_size,
    }
    report["size_ratio"] = round(report["weight_bytes"] / source_bytes, 4)
    (output / QUANTIZATION_FILE).write_text(json.dumps(report, indent=2))
    return report
