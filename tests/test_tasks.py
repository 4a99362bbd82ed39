"""Task models train on real text samples, and their losses count what they claim to."""

from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo import data
from kzoo.tasks import CausalLM, Classifier, MaskedLMPretrainer
from kzoo.text import SPECIAL_TOKENS, TextPairEncoder, learn_wordpiece_vocabulary, load_wordpiece
from kzoo.training import make_optimizer

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tokenizer():
    return load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 1500))


def _tiny_encoder(tokenizer, **overrides):
    keras.utils.set_random_seed(0)
    return kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=64, **overrides)


def _mlm_batches(tokenizer, epochs=None):
    documents = data.tokenize_documents(data.read_documents(DATA / "wikitext2_sample.txt"), tokenizer)
    ids = tokenizer.token_to_id
    examples = data.make_nsp_examples(documents, 64, ids("[CLS]"), ids("[SEP]"))
    masking = data.MaskingConfig(tokenizer.vocabulary_size(), ids("[MASK]"),
                                 tuple(ids(t) for t in SPECIAL_TOKENS), max_predictions=10)
    return data.mlm_nsp_batches(examples, masking, 16, epochs=epochs)


def test_pretraining_lowers_mlm_and_nsp_loss_on_real_text(tokenizer):
    model = MaskedLMPretrainer(_tiny_encoder(tokenizer))
    model.compile(optimizer=make_optimizer(2e-3, total_steps=150, warmup_steps=10))
    history = model.fit(_mlm_batches(tokenizer), steps_per_epoch=50, epochs=3, verbose=0).history
    assert history["mlm_loss"][-1] < history["mlm_loss"][0] - 0.5
    assert history["nsp_loss"][-1] < history["nsp_loss"][0] - 0.02
    assert history["mlm_perplexity"][-1] == pytest.approx(np.exp(history["mlm_loss"][-1]), rel=0.05)


def test_mlm_loss_ignores_unmasked_positions(tokenizer):
    model = MaskedLMPretrainer(_tiny_encoder(tokenizer))
    model.compile()
    x, y, w = next(iter(_mlm_batches(tokenizer)))
    y = {k: np.asarray(v) for k, v in y.items()}
    w = {k: np.asarray(v) for k, v in w.items()}
    base = model.evaluate(x, y, sample_weight=w, verbose=0, return_dict=True)["mlm_loss"]
    perturbed = {**y, "mlm": np.where(w["mlm"] > 0, y["mlm"], (y["mlm"] + 7) % 100)}
    assert model.evaluate(x, perturbed, sample_weight=w, verbose=0, return_dict=True)["mlm_loss"] == base
    changed = {**y, "mlm": (y["mlm"] + 7) % 100}
    assert model.evaluate(x, changed, sample_weight=w, verbose=0, return_dict=True)["mlm_loss"] != base


def test_mlm_head_projects_only_the_masked_positions(tokenizer):
    model = MaskedLMPretrainer(_tiny_encoder(tokenizer))
    x, _, _ = next(iter(_mlm_batches(tokenizer)))
    assert model(x)["mlm"].shape == (16, 10, tokenizer.vocabulary_size())


