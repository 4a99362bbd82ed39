"""Structured pruning: whole attention heads and feed-forward neurons removed from every block.

The result has a smaller config (fewer heads, a smaller intermediate size), so it is a faster
model, not a masked one. The units removed are the least important by weight magnitude:
- a key/value head (with the query heads that share it) by the norm of its value columns times
  that of its query heads' output-projection rows, which bound what it adds to the residual;
- a feed-forward neuron by the norm of its input column(s) times that of its output row.

Example:
    >>> smaller = prune_structure(classifier, heads=2, neurons=256)
    >>> smaller.backbone.config.num_heads, smaller.backbone.config.intermediate_size
    (2, 256)
"""

from dataclasses import dataclass

import numpy as np

from kzoo.models.weights import block_index, weight_path


@dataclass(frozen=True)
class Shape:
    """What the slicing needs from a config: heads, key/value heads, head size, intermediate size
    and whether the feed-forward input holds a gate and a value half."""

    heads: int
    kv_heads: int
    head_size: int
    intermediate: int
    gated: bool

    @property
    def groups(self) -> int:
        return self.heads // self.kv_heads


@dataclass(frozen=True)
class KeptUnits:
    """Per block, the sorted indices of the key/value heads and the neurons that stay."""

    kv_heads: tuple[np.ndarray, ...]
    neurons: tuple[np.ndarray, ...]


def prune_structure(model, heads: int = 0, neurons: int = 0):
    """A copy of `model` (a kzoo task or backbone) with the `heads` least important query heads
    and the `neurons` least important feed-forward neurons removed from every block.

    With grouped-query attention a key/value head goes with all the query heads that share it,
    so `heads` must be a multiple of num_heads / num_kv_heads.
    """
    backbone = getattr(model, "backbone", model)
    shape = _shape(backbone.config)
    _check(backbone, shape, heads, neurons)
    values = {v.path: v.numpy() for v in backbone.weights}
    kept = KeptUnits(
        tuple(
            _top(_head_importance(values, shape, i), shape.kv_heads - heads // shape.groups)
            for i in range(backbone.config.num_layers)
        ),
        tuple(
            _top(_neuron_importance(values, shape, i), shape.intermediate - neurons)
            for i in range(backbone.config.num_layers)
        ),
    )
    config = backbone.config.replace(
        num_heads=shape.heads - heads,
        num_kv_heads=None if shape.heads == shape.kv_heads else len(kept.kv_heads[0]),
        head_size=shape.head_size,
        intermediate_size=shape.intermediate - neurons,
    )
    smaller = type(backbone)(config, name=backbone.name, dtype=backbone.dtype_policy)
    for variable in smaller.weights:
        variable.assign(_sliced(variable.path, values[variable.path], shape, kept))
    return smaller if model is backbone else _with_backbone(model, smaller)


def _shape(config) -> Shape:
    return Shape(
        config.num_heads,
        config.kv_heads,
        config.attention_head_size,
        config.intermediate_size,
        config.feed_forward == "gated",
    )


def _check(backbone, shape, heads, neurons):
    for name, value in (("heads", heads), ("neurons", neurons)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name}={value!r} is invalid: expected an integer >= 0.")
    if backbone.quantized:
        raise ValueError("the model is quantized; prune the float model, then quantize it.")
    if heads >= shape.heads:
        raise ValueError(
            f"heads={heads} would remove every head: each layer has {shape.heads}; remove at "
            f"most {shape.heads - shape.groups}."
        )
    if heads % shape.groups:
        raise ValueError(
            f"heads={heads} is not a multiple of {shape.groups}: with {shape.kv_heads} key/value "
            f"heads, each is shared by {shape.groups} query heads and goes with them."
        )
    if neurons >= shape.intermediate:
        raise ValueError(
            f"neurons={neurons} would remove every feed-forward neuron: each layer has "
            f"{shape.intermediate}; remove at most {shape.intermediate - 1}."
        )


def _top(importance, count) -> np.ndarray:
    return np.sort(np.argsort(-importance, kind="stable")[:count])


def _kernel(values, role, index):
    return values[weight_path(role, "weight", index)]


def _head_importance(values, shape, index) -> np.ndarray:
    size = shape.head_size
    value_columns = _kernel(values, "qkv", index)[:, (shape.heads + shape.kv_heads) * size :]
    value_norms = np.linalg.norm(value_columns.reshape(-1, shape.kv_heads, size), axis=(0, 2))
    output_rows = _kernel(values, "attention_output", index).reshape(
        shape.kv_heads, shape.groups * size, -1
    )
    return value_norms * np.linalg.norm(output_rows, axis=(1, 2))


def _neuron_importance(values, shape, index) -> np.ndarray:
    columns = _kernel(values, "ffn_in", index)
    halves = np.split(columns, 2, axis=-1) if shape.gated else [columns]
    inputs = np.prod([np.linalg.norm(half, axis=0) for half in halves], axis=0)
    return inputs * np.linalg.norm(_kernel(values, "ffn_out", index), axis=1)


def _qkv_columns(shape, kv_heads) -> np.ndarray:
    size, heads = shape.head_size, shape.heads
    query_heads = (kv_heads[:, None] * shape.groups + np.arange(shape.groups)).ravel()
    parts = [
        _features(query_heads, size),
        heads * size + _features(kv_heads, size),
        (heads + shape.kv_heads) * size + _features(kv_heads, size),
    ]
    return np.concatenate(parts)


def _features(heads, size) -> np.ndarray:
    return (heads[:, None] * size + np.arange(size)).ravel()


def _sliced(path, value, shape, kept: KeptUnits) -> np.ndarray:
    """The kept part of one variable; variables outside the four projections are copied."""
    index = block_index(path)
    if index is None:
        return value
    kv_heads, neurons = kept.kv_heads[index], kept.neurons[index]
    query_features = _qkv_columns(shape, kv_heads)[
        : len(kv_heads) * shape.groups * shape.head_size
    ]
    ffn_columns = (
        np.concatenate([neurons, shape.intermediate + neurons]) if shape.gated else neurons
    )
    # Which axis of which variable the removed units index: the last of a projection's kernel and
    # bias into the units ("columns"), the first of the projection out of them ("rows").
    slices = {
        weight_path("qkv", "weight", index): (-1, _qkv_columns(shape, kv_heads)),
        weight_path("qkv", "bias", index): (-1, _qkv_columns(shape, kv_heads)),
        weight_path("attention_output", "weight", index): (0, query_features),
        weight_path("ffn_in", "weight", index): (-1, ffn_columns),
        weight_path("ffn_in", "bias", index): (-1, ffn_columns),
        weight_path("ffn_out", "weight", index): (0, neurons),
    }
    if path not in slices:
        return value
    axis, keep = slices[path]
    return np.take(value, keep, axis=axis)


def _with_backbone(task, backbone):
    """The task rebuilt on `backbone`, with its head's weights."""
    copy = type(task)(backbone, name=task.name, **task.head_config)
    own = {id(v) for v in task.backbone.weights}
    head = [v for v in task.weights if id(v) not in own]
    new_own = {id(v) for v in backbone.weights}
    for old, new in zip(head, [v for v in copy.weights if id(v) not in new_own], strict=True):
        new.assign(old)
    return copy
