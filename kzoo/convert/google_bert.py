"""Google's BERT checkpoints in: `bert_model.ckpt.*` (+ `bert_config.json`, `vocab.txt`).

Both formats Google publishes: the original TF1 release (name-based, `bert_config.json`
required) and TF Model Garden's TF2 encoders (object-based; see `garden`). Read with
`tf.train.load_checkpoint` (no tf-models-official). Names are translated to Hugging Face
tensor names, so the one BERT layout in `hf_layout` serves every format.
"""

import json
import re
from pathlib import Path

import numpy as np
import tensorflow as tf

from kzoo.convert import garden
from kzoo.convert.hf_families import config_from_hf
from kzoo.convert.hf_layout import bert_pretraining_head_tensors, bert_tensors


def hf_name(tf1_name: str) -> tuple[str, bool]:
    """(Hugging Face name, whether the value must be transposed) for a TF1 BERT variable name."""
    name = re.sub(r"layer_(\d+)", r"layer.\1", tf1_name).replace("/", ".")
    special = {"cls.predictions.output_bias": "cls.predictions.bias",
               "cls.seq_relationship.output_weights": "cls.seq_relationship.weight",
               "cls.seq_relationship.output_bias": "cls.seq_relationship.bias"}
    if name in special:
        return special[name], False
    if name.endswith("_embeddings"):
        return f"{name}.weight", False
    if name.endswith(".kernel"):
        return name[: -len(".kernel")] + ".weight", True  # TF stores (in, out); HF's Linear (out, in)
    return name.replace(".gamma", ".weight").replace(".beta", ".bias"), False


def read_google_checkpoint(directory) -> tuple[dict, dict]:
    """(HF-style config dict, {HF name: array}) from a TF1 or Model Garden BERT checkpoint directory."""
    directory = Path(directory)
    prefix = tf.train.latest_checkpoint(str(directory)) or str(directory / "bert_model.ckpt")
    if not Path(prefix + ".index").exists():
        raise FileNotFoundError(f"{prefix}.index: missing. A Google BERT checkpoint directory holds "
                                f"bert_model.ckpt.index/.data-*, bert_config.json (TF1) and vocab.txt.")
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise ValueError(f"{directory}: cannot read checkpoint {prefix} ({str(error).splitlines()[0]}).") from None
    config_file = directory / "bert_config.json"
    if garden.is_object_based(reader):
        try:
            config, tensors = garden.read_encoder(reader)
        except ValueError as error:
            raise ValueError(f"{prefix}: {error}") from None
    else:
        if not config_file.exists():
            raise FileNotFoundError(f"{config_file}: missing; a TF1 BERT checkpoint needs the bert_config.json "
                                    f"it was released with.")
        tensors = _tf1_tensors(reader)
    if config_file.exists():
        config = json.loads(config_file.read_text())
    return {"model_type": "bert", **config}, tensors


def _tf1_tensors(reader) -> dict:
    tensors = {}
    for name in reader.get_variable_to_shape_map():
        if name.startswith(("bert/", "cls/")) and "adam_" not in name:
            key, transpose = hf_name(name)
            value = reader.get_tensor(name)
            tensors[key] = np.ascontiguousarray(value.T) if transpose else value
    return tensors


def load_google_bert(directory, task=None):
    """An `Encoder` (or `MaskedLMPretrainer` with `task="pretraining"`) and its tokenizer.

    Example:
        >>> encoder, tokenizer = load_google_bert("uncased_L-12_H-768_A-12/")   # TF1 release
        >>> encoder, _ = load_google_bert("garden_bert/")   # tf.train.Checkpoint(encoder=BertEncoderV2)
    """
    import kzoo
    from kzoo.convert.huggingface import _assign, load_tokenizer
    from kzoo.tasks import MaskedLMPretrainer

    hf_config, tensors = read_google_checkpoint(directory)
    config = config_from_hf(hf_config, f"{directory}/bert_config.json")
    model = backbone = kzoo.build_encoder(config)
    layout = bert_tensors(config, "bert.")
    if task == "pretraining":
        model = MaskedLMPretrainer(backbone)
        layout += [t for t in bert_pretraining_head_tensors() if all(k in tensors for k in t.hf_keys)]
    _assign(model, layout, tensors, directory)
    return model, load_tokenizer(directory)
