"""SQuAD windows, span round trips, the QA head and n-best decoding, on real SQuAD v1.1 questions."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.data.squad import best_spans, make_windows, read_squad
from kzoo.tasks import SpanQA
from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def squad(tmp_path_factory):
    examples = read_squad(DATA / "squad11_sample.json")
    corpus = tmp_path_factory.mktemp("squad") / "text.txt"
    corpus.write_text("\n".join(e["context"] + " " + e["question"] for e in examples))
    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(corpus, 2000))
    return (
        examples,
        tokenizer,
        make_windows(examples, tokenizer, sequence_length=128, doc_stride=48),
    )


def test_gold_spans_round_trip_through_tokens(squad):
    examples, _, windows = squad
    exact = mid_word = 0
    for index, example in enumerate(examples):
        row = np.nonzero((windows["example_index"] == index) & (windows["has_answer"] == 1))[0][0]
        start, end = windows["start_positions"][row], windows["end_positions"][row]
        text = example["context"][
            windows["char_starts"][row, start] : windows["char_ends"][row, end]
        ]
        exact += text == example["answers"][0]
        # The only exceptions: answers that start or end inside a word ("8" in "18"), which no
        # word-piece span can represent; the recovered span then contains the answer.
        mid_word += text != example["answers"][0] and example["answers"][0] in text
    assert exact + mid_word == len(examples)
    assert (
        exact / len(examples) >= 0.95
    )  # 99.5% on the full 5,696 questions; this sample is number-heavy


def test_windows_slide_and_mark_missing_answers(squad):
    examples, _, windows = squad
    assert len(windows["token_ids"]) > len(examples)  # long contexts get several windows
    missing = windows["has_answer"] == 0
    assert missing.any() and (windows["start_positions"][missing] == 0).all()
    assert (windows["segment_ids"][:, 0] == 0).all() and windows["segment_ids"].max() == 1


def test_best_span_decoding_respects_order_and_length():
    windows = {
        "char_starts": np.array([[-1, 0, 4, 10]]),
        "char_ends": np.array([[-1, 3, 9, 15]]),
        "example_index": np.array([0]),
    }
    examples = [{"context": "The quick brown"}]
    start = np.array([[9.0, 1.0, 5.0, 0.0]])  # [CLS] scores highest but is not in the context
    end = np.array([[9.0, 4.0, -1.0, 3.0]])  # end 1 comes before start 2: not allowed
    assert best_spans(start, end, windows, examples) == ["quick brown"]
    assert best_spans(start, end, windows, examples, max_answer_length=1) == ["The"]


def test_qa_head_learns_real_spans(squad):
    examples, tokenizer, windows = squad
    keras.utils.set_random_seed(0)
    qa = SpanQA(
        kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=128)
    )
    qa.compile(optimizer=keras.optimizers.Adam(5e-4))
    x = {k: windows[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    y = {"start": windows["start_positions"], "end": windows["end_positions"]}
    history = qa.fit(x, y, epochs=6, batch_size=16, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 1.0
    assert history["start_accuracy"][-1] > 5 / 128  # chance is about 1 / context length


def test_malformed_squad_files_are_refused_naming_the_question(tmp_path):
    path = tmp_path / "squad.json"
    path.write_text('{"version": "1.1", "articles": []}')
    with pytest.raises(ValueError, match=r"squad.json: no top-level 'data' list"):
        read_squad(path)
    context = "Keras runs on TensorFlow."
    answer = {"text": "TensorFlow", "answer_start": 3}  # 3 points at "as r", not the answer
    qa = {"id": "q7", "question": "On what?", "answers": [answer]}
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}))
    with pytest.raises(
        ValueError,
        match=r"question 'q7': answer_start=3 points at 'as runs on', "
        r"not at the answer 'TensorFlow'.*\(e.g. 14\)",
    ):
        read_squad(path)
    answer["answer_start"] = 14
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [qa]}]}]}))
    assert read_squad(path)[0]["answer_starts"] == [14]
