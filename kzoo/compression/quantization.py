"""Post-training quantization of kzoo models, through Keras's own `Model.quantize`.

Keras's quantized `Dense` and `ReversibleEmbedding` do the work (int8 per channel, int4 in blocks
with a scale and zero point per block); this module picks a configuration per layer kind, checks
the request, and says which layers stay in float:

- the backbone's dense layers (QKV, attention output, feed-forward) and its token table, which is
  also the tied LM head, are quantized: they are nearly all of a model's bytes;
- norms, biases, position and segment tables stay in float: they are a few kilobytes, and norms
  divide by statistics that int8 would distort;
- task heads (classifier, span, tagger, MLM/NSP) stay in float: one small matrix each, on which
  the prediction itself is read.

Example:
    >>> quantize(task, "int8_weights")     # in place; returns the list of quantized layer paths
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

from kzoo.compression.modes import DEFAULT_BLOCK_SIZE, MODES
from kzoo.layers.dense import Dense
from kzoo.layers.embedding import TokenEmbedding
from kzoo.settings import closest


@dataclass(frozen=True)
class LayerKind:
    """How a quantized layer kind reads a mode: which configuration (`QuantizationMode` field)
    and the size its int4 blocks divide (a dense kernel's input, a table row)."""

    role: str
    input_size: Callable[[object], int]


# Which kzoo layers are quantized. Task heads are plain `keras.layers.Dense`, so not in here.
LAYER_KINDS = {
    Dense: LayerKind("dense", lambda layer: layer.kernel.shape[0]),
    TokenEmbedding: LayerKind("table", lambda layer: layer.output_dim),
}


def quantize(model, mode: str, block_size: int = DEFAULT_BLOCK_SIZE) -> list[str]:
    """Quantizes `model`'s backbone weights in place (see the module docstring for which);
    returns the paths of the quantized layers.

    `mode` is one of `MODES`: "int8" (weights and dynamic activations), "int8_weights" or
    "int4_weights" (weight-only, for memory-bound generation). `block_size` is int4's group
    along each layer's input; it must divide every quantized layer's input size.
    """
    layers = quantizable_layers(model)
    check_request(layers, mode, block_size)
    dtypes = sorted({layer.compute_dtype for layer in layers})
    if dtypes != ["float32"]:
        # A reloaded model would rebuild its float layers in float32 (Keras's policy map keeps
        # only the quantized layers' source dtype), so mixed precision is refused for now.
        raise ValueError(f"the model computes in {', '.join(dtypes)}; quantize the float32 model.")
    for layer, config in _layer_configs(layers, mode, block_size):
        layer.quantize(config.mode, type_check=False, config=config)
    getattr(model, "backbone", model).quantization = {"mode": mode, "block_size": block_size}
    # Keras's compiled functions hold the float graph; `Model.quantize` resets them likewise.
    model.train_function = model.test_function = model.predict_function = None
    return [layer.path for layer in layers]


def restore_quantizers(backbone, mode: str, block_size: int):
    """Gives a reloaded quantized backbone's layers their mode's activation quantizers.

    Why: a layer rebuilt from a quantized dtype policy alone gets Keras's default configuration,
    which quantizes int8 activations, so a weight-only model would come back as full int8.
    """
    for layer, config in _layer_configs(quantizable_layers(backbone), mode, block_size):
        layer.quantization_config = config
        layer.inputs_quantizer = config.activation_quantizer


def _layer_configs(layers, mode, block_size):
    setting = MODES[mode]
    for layer in layers:
        yield layer, getattr(setting, LAYER_KINDS[type(layer)].role)(block_size)


def quantizable_layers(model) -> list:
    """The layers `quantize` would touch, in model order."""
    return [layer for layer in model._flatten_layers() if type(layer) in LAYER_KINDS]


def quantization_modes(model) -> set[str]:
    """The quantization modes of a model's layers ("int8", "int4"); empty when it is float."""
    return {layer.quantization_mode for layer in model._flatten_layers()} - {None}


def check_request(layers, mode, block_size):
    """Refuses an unknown mode, a bad block size, an already quantized or LoRA model, and an
    int4 block that does not divide a layer's input, each in one line with the fix."""
    if mode not in MODES:
        raise ValueError(
            f"quantization mode {mode!r} is unknown: expected one of {tuple(MODES)}."
            f"{closest(mode, MODES)}"
        )
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size={block_size!r} is invalid: expected an integer >= 1.")
    done = sorted({layer.quantization_mode for layer in layers} - {None})
    if done:
        raise ValueError(
            f"the model is already quantized ({', '.join(done)}); quantize the float run it "
            f"came from instead."
        )
    if any(getattr(layer, "lora_enabled", False) for layer in layers):
        raise ValueError(
            "the model has LoRA adapters; merge them first "
            "(kzoo.training.adapters.merge_lora(task)), then quantize."
        )
    if mode == "int4_weights":
        sizes = {layer.path: LAYER_KINDS[type(layer)].input_size(layer) for layer in layers}
        undivided = {path: size for path, size in sizes.items() if size % block_size}
        if undivided:
            path, size = min(undivided.items())
            raise ValueError(
                f"int4 block_size={block_size} does not divide the input size of "
                f"{len(undivided)} layers (e.g. {size} of {path}); pick a block size that "
                f"divides {sorted(set(sizes.values()))}, e.g. "
                f"{_divisor_near(math.gcd(*sizes.values()), block_size)}."
            )


def _divisor_near(size, block_size) -> int:
    return max(d for d in range(1, min(size, block_size) + 1) if size % d == 0)
