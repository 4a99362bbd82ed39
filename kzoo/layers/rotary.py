"""Rotary position embedding (Su et al. 2021), with Llama-3 and linear frequency scaling.

Written here rather than taken from keras_hub's `RotaryEmbedding`, which counts positions
0..T-1 for every row and has no Llama-3 scaling: kzoo counts each row's real tokens, so a
left-padded prompt and each cached decode step rotate by their true positions.
"""

import math

import numpy as np
from keras import ops


def inverse_frequencies(config) -> np.ndarray:
    """The rotation speed of each feature pair, (rotary_size / 2,) float32, as Hugging Face
    computes it for `rope_scaling` none, linear and llama3."""
    size = config.rotary_size
    speeds = 1.0 / (config.rope_theta ** (np.arange(0, size, 2, dtype=np.float64) / size))
    if config.rope_scaling == "linear":
        speeds = speeds / config.rope_factor
    elif config.rope_scaling == "llama3":
        speeds = _llama3_scaled(speeds, config)
    return speeds.astype(np.float32)


def _llama3_scaled(speeds, config):
    # Llama 3.1: long wavelengths slow down by rope_factor, short ones stay, and the band
    # between the two wavelength bounds blends smoothly.
    old_length = config.rope_original_max_positions
    low, high = config.rope_low_freq_factor, config.rope_high_freq_factor
    wavelengths = 2 * math.pi / speeds
    scaled = np.where(wavelengths > old_length / low, speeds / config.rope_factor, speeds)
    smooth = (old_length / wavelengths - low) / (high - low)
    blended = (1 - smooth) * scaled / config.rope_factor + smooth * scaled
    medium = (wavelengths >= old_length / high) & (wavelengths <= old_length / low)
    return np.where(medium, blended, scaled)


def rotate(x, positions, speeds):
    """Rotates the first `2 · len(speeds)` features of each head of x (batch, T, heads, size) by
    `positions` (batch, T), in Hugging Face's half-split layout: feature j pairs with
    j + rotary_size / 2. The other features pass unrotated (partial rotary)."""
    half = speeds.shape[0]
    angles = ops.cast(positions, "float32")[:, :, None, None] * ops.convert_to_tensor(speeds)
    cos, sin = (ops.cast(f(angles), x.dtype) for f in (ops.cos, ops.sin))
    # A split, not slices: a slice's gradient fills a zero tensor the size of all of x.
    partial = x.shape[-1] != 2 * half
    parts = ops.split(x, [half, 2 * half] if partial else 2, axis=-1)
    first, second = parts[0], parts[1]
    rotated = [first * cos - second * sin, second * cos + first * sin]
    return ops.concatenate(rotated + list(parts[2:]), axis=-1)