@pytest.mark.parametrize("norm_placement", ["post", "pre"])
def test_mlm_and_nsp_outputs_equal_the_full_encoders_at_their_positions(tokenizer, norm_placement):
    # the pretrainer's last block computes only the masked rows and the first: nothing else may change
    model = MaskedLMPretrainer(_tiny_encoder(tokenizer, norm_placement=norm_placement))
    x, _, _ = next(iter(_mlm_batches(tokenizer)))
    assert 0 < np.mean(x["padding_mask"]) < 1  # real padding in the batch
    full = model.backbone({k: x[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    outputs = model(x)
    np.testing.assert_allclose(outputs["mlm"], model.mlm_head(full["sequence_output"],
                                                              mask_positions=x["mask_positions"]), atol=1e-5)
    np.testing.assert_allclose(outputs["nsp"], model.nsp_head(full["pooled_output"]), atol=1e-6)


def test_causal_lm_learns_real_text(tokenizer):
    documents = data.read_documents(DATA / "wikitext2_sample.txt")
    windows = data.causal_lm_windows(documents, tokenizer, 32, tokenizer.token_to_id("[SEP]"))
    keras.utils.set_random_seed(0)
    lm = CausalLM(kzoo.build_decoder("gpt2_small", vocab_size=tokenizer.vocabulary_size(), num_layers=2,
                                     hidden_size=64, num_heads=2, intermediate_size=128, max_positions=32))
    lm.compile(optimizer=make_optimizer(3e-3))
    history = lm.fit(data.causal_lm_batches(windows.cache(), 16).repeat(), steps_per_epoch=40, epochs=3,
                     verbose=0).history
    assert history["perplexity"][-1] < 0.75 * history["perplexity"][0]
    assert history["perplexity"][-1] < tokenizer.vocabulary_size() / 3  # uniform guessing scores the vocabulary size


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_classifier_fits_real_sst2_sample(tokenizer, family):
    table = data.read_classification(DATA / "sst2_sample.tsv")
    encode = TextPairEncoder(tokenizer, 32)
    if family == "encoder":
        backbone = _tiny_encoder(tokenizer)
    else:
        keras.utils.set_random_seed(0)
        backbone = kzoo.build_decoder("gpt2_small", vocab_size=tokenizer.vocabulary_size(), num_layers=2,
                                      hidden_size=64, num_heads=2, intermediate_size=128, max_positions=64)
    classifier = Classifier(backbone, num_classes=2)
    # At 2e-3 the tiny encoder's loss climbed back up on some seeds; 1e-3 fit every seed tried (4).
    classifier.compile(optimizer=make_optimizer(1e-3))
    batches = data.classification_batches(table, encode, 32, input_names=list(classifier.input))
    history = classifier.fit(batches, epochs=8, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.2
    assert history["accuracy"][-1] > 0.75  # chance is 0.5 (the sample is 55% negative)


def test_regression_head_fits_scores(tokenizer):
    backbone = _tiny_encoder(tokenizer)
    regressor = Classifier(backbone, num_classes=1)
    regressor.compile(optimizer=make_optimizer(1e-3))
    encode = TextPairEncoder(tokenizer, 16)
    texts = ["a good film", "a bad film", "good good", "bad bad"] * 8
    scores = np.array([4.0, 1.0, 5.0, 0.0] * 8, "float32")
    x = {k: np.asarray(v) for k, v in encode(np.array(texts)).items()}
    history = regressor.fit(x, scores, epochs=40, verbose=0).history
    assert history["mse"][-1] < 0.2 * history["mse"][0]


def test_multiple_choice_picks_the_right_ending_of_real_sst2_phrases(tokenizer, tmp_path):
    """SST-2 as a two-way choice: "<phrase>" + "it was bad ." vs "it was good ."."""
    from kzoo.tasks import MultipleChoice
    table = data.read_classification(DATA / "sst2_sample.tsv")
    texts = table["text"]
    answers = np.asarray(table["label"], "int32")
    x = data.encode_choices(TextPairEncoder(tokenizer, 32), texts, [["it was bad .", "it was good ."]] * len(texts))
    assert x["token_ids"].shape == (400, 2, 32)
    context = np.where((x["segment_ids"] == 0) & (x["padding_mask"] == 1), x["token_ids"], -1)
    untruncated = (x["padding_mask"][:, :, -1] == 0).all(axis=1)  # long phrases lose context tokens, per choice
    assert untruncated.sum() > 100 and (context[untruncated, 0] == context[untruncated, 1]).all()
    assert not (x["token_ids"][:, 0] == x["token_ids"][:, 1]).all(axis=1).any()
    model = MultipleChoice(_tiny_encoder(tokenizer, dropout=0.0), num_choices=2, dropout=0.0)
    model.compile(optimizer=make_optimizer(1e-3))
    history = model.fit(x, answers, batch_size=32, epochs=12, verbose=0).history
    assert history["loss"][-1] < history["loss"][0] - 0.2
    assert history["accuracy"][-1] > 0.75  # chance is 0.5
    model.save(tmp_path / "mc.keras")
    loaded = keras.saving.load_model(tmp_path / "mc.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    with pytest.raises(ValueError, match="same number of choices"):
        data.encode_choices(TextPairEncoder(tokenizer, 32), ["a", "b"], [["x", "y"], ["z"]])
