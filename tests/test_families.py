"""Model families as rows of components: Llama, Mistral, Qwen2 and Qwen3 against transformers,
grouped-query caches, rotary positions, and the files kzoo 0.1 saved."""

import json
import shutil
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import kzoo
from kzoo.config import ModelConfig
from kzoo.convert import load_huggingface, save_huggingface
from kzoo.convert.hf_families import config_from_hf
from kzoo.generation import GenerationConfig, beam_search, sample_or_greedy
from kzoo.layers import rotary

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_llama_family.npz")
FAMILIES = ("llama", "qwen2", "mistral", "qwen3")


def _prompt():
    return REF["prompt"].astype("int32"), REF["prompt_mask"].astype("int32")


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    lm, _ = load_huggingface(DATA / f"hf_tiny_{request.param}", task="causal_lm")
    return request.param, lm


def test_logits_match_transformers_on_a_left_padded_batch(family):
    name, lm = family
    ids, mask = _prompt()
    logits = np.asarray(lm({"token_ids": ids, "padding_mask": mask}))
    real = mask.astype(bool)
    np.testing.assert_allclose(logits[real], REF[f"{name}_logits"][real], atol=1e-4)


def test_greedy_and_beam_ids_match_transformers(family):
    name, lm = family
    greedy = sample_or_greedy(lm.backbone, *_prompt(), GenerationConfig(max_new_tokens=10))
    np.testing.assert_array_equal(greedy, REF[f"{name}_greedy"])
    config = GenerationConfig(max_new_tokens=8, method="beam", num_beams=3, length_penalty=1.0)
    np.testing.assert_array_equal(
        beam_search(lm.backbone, *_prompt(), config), REF[f"{name}_beam"]
    )


def test_the_compiled_generator_gives_the_reference_ids(family):
    """Batches of an untied head compile with XLA, tied ones with oneDNN: both give HF's ids."""
    from kzoo.generation import Generator

    name, lm = family
    generator = Generator(lm.backbone)
    ids = generator.generate_ids(*_prompt(), max_new_tokens=10)
    np.testing.assert_array_equal(ids, REF[f"{name}_greedy"])
    untied = not lm.backbone.config.tie_embeddings
    assert [plan.xla for _, plan in generator._compiled] == [untied]
    # One row of an untied head is screened: the int8 screen reads its transposed projection.
    row = generator.generate_ids(*(a[1:, 2:] for a in _prompt()), max_new_tokens=10)
    np.testing.assert_array_equal(row[0, 4:], REF[f"{name}_greedy"][1, 6:])
    assert [plan.screened for _, plan in generator._compiled] == [False, True]


def test_a_classifier_on_a_llama_decoder_pools_the_last_real_token():
    """A left- and a right-padded row of the same text get the same logits."""
    from kzoo.tasks import Classifier

    classifier = Classifier(kzoo.build_decoder("llama_tiny"), num_classes=3)
    ids = np.array([[0, 0, 21, 22, 23], [21, 22, 23, 0, 0]], "int32")
    logits = np.asarray(classifier({"token_ids": ids, "padding_mask": (ids > 0).astype("int32")}))
    np.testing.assert_allclose(logits[0], logits[1], atol=1e-5)


def test_each_family_reads_its_components_from_config_json():
    configs = {
        name: config_from_hf(json.loads((DATA / f"hf_tiny_{name}" / "config.json").read_text()))
        for name in FAMILIES
    }
    assert configs["llama"].rope_scaling == "llama3" and configs["llama"].kv_heads == 2
    assert (configs["qwen2"].qkv_bias, configs["qwen2"].output_bias) == (True, False)
    assert not configs["mistral"].tie_embeddings and configs["mistral"].feed_forward == "gated"
    assert configs["qwen3"].qk_norm and configs["qwen3"].attention_head_size == 16


def test_cache_holds_only_key_value_heads_and_equals_the_full_pass(family):
    _, lm = family
    decoder, (ids, mask) = lm.backbone, _prompt()
    cache = decoder.init_cache(2, 8)
    c = decoder.config
    assert cache[0][0].shape == (2 * c.kv_heads, 8, c.attention_head_size)
    assert c.kv_heads < c.num_heads
    full = np.asarray(decoder.logits(decoder({"token_ids": ids, "padding_mask": mask})))
    padded = np.pad(mask, ((0, 0), (0, 2)))
    logits, _, cache = decoder.call_with_cache(ids[:, :4], padded, cache, 0)
    steps = [np.asarray(logits)]
    for position in (4, 5):
        logits, _, cache = decoder.call_with_cache(
            ids[:, position : position + 1], padded, cache, position
        )
        steps.append(np.asarray(logits))
    real = mask.astype(bool)
    np.testing.assert_allclose(np.concatenate(steps, axis=1)[real], full[real], atol=1e-5)


