"""Encoder-decoders (T5 1.0 and 1.1, BART) against transformers, their cached decoding, the
seq2seq loss, and saving."""

from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.convert import load_huggingface, save_huggingface
from kzoo.generation import GenerationConfig
from kzoo.generation.seq2seq import generate_ids
from kzoo.tasks import Seq2SeqLM
from kzoo.tasks.seq2seq import decoder_inputs

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_encoder_decoder.npz")
# The pad id and the decoder start id of each reference checkpoint.
FAMILIES = {"t5": (0, 0), "t5_v1_1": (0, 0), "bart": (1, 2)}


def _ref(name, key):
    return REF[f"{name}_{key}"].astype("float32" if "states" in key or "logits" in key
                                      else "int32")


def _inputs(name):
    return {"encoder_token_ids": _ref(name, "source"),
            "encoder_padding_mask": _ref(name, "source_mask"),
            "decoder_token_ids": _ref(name, "target"),
            "decoder_padding_mask": _ref(name, "target_mask")}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    model, _ = load_huggingface(DATA / f"hf_tiny_{request.param}", task="seq2seq_lm")
    return request.param, model


def test_encoder_states_and_logits_match_transformers_on_padded_batches(family):
    name, model = family
    out = model.backbone(_inputs(name))
    source, target = (_ref(name, k).astype(bool) for k in ("source_mask", "target_mask"))
    np.testing.assert_allclose(np.asarray(out["encoder_sequence_output"])[source],
                               _ref(name, "encoder_states")[source], atol=1e-4)
    np.testing.assert_allclose(np.asarray(model(_inputs(name)))[target],
                               _ref(name, "logits")[target], atol=1e-4)


def test_greedy_and_beam_ids_match_transformers(family):
    name, model = family
    pad, start = FAMILIES[name]
    source, mask = _ref(name, "source"), _ref(name, "source_mask")
    greedy = generate_ids(model.backbone, source, mask,
                          GenerationConfig(max_new_tokens=10, pad_token_id=pad), start)
    np.testing.assert_array_equal(greedy, _ref(name, "greedy"))
    beam = GenerationConfig(max_new_tokens=8, method="beam", num_beams=3, pad_token_id=pad)
    np.testing.assert_array_equal(generate_ids(model.backbone, source, mask, beam, start),
                                  _ref(name, "beam"))


def test_checkpoints_convert_back_to_the_same_tensors(family, tmp_path):
    from safetensors.numpy import load_file

    name, model = family
    save_huggingface(model, tmp_path)
    original = load_file(DATA / f"hf_tiny_{name}" / "model.safetensors")
    written = load_file(tmp_path / "model.safetensors")
    assert set(written) == set(original) - {"final_logits_bias"}
    for key, value in written.items():
        np.testing.assert_array_equal(value, original[key], err_msg=key)
    again, _ = load_huggingface(tmp_path, task="seq2seq_lm")
    np.testing.assert_array_equal(again(_inputs(name)), model(_inputs(name)))


@pytest.mark.parametrize("preset", ["t5_tiny", "bart_tiny"])
def test_cached_decoding_equals_the_full_forward_pass(preset, rng):
    model = kzoo.build_encoder_decoder(preset, dropout=0.0, attention_dropout=0.0)
    source = rng.integers(3, 1000, size=(2, 9)).astype("int32")
    source_mask = np.ones_like(source)
    source_mask[1, 5:] = 0  # a padded source row
    target = rng.integers(3, 1000, size=(2, 6)).astype("int32")
    full = model.logits(model({
        "encoder_token_ids": source, "encoder_padding_mask": source_mask,
        "decoder_token_ids": target, "decoder_padding_mask": np.ones_like(target),
    })["decoder_sequence_output"])
    decoder = model.decoding(model.encode(source, source_mask), source_mask)
    cache, mask = decoder.init_cache(2, 8), np.ones((2, 8), "int32")
    steps = []
    for start, stop in ((0, 3), (3, 4), (4, 6)):  # a prompt, then single steps
        logits, _, cache = decoder.call_with_cache(target[:, start:stop], mask, cache, start)
        steps.append(np.asarray(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    assert np.abs(np.asarray(full)).max() > 1e-3  # not trivially small


def test_the_loss_ignores_padded_target_positions(rng):
    model = Seq2SeqLM(kzoo.build_encoder_decoder("t5_tiny", dropout=0.0))
    model.compile()
    labels = np.array([[5, 6, 7, 1], [8, 9, 1, 0]], "int32")
    weights = (labels > 0).astype("float32")
    weights[:, 0] = 1.0
    x = {"encoder_token_ids": rng.integers(3, 1000, size=(2, 5)).astype("int32"),
         "encoder_padding_mask": np.ones((2, 5), "int32"),
         "decoder_token_ids": np.asarray(decoder_inputs(labels, start_id=0)),
         "decoder_padding_mask": np.ones((2, 4), "int32")}
    np.testing.assert_array_equal(x["decoder_token_ids"], [[0, 5, 6, 7], [0, 8, 9, 1]])
    logits = np.asarray(model(x)).astype("float64")
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    picked = np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    want = -(picked * weights).sum() / weights.sum()  # the mean over target tokens only
    loss = model.evaluate(x, labels, sample_weight=weights, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    changed = labels.copy()
    changed[1, 3] = 42  # a padded position's label does not count
    again = model.evaluate(x, changed, sample_weight=weights, verbose=0, return_dict=True)
    np.testing.assert_allclose(again["loss"], loss, rtol=1e-6)


def test_an_encoder_decoder_saves_and_reloads(tmp_path, rng):
    model = Seq2SeqLM(kzoo.build_encoder_decoder("bart_tiny", decoder_start_token_id=5))
    x = {"encoder_token_ids": rng.integers(3, 1000, size=(2, 5)).astype("int32"),
         "encoder_padding_mask": np.ones((2, 5), "int32"),
         "decoder_token_ids": rng.integers(3, 1000, size=(2, 4)).astype("int32"),
         "decoder_padding_mask": np.ones((2, 4), "int32")}
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.decoder_start_token_id == 5
    assert loaded.backbone.config == model.backbone.config
    np.testing.assert_array_equal(loaded(x), model(x))


def test_relative_positions_are_refused_outside_encoder_decoders():
    with pytest.raises(ValueError, match="position_encoding='relative'.*encoder-decoders"):
        kzoo.resolve_config("bert_tiny", position_encoding="relative")


def test_a_converted_task_must_fit_its_checkpoint():
    with pytest.raises(ValueError, match="task='causal_lm' does not fit.*task='seq2seq_lm'"):
        load_huggingface(DATA / "hf_tiny_t5", task="causal_lm")


def test_the_compiled_generator_gives_the_reference_ids_for_one_row_and_a_batch(family):
    """A batch runs oneDNN's kernels, one row compiles with XLA (checked on T5, whose relative
    bias is the part XLA could get wrong): both give transformers' ids, from the decoder start
    id the checkpoint's config names."""
    from kzoo.generation.seq2seq import Seq2SeqGenerator

    name, model = family
    pad, start = FAMILIES[name]
    assert model.decoder_start_token_id == start
    generator = Seq2SeqGenerator(model, tokenizer=None, pad_token_id=pad)
    source, mask = _ref(name, "source"), _ref(name, "source_mask")
    np.testing.assert_array_equal(generator.generate_ids(source, mask, max_new_tokens=10),
                                  _ref(name, "greedy"))
    if name == "t5":
        one_row = generator.generate_ids(source[:1], mask[:1], max_new_tokens=10)
        np.testing.assert_array_equal(one_row, _ref(name, "greedy")[:1])
