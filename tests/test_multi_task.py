"""Multi-task fine-tuning: SST-2 sentiment and CoNLL NER heads on one encoder, mixed batches."""

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import data
from kzoo.data.conll import CONLL_LABELS, align_labels, read_conll
from kzoo.tasks import Classifier, MultiTask, TokenClassifier
from kzoo.text import TextPairEncoder, learn_wordpiece_vocabulary, load_wordpiece
from kzoo.training import make_optimizer

DATA = Path(__file__).parent / "data"
LENGTH = 32
INPUTS = ("token_ids", "segment_ids", "padding_mask")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    corpus = tmp_path_factory.mktemp("corpus") / "both.txt"
    corpus.write_text((DATA / "sst2_sample.tsv").read_text() + (DATA / "conll2003_sample.txt").read_text())
    return load_wordpiece(learn_wordpiece_vocabulary(corpus, 1500))


def _datasets(tokenizer):
    sentiment = data.classification_batches(data.read_classification(DATA / "sst2_sample.tsv"),
                                            TextPairEncoder(tokenizer, LENGTH), 16)
    sentences, tags = read_conll(DATA / "conll2003_sample.txt")
    arrays = align_labels(sentences, tags, tokenizer, LENGTH)
    ner = tf.data.Dataset.from_tensor_slices(({k: arrays[k] for k in INPUTS}, arrays["labels"],
                                              arrays["label_weights"])).shuffle(1000, seed=0).batch(16)
    return {"sentiment": sentiment, "ner": ner}


def _model(tokenizer):
    keras.utils.set_random_seed(0)
    encoder = kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=LENGTH)
    return MultiTask(encoder, {"sentiment": (Classifier, {"num_classes": 2}),
                               "ner": (TokenClassifier, {"label_names": CONLL_LABELS})})


def test_mixed_batches_follow_the_weights_and_switch_off_other_tasks(tokenizer):
    mixed = data.mix_task_batches(_datasets(tokenizer), {"sentiment": 1.0, "ner": 3.0})
    from_ner = []
    for _, labels, weights in mixed.take(200):
        active = [name for name, w in weights.items() if float(tf.reduce_sum(w)) > 0]
        assert len(active) == 1 and not np.asarray(labels[{"sentiment": "ner", "ner": "sentiment"}[active[0]]]).any()
        from_ner.append(active[0] == "ner")
    assert np.mean(from_ner) == pytest.approx(0.75, abs=0.08)
    with pytest.raises(ValueError, match="one weight per task"):
        data.mix_task_batches(_datasets(tokenizer), {"sentiment": 1.0})


def test_one_encoder_learns_both_tasks_and_saves(tokenizer, tmp_path):
    model = _model(tokenizer)
    heads = sum(len(t.head.weights) for t in model.tasks.values())
    assert len(model.weights) == len(model.backbone.weights) + heads  # the backbone is shared, not copied
    model.compile(optimizer=make_optimizer(2e-3))
    mixed = data.mix_task_batches(_datasets(tokenizer), {"sentiment": 1.0, "ner": 1.0})
    history = model.fit(mixed, steps_per_epoch=60, epochs=4, verbose=0).history
    assert history["sentiment_loss"][-1] < history["sentiment_loss"][0] - 0.1
    assert history["ner_loss"][-1] < 0.5 * history["ner_loss"][0]  # averaged with the zero loss of other batches
    arrays = align_labels(*read_conll(DATA / "conll2003_sample.txt"), tokenizer, LENGTH)
    real = arrays["label_weights"] > 0
    predicted = np.argmax(model.predict({k: arrays[k] for k in INPUTS}, verbose=0)["ner"], -1)
    assert (predicted[real] == arrays["labels"][real]).mean() > (arrays["labels"][real] == 0).mean()  # beats all-O
    model.save(tmp_path / "multi.keras")
    loaded = keras.saving.load_model(tmp_path / "multi.keras")
    x = {k: arrays[k][:8] for k in INPUTS}
    for name in ("sentiment", "ner"):
        np.testing.assert_allclose(loaded.predict(x, verbose=0)[name], model.predict(x, verbose=0)[name], atol=1e-5)
