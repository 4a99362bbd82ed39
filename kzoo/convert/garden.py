"""TF Model Garden BERT encoder checkpoints: `tf.train.Checkpoint(encoder=BertEncoder | BertEncoderV2)`.

An object-based checkpoint keeps every variable's original name (`full_name`) in its object
graph, so kzoo reads it with `tf.train` alone and never imports tf-models-official (Keras 2).
Names are translated to Hugging Face tensor names, so `hf_layout`'s one BERT table loads them.
"""

import re

import numpy as np
from tensorflow.core.protobuf import trackable_object_graph_pb2

OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"

_ROOT = re.compile(r"(?:^|/)(word_embeddings|position_embedding|type_embeddings|embeddings/layer_norm|"
                   r"pooler_transform|transformer/layer_(\d+))/(.+)$")
_EMBEDDINGS = {"word_embeddings": "word_embeddings.weight", "position_embedding": "position_embeddings.weight",
               "type_embeddings": "token_type_embeddings.weight"}
_LAYER_PARTS = {"self_attention/query": "attention.self.query", "self_attention/key": "attention.self.key",
                "self_attention/value": "attention.self.value",
                "self_attention/attention_output": "attention.output.dense",
                "self_attention_layer_norm": "attention.output.LayerNorm", "intermediate": "intermediate.dense",
                "output": "output.dense", "output_layer_norm": "output.LayerNorm"}
_PARAMETERS = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias"}


def is_object_based(reader) -> bool:
    """Whether a `tf.train` checkpoint was written by `tf.train.Checkpoint` (TF2), not a TF1 Saver."""
    return OBJECT_GRAPH_KEY in reader.get_variable_to_shape_map()


def read_encoder(reader) -> tuple[dict, dict]:
    """(config inferred from the shapes, {Hugging Face BertModel name: array}) of the BERT encoder.

    Optimizer slots and heads are skipped; the encoder may sit under any prefix. The
    inferred config stands in for a missing `bert_config.json`; its activation is Model
    Garden's default, GELU with the tanh approximation.
    """
    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor(OBJECT_GRAPH_KEY))
    tensors, heads = {}, None
    for node in graph.nodes:
        for attribute in node.attributes:
            name = hf_name(attribute.full_name)
            if attribute.name != "VARIABLE_VALUE" or not name:
                continue
            value = reader.get_tensor(attribute.checkpoint_key)
            if name.endswith("attention.self.query.weight"):
                heads = value.shape[1]  # (hidden, heads, head_size): the only place the head count shows
            tensors[name] = to_hf_layout(attribute.full_name, value)
    if "bert.embeddings.word_embeddings.weight" not in tensors or heads is None:
        raise ValueError("the checkpoint holds no Model Garden BERT encoder (word_embeddings and "
                         "transformer/layer_N/self_attention variables were not found).")
    vocab_size, hidden = tensors["bert.embeddings.word_embeddings.weight"].shape
    config = {"vocab_size": vocab_size, "hidden_size": hidden, "num_attention_heads": heads,
              "num_hidden_layers": len({k.split(".")[3] for k in tensors if k.startswith("bert.encoder.layer.")}),
              "intermediate_size": tensors["bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
              "max_position_embeddings": tensors["bert.embeddings.position_embeddings.weight"].shape[0],
              "type_vocab_size": tensors["bert.embeddings.token_type_embeddings.weight"].shape[0],
              "hidden_act": "gelu_new"}
    return config, tensors


def hf_name(garden_name: str) -> str | None:
    """The Hugging Face name of a Model Garden encoder variable, or None for anything else."""
    match = _ROOT.search(garden_name)
    if not match:
        return None
    root, layer, rest = match.groups()
    if root in _EMBEDDINGS:
        return f"bert.embeddings.{_EMBEDDINGS[root]}" if rest == "embeddings" else None
    part, _, parameter = rest.rpartition("/")
    if parameter not in _PARAMETERS:
        return None
    if root == "embeddings/layer_norm":
        return f"bert.embeddings.LayerNorm.{_PARAMETERS[parameter]}" if not part else None
    if root == "pooler_transform":
        return f"bert.pooler.dense.{_PARAMETERS[parameter]}" if not part else None
    return f"bert.encoder.layer.{layer}.{_LAYER_PARTS[part]}.{_PARAMETERS[parameter]}" \
        if part in _LAYER_PARTS else None


def to_hf_layout(garden_name: str, value: np.ndarray) -> np.ndarray:
    """Model Garden kernels are (in, out) with attention heads as their own axes; HF's Linear is (out, in)."""
    if garden_name.endswith("/kernel"):
        if "attention_output" in garden_name:
            value = value.reshape(-1, value.shape[-1])  # (heads, head_size, hidden) → (heads·head_size, hidden)
        else:
            value = value.reshape(value.shape[0], -1)  # (hidden, heads, head_size) → (hidden, heads·head_size)
        return np.ascontiguousarray(value.T)
    return value.reshape(-1) if garden_name.endswith("/bias") else value