def test_rotary_output_does_not_depend_on_left_padding():
    decoder = kzoo.build_decoder("llama_tiny")
    ids = np.array([[11, 12, 13, 14]], "int32")
    alone = np.asarray(decoder({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    padded_ids = np.concatenate([np.zeros((1, 3), "int32"), ids], axis=1)
    padded_mask = np.concatenate([np.zeros((1, 3), "int32"), np.ones_like(ids)], axis=1)
    padded = np.asarray(decoder({"token_ids": padded_ids, "padding_mask": padded_mask}))
    np.testing.assert_allclose(padded[:, 3:], alone, atol=1e-5)


def test_rotary_scores_depend_only_on_the_distance_and_partial_rotary_keeps_the_rest():
    config = ModelConfig(
        stack="decoder",
        hidden_size=32,
        num_heads=2,
        position_encoding="rotary",
        partial_rotary_factor=0.5,
    )
    speeds = rotary.inverse_frequencies(config)
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(2, 1, 1, 1, 16)).astype("float32")

    def score(i, j):
        rotated_q = rotary.rotate(q, np.array([[i]]), speeds)
        rotated_k = rotary.rotate(k, np.array([[j]]), speeds)
        return float(np.sum(np.asarray(rotated_q) * np.asarray(rotated_k)))

    assert score(7, 3) == pytest.approx(score(24, 20), rel=1e-5)
    assert score(7, 3) != pytest.approx(score(7, 4), rel=1e-3)
    np.testing.assert_array_equal(
        np.asarray(rotary.rotate(q, np.array([[5]]), speeds))[..., 8:], q[..., 8:]
    )


def test_llama3_scaling_slows_only_the_long_wavelengths():
    base = ModelConfig(
        stack="decoder",
        hidden_size=256,
        num_heads=2,
        position_encoding="rotary",
        rope_theta=500000.0,
    )
    scaled = base.replace(rope_scaling="llama3", rope_factor=32.0)
    plain, slowed = rotary.inverse_frequencies(base), rotary.inverse_frequencies(scaled)
    wavelengths = 2 * np.pi / plain
    np.testing.assert_allclose(slowed[wavelengths < 8192 / 4], plain[wavelengths < 8192 / 4])
    np.testing.assert_allclose(slowed[wavelengths > 8192], plain[wavelengths > 8192] / 32)


def test_export_to_transformers_format_round_trips(family, tmp_path):
    name, lm = family
    save_huggingface(lm, tmp_path)
    back, _ = load_huggingface(tmp_path, task="causal_lm")
    assert back.backbone.config == lm.backbone.config
    ids, mask = _prompt()
    np.testing.assert_array_equal(
        np.asarray(back({"token_ids": ids, "padding_mask": mask})),
        np.asarray(lm({"token_ids": ids, "padding_mask": mask})),
    )


def _edited_checkpoint(tmp_path, name="llama", **changes):
    target = tmp_path / name
    shutil.copytree(DATA / f"hf_tiny_{name}", target)
    config = json.loads((target / "config.json").read_text())
    config.update(changes)
    (target / "config.json").write_text(json.dumps(config))
    return target


@pytest.mark.parametrize(
    "changes,message",
    [
        (
            dict(rope_parameters={"rope_type": "yarn", "factor": 4.0, "rope_theta": 1e4}),
            r"rope_scaling.rope_type='yarn' is not supported.*'default', 'linear', 'llama3'",
        ),
        (
            dict(model_type="mistral", sliding_window=4, use_sliding_window=True),
            r"sliding_window=4 is not supported.*whole context",
        ),
        (
            dict(layer_types=["sliding_attention", "full_attention"]),
            r"layer_types=.*full_attention",
        ),
        (dict(hidden_act="gelu_fast"), r"activation 'gelu_fast' has no kzoo equivalent"),
        (dict(model_type="falcon"), r"model_type 'falcon' is not supported.*'llama'"),
        (
            dict(num_key_value_heads=1),
            r"'model.layers.0.self_attn.q_proj.weight' has shape .*"
            r"|'model.layers.0.self_attn.k_proj.weight' has shape",
        ),
    ],
)
def test_unsupported_or_mismatched_config_fields_are_refused_by_name(tmp_path, changes, message):
    with pytest.raises(ValueError, match=message):
        load_huggingface(_edited_checkpoint(tmp_path, **changes))


def test_a_missing_shard_and_integer_weights_are_refused(tmp_path):
    sharded = _edited_checkpoint(tmp_path, "mistral")
    next(sharded.glob("model-00002-*.safetensors")).unlink()
    with pytest.raises(FileNotFoundError, match="a shard listed in model.safetensors.index.json"):
        load_huggingface(sharded)
    from safetensors.numpy import save_file

    from kzoo.convert.safetensors_files import read_safetensors

    target = _edited_checkpoint(tmp_path, "llama")
    tensors = read_safetensors(target / "model.safetensors")
    tensors["model.norm.weight"] = np.ones(32, np.int8)
    save_file(
        {k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(target / "model.safetensors")
    )
    with pytest.raises(ValueError, match="'model.norm.weight' holds int8 values"):
        load_huggingface(target)


def test_a_truncated_safetensors_file_is_named(tmp_path):
    target = _edited_checkpoint(tmp_path, "llama")
    data = (target / "model.safetensors").read_bytes()
    (target / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="model.safetensors: tensor .* runs past the end"):
        load_huggingface(target)


def test_legacy_keras_files_load_with_equal_outputs():
    reference = np.load(DATA / "legacy_v0_1" / "outputs.npz")
    ids, mask = reference["token_ids"], reference["padding_mask"]
    classifier = keras.saving.load_model(DATA / "legacy_v0_1" / "classifier.keras")
    lm = keras.saving.load_model(DATA / "legacy_v0_1" / "causal_lm.keras")
    assert lm.backbone.config.stack == "decoder" and not lm.backbone.config.embedding_norm
    np.testing.assert_array_equal(
        np.asarray(classifier({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": mask})),
        reference["classifier"],
    )
    np.testing.assert_array_equal(
        np.asarray(lm({"token_ids": ids, "padding_mask": mask})), reference["causal_lm"]
    )


def _checkpoint_tokenizer(kind, directory):
    """Tokenizer files as a Hugging Face checkpoint ships them; returns the vocabulary size."""
    from kzoo.text import learn_bpe, learn_sentencepiece, load_sentencepiece

    if kind == "bpe":
        return len(learn_bpe(DATA / "wikitext2_sample.txt", 300, output_dir=directory)[0])
    if kind == "tokenizer.json":  # Llama 3's split, trained by `tokenizers`
        directory.mkdir(parents=True)
        shutil.copy(DATA / "tokenizer_parity" / "llama3" / "tokenizer.json", directory)
        return 1500
    directory.mkdir(parents=True)
    model = learn_sentencepiece(DATA / "wikitext2_sample.txt", 300, directory / "tokenizer.model")
    return load_sentencepiece(model).vocabulary_size()


@pytest.mark.parametrize(
    "kind,end",
    [("bpe", "<|endoftext|>"), ("tokenizer.json", "<|endoftext|>"), ("sentencepiece", "</s>")],
)
def test_a_converted_decoder_generates_and_exports_with_its_own_tokenizer(
    tmp_path, capsys, kind, end
):
    """convert → generate → export on a Llama-style checkpoint with a byte-level BPE or a
    SentencePiece model: the run records its tokenizer, so nothing falls back to WordPiece."""
    from kzoo import cli
    from kzoo.export import predict_in_fresh_process
    from kzoo.tasks import CausalLM
    from kzoo.text import load_tokenizer

    checkpoint = tmp_path / "hf"
    vocabulary_size = _checkpoint_tokenizer(kind, checkpoint)
    lm = CausalLM(kzoo.build_decoder("llama_tiny", vocab_size=vocabulary_size))
    save_huggingface(lm, checkpoint)
    run = tmp_path / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the BPE's GPT-2 split, said for a Llama checkpoint
        assert (
            cli.main(["convert", str(checkpoint), "--output", str(run), "--task", "causal_lm"])
            == 0
        )
    record = json.loads((run / "tokenizer.kzoo.json").read_text())
    tokenizer = load_tokenizer(run)
    assert record["kind"] == {"tokenizer.json": "bpe"}.get(kind, kind)
    assert record["special_ids"]["end_of_text"] == tokenizer.token_to_id(end)
    capsys.readouterr()
    assert (
        cli.main(
            ["generate", "--model", str(run), "--prompt", "The game", "--max-new-tokens", "4"]
        )
        == 0
    )
    assert capsys.readouterr().out.startswith("The game")
    assert (
        cli.main(
            ["export", str(run), "--saved-models", str(tmp_path / "models"), "--name", "llama"]
        )
        == 0
    )
    version = tmp_path / "models" / "llama" / "1"
    exported = load_tokenizer(version / "assets")
    assert exported.get_vocabulary() == tokenizer.get_vocabulary()
    request = dict(
        prompt=["The game"],
        max_new_tokens=4,
        method="greedy",
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
    )
    served = predict_in_fresh_process(version, request)
    in_process = lm.generate(
        ["The game"],
        tokenizer,
        max_new_tokens=4,
        end_token_id=record["special_ids"]["end_of_text"],
    )
    assert "The game" + served["text"][0] == in_process[0]  # the export returns the new text
