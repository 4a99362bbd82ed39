"""Validation quality of each quantization mode of a run, next to float32: JSON on stdout.

    python tools/quantization_quality.py runs/gpt_shakespeare      # after
    kzoo pretrain --config tools/runs/gpt_shakespeare.yaml

Each mode goes through `kzoo quantize`'s own path (`quantize_run` into a temporary run directory,
reloaded from disk), then Keras `evaluate` on the run's held-out batches (the last
`data.validation_fraction` of its documents), so the figure is what a user of that directory gets.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

from kzoo.compression import MODES
from kzoo.recipes import load_run, load_run_config
from kzoo.recipes.pretrain import pretraining_batches
from kzoo.recipes.compress import quantize_run
from kzoo.training.model_file import MODEL_FILE


def evaluate(run_dir, validation) -> dict:
    model, _ = load_run(run_dir)
    start = time.perf_counter()
    metrics = model.evaluate(validation, verbose=0, return_dict=True)
    return {
        **{k: round(float(v), 4) for k, v in metrics.items()},
        "evaluate_s": round(time.perf_counter() - start, 1),
        "model_mb": round((Path(run_dir) / MODEL_FILE).stat().st_size / 1e6, 2),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("run_dir", help="a pretraining run directory (causal_lm or mlm_nsp)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    args = parser.parse_args()
    run = load_run_config(args.run_dir)
    _, tokenizer = load_run(args.run_dir)
    _, validation = pretraining_batches(run, tokenizer)
    report = {"float32": evaluate(args.run_dir, validation)}
    with tempfile.TemporaryDirectory() as scratch:
        for mode in args.modes:
            quantized = Path(scratch) / mode
            quantize_run(args.run_dir, quantized, mode)
            report[mode] = evaluate(quantized, validation)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
