"""Standard metrics on predictions (numpy): classification, correlation, NER entities, SQuAD answers."""

import collections
import re
import string

import numpy as np


def classification_metrics(labels, predictions, positive=1) -> dict:
    """Accuracy, precision, recall and F1 of the `positive` class, and Matthews correlation."""
    y, p = np.asarray(labels), np.asarray(predictions)
    tp = float(np.sum((p == positive) & (y == positive)))
    fp = float(np.sum((p == positive) & (y != positive)))
    fn = float(np.sum((p != positive) & (y == positive)))
    tn = float(np.sum((p != positive) & (y != positive)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    denominator = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    mcc = (tp * tn - fp * fn) / denominator if denominator else 0.0
    return {"accuracy": float(np.mean(y == p)), "precision": precision, "recall": recall, "f1": f1, "mcc": mcc}


def correlation_metrics(labels, predictions) -> dict:
    """Pearson and Spearman correlation (regression, STS-B style); ties get average ranks."""
    y, p = np.asarray(labels, float), np.asarray(predictions, float)

    def ranks(values):
        order = np.argsort(values, kind="mergesort")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(len(values))
        for value in np.unique(values):  # average ranks over ties
            ranked[values == value] = ranked[values == value].mean()
        return ranked

    return {"pearson": float(np.corrcoef(y, p)[0, 1]), "spearman": float(np.corrcoef(ranks(y), ranks(p))[0, 1])}


def entities(tags) -> set:
    """(type, start, end) spans of IOB2 tags, as seqeval reads them: an I- after O or another
    type starts a new entity."""
    spans, start, kind = set(), None, None
    for i, tag in enumerate(list(tags) + ["O"]):
        begins = tag.startswith("B-") or (tag.startswith("I-") and tag[2:] != kind)
        if start is not None and (tag == "O" or begins):
            spans.add((kind, start, i))
            start, kind = None, None
        if begins:
            start, kind = i, tag[2:]
    return spans


def entity_f1(gold_sentences, predicted_sentences) -> dict:
    """Entity-level micro precision / recall / F1 over sentences of IOB2 tags (seqeval semantics)."""
    gold = {(s, *e) for s, tags in enumerate(gold_sentences) for e in entities(tags)}
    predicted = {(s, *e) for s, tags in enumerate(predicted_sentences) for e in entities(tags)}
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def normalize_answer(text: str) -> str:
    """SQuAD's official normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def squad_scores(prediction: str, answers) -> tuple[float, float]:
    """(exact match, F1) of one prediction against its gold answers (the max over answers)."""
    def f1(gold):
        predicted_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
        common = sum((collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)).values())
        if not predicted_tokens or not gold_tokens:
            return float(predicted_tokens == gold_tokens)
        if common == 0:
            return 0.0
        precision, recall = common / len(predicted_tokens), common / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    exact = max(float(normalize_answer(prediction) == normalize_answer(a)) for a in answers)
    return exact, max(f1(a) for a in answers)
