"""NER data and head on real CoNLL-2003 text, and every metric against values worked out by hand."""

from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.data.conll import CONLL_LABELS, align_labels, iob1_to_iob2, read_conll
from kzoo.evaluation import classification_metrics, correlation_metrics, entity_f1, squad_scores
from kzoo.tasks import TokenClassifier
from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def ner_data():
    sentences, tags = read_conll(DATA / "conll2003_sample.txt")
    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "conll2003_sample.txt", 1500, lowercase=False))
    return sentences, tags, tokenizer, align_labels(sentences, tags, tokenizer, 48)


def test_conll_reader_converts_iob1_and_skips_docstart(ner_data):
    sentences, tags, _, _ = ner_data
    assert sentences[0] == ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."]
    assert tags[0] == ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"]
    assert iob1_to_iob2(["I-PER", "I-PER", "B-PER", "O", "I-LOC"]) == ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]


def test_each_word_label_sits_on_its_first_piece(ner_data):
    sentences, tags, tokenizer, arrays = ner_data
    index = {name: i for i, name in enumerate(CONLL_LABELS)}
    checked_pieces = 0
    for row, (words, word_tags) in enumerate(zip(sentences, tags)):
        positions = np.nonzero(arrays["label_weights"][row])[0]
        for position in positions:
            word = arrays["word_index"][row, position]
            assert arrays["labels"][row, position] == index[word_tags[word]]
            first_piece = tokenizer([words[word]])[0][0]
            assert arrays["token_ids"][row, position] == first_piece
        pieces = arrays["padding_mask"][row].sum() - 2
        checked_pieces += pieces - len(positions)  # continuation pieces carry no label
    assert checked_pieces > 0


def test_token_classifier_learns_real_ner(ner_data):
    _, _, tokenizer, arrays = ner_data
    keras.utils.set_random_seed(0)
    ner = TokenClassifier(kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=48),
                          CONLL_LABELS)
    ner.compile(optimizer=keras.optimizers.Adam(5e-4))
    x = {k: arrays[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    history = ner.fit(x, arrays["labels"], sample_weight=arrays["label_weights"], epochs=15, batch_size=16,
                      verbose=0).history
    assert history["loss"][-1] < 0.6 * history["loss"][0]
    majority = (arrays["labels"][arrays["label_weights"] > 0] == 0).mean()  # always predicting "O"
    assert history["accuracy"][-1] > majority


def test_classification_metrics_by_hand():
    # tp=2 fp=1 fn=1 tn=2: precision 2/3, recall 2/3, MCC (4-1)/sqrt(3*3*3*3) = 1/3
    m = classification_metrics([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0])
    assert m["accuracy"] == pytest.approx(4 / 6) and m["f1"] == pytest.approx(2 / 3)
    assert m["mcc"] == pytest.approx(1 / 3)


def test_correlations_by_hand():
    m = correlation_metrics([1, 2, 3, 4], [10, 20, 30, 100])
    assert m["spearman"] == pytest.approx(1.0)
    assert m["pearson"] == pytest.approx(140 / (5 ** 0.5 * 5000 ** 0.5))  # Σdxdy / √(Σdx²·Σdy²) by hand
    assert correlation_metrics([1, 2, 2, 3], [1, 3, 2, 4])["spearman"] == pytest.approx(0.9487, abs=1e-4)


def test_entity_f1_follows_seqeval():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "O"]]
    predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["I-ORG", "O"]]  # I- after O starts an entity (seqeval)
    m = entity_f1(gold, predicted)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert entity_f1([["B-PER", "I-PER"]], [["B-PER", "O"]])["f1"] == 0.0  # partial spans do not count


def test_squad_scores_use_the_official_normalisation():
    assert squad_scores("The Eiffel Tower!", ["eiffel tower"]) == (1.0, 1.0)
    exact, f1 = squad_scores("in the year 1889", ["1889", "the year 1889"])
    assert exact == 0.0 and f1 == pytest.approx(2 * (2 / 3) * 1.0 / (2 / 3 + 1.0))  # vs "year 1889"
