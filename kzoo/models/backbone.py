"""What encoders and decoders share: config-based serialization and the layer stack."""

from typing import Any, NamedTuple

import keras

from kzoo.config import ModelConfig, resolve_config
from kzoo.layers import TransformerBlock, TransformerEmbedding
from kzoo.layers.norms import make_norm
from kzoo.layers.relative_bias import RelativePositionBias
from kzoo.models.weights import DECODER


class Backbone(keras.Model):
    """A functional model that is rebuilt from its `ModelConfig` when loaded.

    Subclasses create their layers, wire the functional graph and call
    `super().__init__(inputs, outputs)`; saving stores only the config.
    """

    def __init__(self, *args, config: ModelConfig, **kwargs):
        super().__init__(*args, **kwargs)
        self.config = config
        self.quantization = None  # {"mode", "block_size"} once kzoo.compression has run

    def get_config(self):
        return {
            "config": self.config.to_dict(),
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.layer_policies()),
            **({"quantization": self.quantization} if self.quantization else {}),
        }

    @property
    def quantized(self) -> bool:
        """Whether `kzoo.compression.quantize` has quantized any of its layers."""
        return any(layer.quantization_mode for layer in self._flatten_layers())

    def layer_policies(self):
        """The backbone's dtype policy, or, once `kzoo.compression.quantize` has run, a
        `DTypePolicyMap` from each quantized layer's path to its policy over that default.

        Layers are created from the config, so loading passes this map to them as keras_hub's
        backbones do: each quantized layer is rebuilt with its int8/int4 variables.
        """
        quantized = {
            layer.path: layer.dtype_policy
            for layer in self._flatten_layers()
            if layer.quantization_mode is not None
        }
        if not quantized or isinstance(self.dtype_policy, keras.dtype_policies.DTypePolicyMap):
            return self.dtype_policy
        policies = keras.dtype_policies.DTypePolicyMap(default_policy=self.dtype_policy)
        for path, policy in quantized.items():
            policies[path] = policy
        return policies

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.get(config["dtype"])
        quantization = config.pop("quantization", None)
        return cls(**config)._with_quantization(quantization)

    def _with_quantization(self, quantization):
        if quantization:
            from kzoo.compression.quantization import restore_quantizers

            restore_quantizers(self, **quantization)
            self.quantization = quantization
        return self

    def output_table(self):
        """The (vocab, hidden) table the LM head projects onto when it is tied to the token
        embedding; else None."""
        embedding = self.embedding.token_embedding
        # A quantized table is read through its own int8/int4 product, never as a float matrix.
        tied = embedding.tie_weights and embedding.quantization_mode is None
        return embedding.embeddings if tied else None

    def with_dtype(self, dtype):
        """A copy under the Keras dtype policy `dtype` ("bfloat16", "mixed_float16", ...), same
        weights.

        Example: `fast = encoder.with_dtype("bfloat16")` stores and computes in bfloat16.
        """
        if self.quantized:
            raise ValueError(
                f"a quantized model keeps the float32 it was quantized in; {dtype} and "
                f"quantization do not combine yet: serve the float model in {dtype}, or this one."
            )
        return self._copy(self.config, dtype)

    def with_config(self, **overrides):
        """A copy with config fields that leave the weights' shapes alone changed, e.g. dropout.

        Example: `encoder.with_config(dropout=0.2, attention_dropout=0.2)` for fine-tuning.
        """
        return self._copy(self.config.replace(**overrides), self.layer_policies())

    def _copy(self, config, dtype):
        copy = type(self)(config, name=self.name, dtype=dtype)._with_quantization(
            self.quantization
        )
        copy.set_weights([w.astype(v.dtype) for w, v in zip(self.get_weights(), copy.weights)])
        return copy


class Stack(NamedTuple):
    """The layers of one stack: embedding, blocks, final norm (pre-norm stacks) and relative
    position bias (`position_encoding="relative"`), each None where the config has none."""

    embedding: Any
    blocks: list
    final_norm: Any
    relative_bias: Any


def make_layers(config: ModelConfig, dtype=None, decoder_side=False, token_embedding=None):
    """One stack's layers from the config's row of components. `decoder_side` builds an
    encoder-decoder's decoder: causal blocks that cross-attend, names prefixed by
    `weights.DECODER`, and `token_embedding` shared with the encoder side."""
    prefix = DECODER if decoder_side else ""
    embedding = TransformerEmbedding(config, token_embedding, dtype=dtype,
                                     name=f"{prefix}embedding")
    blocks = [
        TransformerBlock(config, causal=True if decoder_side else None,
                         cross_attention=decoder_side, dtype=dtype, name=f"{prefix}block_{i}")
        for i in range(config.decoder_layers if decoder_side else config.num_layers)
    ]
    pre = config.norm_placement == "pre"
    final_norm = make_norm(config, f"{prefix}final_norm", dtype) if pre else None
    relative_bias = None
    if config.position_encoding == "relative":
        relative_bias = RelativePositionBias(config, bidirectional=not decoder_side, dtype=dtype,
                                             name=f"{prefix}relative_bias")
    return Stack(embedding, blocks, final_norm, relative_bias)


def checked_config(preset_or_config, overrides, stack: str, builder: str) -> ModelConfig:
    config = resolve_config(preset_or_config, **overrides)
    if config.stack != stack:
        other = {"encoder": "build_encoder", "decoder": "build_decoder",
                 "encoder_decoder": "build_encoder_decoder"}[config.stack]
        raise ValueError(
            f"{builder} got a config with stack={config.stack!r}; use {other} for it, "
            f"or pass stack={stack!r}."
        )
    return config
