"""Entity and QA signatures: spans of the request text, checked against a plain-Python decoding
of the same Keras model's logits (seqeval grouping, brute-force best span)."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.data.conll import CONLL_LABELS
from kzoo.data.squad import context_words
from kzoo.evaluation.metrics import entities
from kzoo.export import check_serving_ops, export_saved_model, predict_in_fresh_process
from kzoo.tasks import SpanQA, TokenClassifier
from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

DATA = Path(__file__).parent / "data"
LENGTH = 32
SENTENCES = [
    "EU rejects German call to boycott British lamb .",
    "Peter Blackburn , Zürich 東京 naïve",
    "",
    "word " * 40,
]


@pytest.fixture(scope="module")
def tokenizer():
    return load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 800))


def _encoder(tokenizer):
    keras.utils.set_random_seed(1)
    return kzoo.build_encoder(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=LENGTH
    )


def _word_pieces(tokenizer, text):
    words = context_words(text)
    return words, [list(map(int, tokenizer([w])[0])) for w, _, _ in words]


def _inputs(tokenizer, segments):
    ids = [tokenizer.token_to_id("[CLS]")]
    segment_ids = []
    for i, segment in enumerate(segments):
        ids += segment + [tokenizer.token_to_id("[SEP]")]
        segment_ids += [i] * (len(ids) - len(segment_ids))
    pad = LENGTH - len(ids)
    return {
        "token_ids": np.array([ids + [0] * pad], "int32"),
        "segment_ids": np.array([segment_ids + [0] * pad]),
        "padding_mask": np.array([[1] * len(ids) + [0] * pad], "int32"),
    }


def expected_entities(model, tokenizer, text):
    words, pieces = _word_pieces(tokenizer, text)
    flat = [p for word in pieces for p in word][: LENGTH - 2]
    predicted = np.argmax(model(_inputs(tokenizer, [flat]))[0], -1)
    tags, position = [], 1
    for word in pieces:
        if position > len(flat):
            break
        tags.append(CONLL_LABELS[predicted[position]])
        position += len(word)
    return sorted(
        (kind, words[start][1], words[end - 1][2]) for kind, start, end in entities(tags)
    )


@pytest.fixture(scope="module")
def ner(tokenizer, tmp_path_factory):
    model = TokenClassifier(_encoder(tokenizer), label_names=CONLL_LABELS)
    return model, export_saved_model(
        model, tokenizer, tmp_path_factory.mktemp("ner") / "ner", sequence_length=LENGTH
    )


@pytest.fixture(scope="module")
def qa(tokenizer, tmp_path_factory):
    model = SpanQA(_encoder(tokenizer))
    return model, export_saved_model(
        model, tokenizer, tmp_path_factory.mktemp("qa") / "qa", sequence_length=LENGTH
    )


def test_token_classifier_signature_returns_entities_with_character_offsets(tokenizer, ner):
    model, version = ner
    check_serving_ops(version)
    outputs = predict_in_fresh_process(version, {"text": SENTENCES})
    found = 0
    for row, text in enumerate(SENTENCES):
        got = sorted(
            (label, start, end)
            for label, start, end in zip(
                outputs["entity_labels"][row],
                outputs["entity_starts"][row],
                outputs["entity_ends"][row],
            )
            if label
        )
        assert got == expected_entities(model, tokenizer, text), text
        for label, start, end, span in zip(
            *(
                outputs[k][row]
                for k in ("entity_labels", "entity_starts", "entity_ends", "entity_texts")
            )
        ):
            assert span == (text[start:end] if label else "")
        found += len(got)
    assert found >= 4  # random weights label plenty of words, so grouping is exercised


def expected_answer(model, tokenizer, question, context, max_answer_length=30):
    question_ids = list(map(int, tokenizer([question])[0]))[: LENGTH // 2]
    words, pieces = _word_pieces(tokenizer, context)
    flat = [p for word in pieces for p in word][: LENGTH - 3 - len(question_ids)]
    word_of = [w for w, word in enumerate(pieces) for _ in word][: len(flat)]
    logits = model(_inputs(tokenizer, [question_ids, flat]))
    offset = len(question_ids) + 2

    def probabilities(x):
        x = np.asarray(x[0], "float64")[offset : offset + len(flat)]
        return np.exp(x - x.max()) / np.exp(x - x.max()).sum()

    start, end = probabilities(logits["start"]), probabilities(logits["end"])
    score, s, e = max(
        (start[s] * end[e], s, e)
        for s in range(len(flat))
        for e in range(s, min(len(flat), s + max_answer_length))
    )
    begin, finish = words[word_of[s]][1], words[word_of[e]][2]
    return context[begin:finish], begin, finish, score


def test_question_answering_signature_returns_the_best_span(tokenizer, qa):
    model, version = qa
    questions = ["Who rejected the call?", "Where?", "What is long?"]
    contexts = [
        "The EU rejected Germany's call to boycott British lamb.",
        "Zürich 東京 is naïve , said Peter .",
        "word " * 40,
    ]
    outputs = predict_in_fresh_process(version, {"question": questions, "context": contexts})
    for i, (question, context) in enumerate(zip(questions, contexts)):
        answer, start, end, score = expected_answer(model, tokenizer, question, context)
        assert (outputs["answer"][i], outputs["start"][i], outputs["end"][i]) == (
            answer,
            start,
            end,
        )
        np.testing.assert_allclose(outputs["score"][i], score, rtol=1e-4)
    empty = tf.saved_model.load(str(version)).signatures["serving_default"](
        question=tf.constant(["why?"]), context=tf.constant([""])
    )
    assert (
        empty["answer"].numpy().tolist() == [b""]
        and int(empty["start"][0]) == -1
        and float(empty["score"][0]) == 0
    )


def test_span_signatures_answer_an_empty_batch(ner, qa):
    out = tf.saved_model.load(str(ner[1])).signatures["serving_default"](
        text=tf.constant([], tf.string)
    )
    assert out["entity_labels"].shape[0] == 0
    out = tf.saved_model.load(str(qa[1])).signatures["serving_default"](
        question=tf.constant([], tf.string), context=tf.constant([], tf.string)
    )
    assert out["answer"].shape == (0,)
