"""SQuAD v1.1 → question + context windows (doc stride) with answer token spans and character offsets."""

import json
import re
import unicodedata

import numpy as np

from kzoo.data.documents import read_text

# BERT's basic tokenizer splits off every punctuation character and every CJK character.
_WORD = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]|[^\W_]+|[^\w\s]|_")


def read_squad(path, articles=None) -> list[dict]:
    """One dict per question: id, article (its index), question, context, answers (texts),
    answer_starts; `articles` (a range or list of indices) picks articles, e.g. to split by
    article for validation. Every answer must sit at its `answer_start` in the context."""
    data = _squad_articles(path)
    chosen = range(len(data)) if articles is None else articles
    examples = []
    for index in chosen:
        for paragraph in _field(path, data[index], "paragraphs", f"article {index}"):
            context = _field(path, paragraph, "context", f"article {index}")
            for qa in _field(path, paragraph, "qas", f"article {index}"):
                examples.append(_question(path, index, context, qa))
    return examples


def _squad_articles(path) -> list:
    try:
        top = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}, line {error.lineno}: not valid JSON ({error.msg}).") from None
    if not isinstance(top, dict) or not isinstance(top.get("data"), list):
        raise ValueError(
            f"{path}: no top-level 'data' list; a SQuAD v1.1 file is "
            '{"data": [{"paragraphs": [{"context": ..., "qas": [...]}]}]}.'
        )
    return top["data"]


def _field(path, record, key, where):
    if not isinstance(record, dict) or key not in record:
        raise ValueError(f"{path}: {where} has no {key!r}; SQuAD v1.1 records need it.")
    return record[key]


def _question(path, index, context, qa) -> dict:
    qid = _field(path, qa, "id", f"a question of article {index}")
    answers = _field(path, qa, "answers", f"question {qid!r}")
    for answer in answers:
        start, text = answer.get("answer_start"), answer.get("text", "")
        found = context[start : start + len(text)] if isinstance(start, int) else None
        if found != text or not text:
            raise ValueError(
                f"{path}: question {qid!r}: answer_start={start!r} points at {found!r}, not at "
                f"the answer {text!r}; set answer_start to the answer's character offset in "
                f"the context (e.g. {context.find(text) if text else -1})."
            )
    return {
        "id": qid,
        "article": index,
        "question": _field(path, qa, "question", f"question {qid!r}"),
        "context": context,
        "answers": [a["text"] for a in answers],
        "answer_starts": [a["answer_start"] for a in answers],
    }


def context_words(context):
    """Words as BERT's basic tokenizer splits them, with their character spans."""
    return [
        (m.group(), m.start(), m.end())
        for m in _WORD.finditer(unicodedata.normalize("NFC", context))
    ]


def make_windows(
    examples, tokenizer, sequence_length=384, doc_stride=128, max_question_length=64
) -> dict:
    """`[CLS] question [SEP] context window [SEP]` windows, sliding by `doc_stride` tokens.

    Each window has `start_positions`/`end_positions` of the first answer (0 = [CLS] when the
    window does not contain it, also flagged in `has_answer`), `example_index`, and for every
    token its context character span (`char_starts`/`char_ends`, -1 outside the context).
    """
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    rows = []
    for index, example in enumerate(examples):
        question = _ids(tokenizer, [example["question"]])[0][:max_question_length]
        words = context_words(example["context"])
        pieces = _ids(tokenizer, [w for w, _, _ in words]) if words else []
        tokens = [
            (p, start, end)
            for (_, start, end), word_pieces in zip(words, pieces)
            for p in word_pieces
        ]
        answer = _answer_tokens(tokens, example["answer_starts"][0], len(example["answers"][0]))
        budget = sequence_length - len(question) - 3
        for offset in range(0, max(len(tokens) - budget, 0) + doc_stride, doc_stride):
            window = tokens[offset : offset + budget]
            rows.append(_pack(cls, sep, question, window, offset, answer, index, sequence_length))
            if offset + budget >= len(tokens):
                break
    return {key: np.array([row[key] for row in rows]) for key in rows[0]}


def _ids(tokenizer, texts):
    ids = tokenizer(texts)
    return ids.to_list() if hasattr(ids, "to_list") else [list(map(int, x)) for x in ids]


def _answer_tokens(tokens, answer_start, answer_length):
    answer_end = answer_start + answer_length
    inside = [
        i for i, (_, start, end) in enumerate(tokens) if start < answer_end and end > answer_start
    ]
    return (inside[0], inside[-1]) if inside else None


def _pack(cls, sep, question, window, offset, answer, index, length):
    ids = [cls, *question, sep, *(t for t, _, _ in window), sep]
    context_start = len(question) + 2
    row = {
        "token_ids": np.zeros(length, np.int32),
        "segment_ids": np.zeros(length, np.int32),
        "padding_mask": np.zeros(length, np.int32),
        "char_starts": np.full(length, -1, np.int32),
        "char_ends": np.full(length, -1, np.int32),
        "example_index": index,
    }
    row["token_ids"][: len(ids)] = ids
    row["padding_mask"][: len(ids)] = 1
    row["segment_ids"][context_start : len(ids)] = 1
    for i, (_, start, end) in enumerate(window):
        row["char_starts"][context_start + i], row["char_ends"][context_start + i] = start, end
    inside = answer is not None and offset <= answer[0] and answer[1] < offset + len(window)
    row["has_answer"] = int(inside)
    row["start_positions"] = context_start + answer[0] - offset if inside else 0
    row["end_positions"] = context_start + answer[1] - offset if inside else 0
    return row


def best_spans(
    start_logits, end_logits, windows, examples, n_best=20, max_answer_length=30
) -> list[str]:
    """The highest-scoring valid span (start ≤ end, inside the context, at most `max_answer_length`
    tokens) over all windows of each example, as text cut from the context by character offsets."""
    best = {}
    for row in range(len(start_logits)):
        starts = np.argsort(start_logits[row])[::-1][:n_best]
        ends = np.argsort(end_logits[row])[::-1][:n_best]
        for s in starts:
            for e in ends:
                if (
                    windows["char_starts"][row, s] < 0
                    or windows["char_ends"][row, e] < 0
                    or e < s
                    or e - s + 1 > max_answer_length
                ):
                    continue
                score = start_logits[row, s] + end_logits[row, e]
                example = int(windows["example_index"][row])
                if example not in best or score > best[example][0]:
                    best[example] = (
                        score,
                        windows["char_starts"][row, s],
                        windows["char_ends"][row, e],
                    )
    return [
        examples[i]["context"][best[i][1] : best[i][2]] if i in best else ""
        for i in range(len(examples))
    ]
