"""T5 span corruption and BART text infilling on windows of real text (WikiText-2 sample)."""

from pathlib import Path

import numpy as np
import pytest

from kzoo import data
from kzoo.data.denoising import SpanCorruption, TextInfilling, denoising_examples
from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

DATA = Path(__file__).parent / "data"
# Sentinels far above the ~1,500-token vocabulary, so none is a real token here.
SENTINEL, MASK, START, END = 2999, 4, 0, 3


@pytest.fixture(scope="module")
def windows():
    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 1500))
    texts = data.read_documents(DATA / "wikitext2_sample.txt")
    return data.causal_lm_windows(texts, tokenizer, 64, END).map(lambda w: w["token_ids"])


def _pairs(windows, objective, seed=0, count=120):
    examples = denoising_examples(windows.take(count), objective, START, END, seed)
    originals = [w.numpy() for w in windows.take(count)]
    return [(x["encoder_token_ids"].numpy()[:-1], y.numpy()[:-1], original)
            for (x, y, _), original in zip(examples, originals)]


def _runs(flags):
    padded = np.concatenate([[0], flags.astype(int), [0]])
    edges = np.flatnonzero(np.diff(padded))
    return edges[1::2] - edges[::2]


def test_span_corruption_rates_spans_and_sentinels(windows):
    noise, spans = [], []
    for inputs, targets, original in _pairs(windows, SpanCorruption(SENTINEL)):
        sentinels = inputs[inputs > 2000]
        np.testing.assert_array_equal(sentinels, SENTINEL - np.arange(len(sentinels)))
        np.testing.assert_array_equal(targets[targets > 2000], sentinels)
        rebuilt, pieces = [], np.split(targets, np.flatnonzero(targets > 2000))[1:]
        for token in inputs:  # each sentinel stands for the span after it in the target
            rebuilt.extend(pieces.pop(0)[1:] if token > 2000 else [token])
        np.testing.assert_array_equal(rebuilt, original)
        noise.append(1 - (len(inputs) - len(sentinels)) / len(original))
        spans.append((len(targets) - len(sentinels)) / len(sentinels))
    assert 0.13 <= np.mean(noise) <= 0.17
    assert 2.5 <= np.mean(spans) <= 3.5


def test_text_infilling_masks_poisson_spans_and_keeps_the_rest_in_order(windows):
    masked, spans = [], []
    for inputs, targets, original in _pairs(windows, TextInfilling(MASK)):
        np.testing.assert_array_equal(targets, original)
        kept = inputs[inputs != MASK]
        position = 0  # the unmasked tokens are the original's, in order
        for token in kept:
            position = list(original[position:]).index(token) + position + 1
        masked.append(1 - len(kept) / len(original))
        spans += list(_runs(inputs == MASK))
    assert 0.2 <= np.mean(masked) <= 0.32  # 30% drawn; overlapping spans cover less
    assert max(spans) == 1  # each span is a single mask token, never two side by side
    assert (np.array(spans) > 0).all()


@pytest.mark.parametrize("objective", [SpanCorruption(SENTINEL), TextInfilling(MASK)])
def test_the_noise_is_a_function_of_the_seed(windows, objective):
    first, again, other = (_pairs(windows, objective, seed, count=8) for seed in (1, 1, 2))
    assert all((a[0] == b[0]).all() for a, b in zip(first, again))
    assert any(len(a[0]) != len(b[0]) or (a[0] != b[0]).any() for a, b in zip(first, other))


@pytest.mark.parametrize("task, preset", [("span_corruption", "t5_tiny"),
                                          ("denoising", "bart_tiny")])
def test_kzoo_pretrain_trains_an_encoder_decoder_on_each_objective(tmp_path, task, preset):
    """From raw text to a saved Seq2SeqLM; span corruption adds T5's 100 sentinel ids to the
    vocabulary, and the validation loss ends well below a uniform guess's, ln(vocabulary)."""
    import math

    import keras

    from kzoo.recipes.pretrain import SENTINELS, run_pretraining
    from kzoo.recipes.run_config import run_config_from_dict

    run = run_config_from_dict({
        "model": {"preset": preset, "overrides": {"dropout": 0.0}},
        "data": {"task": task, "files": [str(DATA / "wikitext2_sample.txt")],
                 "sequence_length": 32, "vocab_size": 600},
        "training": {"steps": 60, "batch_size": 16, "learning_rate": 3e-3,
                     "checkpoint_every": 60},
        "run_dir": str(tmp_path / task)})
    model, tokenizer, history = run_pretraining(run, verbose=0)
    extra = SENTINELS if task == "span_corruption" else 0
    assert model.backbone.config.vocab_size == tokenizer.vocabulary_size() + extra
    losses = history.history["val_loss"]
    assert losses[-1] < math.log(model.backbone.config.vocab_size) - 0.5, losses
    loaded = keras.saving.load_model(tmp_path / task / "model.keras")
    assert type(loaded).__name__ == "Seq2SeqLM"
