"""Where each weight of a kzoo backbone lives, declared once.

Conversion tables, tensor-parallel sharding, LoRA targets, weight-decay exclusions and
layer-wise learning-rate decay all read these names; no other module spells a weight path.
A path is a Keras variable path: layer names joined by "/", then the weight's own name.

An encoder-decoder's decoder side names its layers as the encoder side does, with `DECODER`
before the first name ("decoder_block_0/cross_attention/query").

Example:
    >>> layer_path("qkv", 3)
    'block_3/attention/qkv'
    >>> layer_path("final_norm", decoder=True)
    'decoder_final_norm'
    >>> block_index("decoder_block_3/attention/qkv/kernel")
    3
"""

import re

from kzoo.layers.norms import NORMS

BLOCK = "block_{index}"
DECODER = "decoder_"
_BLOCK_INDEX = re.compile(r"(?:^|/)(?:decoder_)?block_(\d+)/")

# The layers of a backbone by role: block roles sit under BLOCK, the others at the top.
BLOCK_LAYERS = {
    "qkv": "attention/qkv",
    "attention_output": "attention/output",
    "query_norm": "attention/query_norm",
    "key_norm": "attention/key_norm",
    "attention_norm": "attention_norm",
    "cross_query": "cross_attention/query",
    "cross_key_value": "cross_attention/key_value",
    "cross_output": "cross_attention/output",
    "cross_attention_norm": "cross_attention_norm",
    "ffn_in": "ffn_in",
    "ffn_out": "ffn_out",
    "ffn_norm": "ffn_norm",
}
TOP_LAYERS = {
    "token_embedding": "embedding/token_embedding",
    "position_embedding": "embedding/position_embedding",
    "segment_embedding": "embedding/segment_embedding",
    "embedding_norm": "embedding/norm",
    "relative_embedding": "relative_bias",
    "final_norm": "final_norm",
    "pooler": "pooler",
}
# The weight names inside a layer, by kind (a norm's come from its class).
DENSE = {"weight": "kernel", "bias": "bias"}
TABLE = {"weight": "embeddings", "output": "reverse_embeddings"}

# Megatron-style tensor parallelism: the fused QKV and the feed-forward input projection split
# their output features ("columns") across the model axis; the projections after them split
# their input features ("rows"), so each device's slice stays local until the sum.
TENSOR_PARALLEL = {
    "qkv": "columns",
    "ffn_in": "columns",
    "attention_output": "rows",
    "ffn_out": "rows",
}
# The projections LoRA adapts, by the names `enable_lora(targets=...)` accepts.
LORA_TARGETS = {
    "qkv": "qkv",
    "output": "attention_output",
    "ffn_in": "ffn_in",
    "ffn_out": "ffn_out",
}


def layer_path(role: str, index: int | None = None, decoder: bool = False) -> str:
    """The path of the layer that plays `role` (in block `index` for block roles), on an
    encoder-decoder's decoder side when `decoder`."""
    if role in BLOCK_LAYERS:
        path = f"{BLOCK.format(index=index)}/{BLOCK_LAYERS[role]}"
    else:
        path = TOP_LAYERS[role]
    return DECODER + path if decoder else path


def weight_path(role: str, weight: str = "weight", index: int | None = None, norm=None,
                decoder: bool = False) -> str:
    """The variable path of `weight` ("weight", "bias", or a table's "output") of the layer
    playing `role`; `norm` names the norm kind for norm roles."""
    names = NORMS[norm].PARAMETERS if norm else TABLE if role.endswith("embedding") else DENSE
    return f"{layer_path(role, index, decoder)}/{names[weight]}"


def block_index(path: str) -> int | None:
    """The block a variable path lies in, or None outside the blocks."""
    match = _BLOCK_INDEX.search(path)
    return int(match.group(1)) if match else None


def is_embedding(path: str) -> bool:
    """Whether a variable path lies in the embedding layer."""
    return path.split("/")[0] == TOP_LAYERS["token_embedding"].split("/")[0]


def tensor_parallel_layouts() -> dict:
    """{variable path regex: sharding spec} for kernels and biases split on the "model" axis."""
    layouts, any_block = {}, BLOCK.format(index=r"\d+")
    for role, split in TENSOR_PARALLEL.items():
        path = f"{any_block}/{BLOCK_LAYERS[role]}"
        layouts[f"{path}/{DENSE['weight']}"] = (
            (None, "model") if split == "columns" else ("model", None)
        )
        if split == "columns":
            layouts[f"{path}/{DENSE['bias']}"] = ("model",)
    return layouts


def decay_exclusions(norms=True, biases=True, embeddings=False) -> list[str]:
    """Regexes of variable names (Keras short names) that get no weight decay."""
    names = (
        sorted({n for kind in NORMS.values() for n in kind.PARAMETERS.values()}) if norms else []
    )
    names += [DENSE["bias"]] if biases else []
    names += list(TABLE.values()) if embeddings else []
    return [f"^{name}$" for name in names]
