"""Model configuration: a family is one row of components, validated from its annotations.

Example:
    >>> from kzoo.config import resolve_config
    >>> cfg = resolve_config("bert_tiny", dropout=0.0)
    >>> cfg.hidden_size, cfg.num_layers
    (128, 2)
    >>> ModelConfig.from_json(cfg.to_json()) == cfg
    True
    >>> resolve_config("llama_tiny").kv_heads      # grouped-query attention
    2
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from kzoo.settings import (
    Rule,
    at_least,
    check_fields,
    check_type,
    closest,
    fail,
    one_of,
    positive,
    rate,
)

# The allowed values of every string-valued component: the one table validation reads.
CHOICES = {
    "stack": ("encoder", "decoder", "encoder_decoder"),
    "position_encoding": ("learned", "rotary", "relative", "none"),
    "rope_scaling": ("none", "linear", "llama3"),
    "norm": ("layer_norm", "rms_norm"),
    "norm_placement": ("post", "pre"),
    "feed_forward": ("mlp", "gated"),
    "activation": ("gelu", "gelu_tanh", "relu", "silu"),
}
ACTIVATIONS = CHOICES["activation"]
POSITIVE = (
    "vocab_size",
    "hidden_size",
    "num_layers",
    "num_heads",
    "intermediate_size",
    "max_positions",
    "num_kv_heads",
    "head_size",
    "rope_original_max_positions",
    "num_decoder_layers",
    "relative_buckets",
    "relative_max_distance",
)
# Every range a field must lie in, read by `check_fields`; cross-field rules follow it.
RULES = {
    **{name: one_of(allowed) for name, allowed in CHOICES.items()},
    **{name: at_least(1) for name in POSITIVE},
    "num_segments": Rule(lambda v: v >= 0, "an integer >= 0 (0 = no segment embedding)"),
    "position_offset": Rule(lambda v: v >= 0, "an integer >= 0 (BART's table starts at 2)"),
    "decoder_start_token_id": Rule(lambda v: v >= 0, "a token id >= 0 (T5: 0, BART: 2)"),
    "dropout": rate(),
    "attention_dropout": rate(),
    "norm_epsilon": Rule(lambda v: 0 < v < 1, "a small positive float such as 1e-12 or 1e-5"),
    "initializer_range": positive(),
    "rope_theta": positive(),
    "partial_rotary_factor": Rule(lambda v: 0 < v <= 1, "a fraction in (0, 1]"),
    "rope_factor": Rule(lambda v: v >= 1, "a float >= 1 (1 = no scaling)"),
}


@dataclass(frozen=True)
class ModelConfig:
    """Shape and components of a transformer backbone; the defaults are BERT-base.

    Components: `stack` (encoder: bidirectional, pooled; decoder: causal, LM head;
    encoder_decoder: an encoder, and a causal decoder of `num_decoder_layers` blocks that also
    cross-attends to it, as T5 and BART), `position_encoding` (learned table, offset by
    `position_offset`; rotary with `rope_*`; relative: T5's bucketed bias, `relative_*`; or
    none), `attention_scale` (False: T5's unscaled scores), `decoder_output_scale` (T5 1.0's
    hidden_size ** -0.5 on the decoder states before the LM head), `decoder_start_token_id` (the
    id an encoder-decoder's decoder starts from: T5's pad, BART's end), `norm` and its
    `norm_placement` (post: BERT; pre: GPT-2, Llama), `feed_forward` (an MLP with
    `activation`, or gated: SwiGLU is gated + silu, GeGLU gated + gelu_tanh), query heads and
    `num_kv_heads` (None: multi-head; fewer: grouped-query; 1: multi-query), a bias switch per
    projection, `qk_norm` (Qwen3) and `tie_embeddings`. Every field is checked on construction.
    """

    stack: str = "encoder"
    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    num_kv_heads: int | None = None
    head_size: int | None = None
    intermediate_size: int = 3072
    max_positions: int = 512
    num_segments: int = 2
    num_decoder_layers: int | None = None
    position_encoding: str = "learned"
    position_offset: int = 0
    relative_buckets: int = 32
    relative_max_distance: int = 128
    rope_theta: float = 10000.0
    rope_scaling: str = "none"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_positions: int = 8192
    partial_rotary_factor: float = 1.0
    norm: str = "layer_norm"
    norm_placement: str = "post"
    norm_epsilon: float = 1e-12
    embedding_norm: bool = True
    qk_norm: bool = False
    attention_scale: bool = True
    feed_forward: str = "mlp"
    activation: str = "gelu"
    qkv_bias: bool = True
    output_bias: bool = True
    ffn_bias: bool = True
    tie_embeddings: bool = True
    decoder_output_scale: bool = False
    decoder_start_token_id: int = 0
    dropout: float = 0.1
    attention_dropout: float = 0.1
    initializer_range: float = 0.02

    def __post_init__(self):
        check_fields(self, "ModelConfig", RULES)
        self._check_heads()
        self._check_rotary()
        self._check_relative()

    def _check_heads(self):
        if self.head_size is None and self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}; "
                f"choose num_heads among the divisors of hidden_size "
                f"(e.g. {[h for h in (1, 2, 4, 8, 12, 16) if self.hidden_size % h == 0]}), "
                f"or set head_size."
            )
        if self.num_heads % self.kv_heads:
            _fail(
                "num_kv_heads",
                self.num_kv_heads,
                f"a divisor of num_heads={self.num_heads} (grouped-query attention shares "
                f"each key/value head among num_heads / num_kv_heads query heads)",
            )

    def _check_relative(self):
        if self.position_encoding == "relative" and self.stack != "encoder_decoder":
            _fail("position_encoding", self.position_encoding,
                  f"one of ('learned', 'rotary', 'none') for stack={self.stack!r}: relative "
                  f"position bias is built for encoder-decoders (T5)")

    def _check_rotary(self):
        if self.rope_scaling == "llama3" and not (
            0 < self.rope_low_freq_factor < self.rope_high_freq_factor
        ):
            _fail(
                "rope_high_freq_factor",
                self.rope_high_freq_factor,
                f"a float above rope_low_freq_factor={self.rope_low_freq_factor} (> 0)",
            )
        if self.position_encoding == "rotary" and (self.rotary_size < 2 or self.rotary_size % 2):
            _fail(
                "partial_rotary_factor",
                self.partial_rotary_factor,
                f"a fraction that leaves an even number >= 2 of the {self.attention_head_size} "
                f"features of a head to rotate",
            )

    @property
    def causal(self) -> bool:
        """Whether attention is causal: decoders see only earlier positions."""
        return self.stack == "decoder"

    @property
    def decoder_layers(self) -> int:
        """Blocks of an encoder-decoder's decoder: `num_decoder_layers`, or `num_layers`."""
        return self.num_decoder_layers or self.num_layers

    @property
    def kv_heads(self) -> int:
        """Key/value heads: `num_kv_heads`, or one per query head."""
        return self.num_kv_heads or self.num_heads

    @property
    def attention_head_size(self) -> int:
        """Features per head: `head_size`, or hidden_size / num_heads."""
        return self.head_size or self.hidden_size // self.num_heads

    @property
    def rotary_size(self) -> int:
        """Features per head that rotary positions rotate (the first ones of each head)."""
        return int(self.attention_head_size * self.partial_rotary_factor)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> ModelConfig:
        """Builds a config, rejecting unknown keys with a suggestion. Configs saved by kzoo 0.1
        (with `causal` and `layer_norm_epsilon`) are read as the components they meant."""
        values = _upgrade_v0_1(values)
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(
                    f"Unknown ModelConfig field {key!r}.{closest(key, known)} "
                    f"Allowed fields: {sorted(known)}."
                )
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        return cls.from_dict(json.loads(text))

    def replace(self, **overrides) -> ModelConfig:
        """A copy with some fields changed (validated like any config)."""
        return ModelConfig.from_dict({**self.to_dict(), **overrides})


def _upgrade_v0_1(values: dict) -> dict:
    # kzoo 0.1 wrote every field, `causal` among them; its post-norm stacks normalised the
    # embedding sum and its pre-norm ones did not.
    if "causal" not in values:
        return values
    values = dict(values)
    causal = values.pop("causal")
    check_type("ModelConfig", "causal", causal, bool)
    values["stack"] = "decoder" if causal else "encoder"
    values.setdefault("norm_epsilon", values.pop("layer_norm_epsilon", 1e-12))
    values.setdefault("embedding_norm", values.get("norm_placement", "post") == "post")
    return values


def _fail(name, value, allowed):
    fail("ModelConfig", name, value, allowed)


def _bert(layers: int, hidden: int, heads: int) -> ModelConfig:
    return ModelConfig(
        hidden_size=hidden, num_layers=layers, num_heads=heads, intermediate_size=4 * hidden
    )


def _gpt2(layers: int, hidden: int, heads: int) -> ModelConfig:
    return ModelConfig(
        stack="decoder",
        vocab_size=50257,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=4 * hidden,
        max_positions=1024,
        num_segments=0,
        activation="gelu_tanh",
        norm_placement="pre",
        norm_epsilon=1e-5,
        embedding_norm=False,
    )


def llama(layers, hidden, heads, kv_heads, intermediate, vocab, **components) -> ModelConfig:
    """A Llama-style decoder: rotary positions, pre-RMSNorm, SwiGLU, no biases, no dropout.

    Example: `llama(2, 64, 4, 2, 128, 1000, qkv_bias=True)` is a tiny Qwen2-style model.
    """
    row = dict(
        stack="decoder",
        vocab_size=vocab,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        num_kv_heads=kv_heads,
        intermediate_size=intermediate,
        max_positions=2048,
        num_segments=0,
        position_encoding="rotary",
        norm="rms_norm",
        norm_placement="pre",
        norm_epsilon=1e-5,
        embedding_norm=False,
        feed_forward="gated",
        activation="silu",
        qkv_bias=False,
        output_bias=False,
        ffn_bias=False,
        dropout=0.0,
        attention_dropout=0.0,
    )
    return ModelConfig(**{**row, **components})


def t5(layers, hidden, heads, intermediate, gated=False, head_size=64) -> ModelConfig:
    """A T5 encoder-decoder: relative position bias, pre-RMSNorm without biases, unscaled
    attention over 64-feature heads, a ReLU MLP (T5 1.0, tied and rescaled output) or a gated
    tanh-GELU one (T5 1.1 and Flan-T5, untied)."""
    return ModelConfig(
        stack="encoder_decoder",
        vocab_size=32128,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        head_size=None if heads * head_size == hidden else head_size,
        intermediate_size=intermediate,
        num_segments=0,
        position_encoding="relative",
        norm="rms_norm",
        norm_placement="pre",
        norm_epsilon=1e-6,
        embedding_norm=False,
        attention_scale=False,
        feed_forward="gated" if gated else "mlp",
        activation="gelu_tanh" if gated else "relu",
        qkv_bias=False,
        output_bias=False,
        ffn_bias=False,
        tie_embeddings=not gated,
        decoder_output_scale=not gated,
        attention_dropout=0.0,
    )


def bart(layers, hidden, heads) -> ModelConfig:
    """A BART encoder-decoder: learned positions from row 2 of their table, post-LayerNorm with
    a normed embedding, GELU, biases everywhere, tied output."""
    return ModelConfig(
        stack="encoder_decoder",
        vocab_size=50265,
        hidden_size=hidden,
        num_layers=layers,
        num_heads=heads,
        intermediate_size=4 * hidden,
        max_positions=1024,
        position_offset=2,
        num_segments=0,
        norm_epsilon=1e-5,
        decoder_start_token_id=2,
    )


_LLAMA3_ROPE = dict(
    rope_theta=500000.0,
    rope_scaling="llama3",
    rope_factor=32.0,
    rope_low_freq_factor=1.0,
    rope_high_freq_factor=4.0,
    rope_original_max_positions=8192,
)

# Shapes as published: Turc et al. 2019 (compact BERTs), Devlin et al. 2019, Radford et al. 2019,
# Raffel et al. 2020 (t5-*, google/t5-v1_1-*), Lewis et al. 2020 (facebook/bart-*), and each
# Llama-style model's config.json (HuggingFaceTB/SmolLM-135M and -360M, Qwen/Qwen2-0.5B,
# TinyLlama/TinyLlama-1.1B-Chat-v1.0, meta-llama/Llama-3.2-1B, mistralai/Mistral-7B-v0.3).
PRESETS: dict[str, ModelConfig] = {
    "bert_tiny": _bert(2, 128, 2),
    "bert_mini": _bert(4, 256, 4),
    "bert_small": _bert(4, 512, 8),
    "bert_medium": _bert(8, 512, 8),
    "bert_base": _bert(12, 768, 12),
    "bert_large": _bert(24, 1024, 16),
    "gpt2_small": _gpt2(12, 768, 12),
    "gpt2_medium": _gpt2(24, 1024, 16),
    "gpt2_large": _gpt2(36, 1280, 20),
    "gpt2_xl": _gpt2(48, 1600, 25),
    "t5_tiny": t5(2, 64, 4, 128, head_size=16).replace(vocab_size=1000, max_positions=256),
    "t5_small": t5(6, 512, 8, 2048),
    "t5_base": t5(12, 768, 12, 3072),
    "t5_large": t5(24, 1024, 16, 4096),
    "t5_v1_1_small": t5(8, 512, 6, 1024, gated=True),
    "t5_v1_1_base": t5(12, 768, 12, 2048, gated=True),
    "bart_tiny": bart(2, 64, 4).replace(vocab_size=1000, max_positions=256),
    "bart_base": bart(6, 768, 12),
    "bart_large": bart(12, 1024, 16),
    "llama_tiny": llama(2, 64, 4, 2, 160, 1000, max_positions=256),
    "smollm_135m": llama(30, 576, 9, 3, 1536, 49152),
    "smollm_360m": llama(32, 960, 15, 5, 2560, 49152),
    "qwen2_0_5b": llama(
        24,
        896,
        14,
        2,
        4864,
        151936,
        max_positions=131072,
        norm_epsilon=1e-6,
        rope_theta=1000000.0,
        qkv_bias=True,
    ),
    "tinyllama_1_1b": llama(22, 2048, 32, 4, 5632, 32000, tie_embeddings=False),
    "llama3_2_1b": llama(16, 2048, 32, 8, 8192, 128256, max_positions=131072, **_LLAMA3_ROPE),
    "mistral_7b": llama(
        32,
        4096,
        32,
        8,
        14336,
        32768,
        max_positions=32768,
        rope_theta=1000000.0,
        tie_embeddings=False,
    ),
}


def resolve_config(preset_or_config="bert_tiny", **overrides) -> ModelConfig:
    """Turns a preset name, a dict, a JSON path or a `ModelConfig` into a validated config.

    Example: `resolve_config("gpt2_small", num_layers=6)`.
    """
    source = preset_or_config
    if isinstance(source, ModelConfig):
        config = source
    elif isinstance(source, dict):
        config = ModelConfig.from_dict(source)
    elif isinstance(source, str) and source.endswith(".json"):
        with open(source, encoding="utf-8") as f:
            config = ModelConfig.from_json(f.read())
    elif isinstance(source, str):
        if source not in PRESETS:
            raise ValueError(
                f"Unknown preset {source!r}.{closest(source, PRESETS)} "
                f"Available presets: {sorted(PRESETS)}."
            )
        config = PRESETS[source]
    else:
        raise TypeError(
            f"Expected a preset name, dict, .json path or ModelConfig, "
            f"got {type(source).__name__}."
        )
    return config.replace(**overrides) if overrides else config


def parameter_count(config: ModelConfig, pooler: bool | None = None) -> int:
    """Number of weights a built backbone has, computed from the config alone.

    `pooler` defaults to True for encoders and False otherwise. An untied output projection
    (`tie_embeddings=False` on a decoder or an encoder-decoder) is counted too.
    """
    c = config
    h, i, d = c.hidden_size, c.intermediate_size, c.attention_head_size
    norm = 2 * h if c.norm == "layer_norm" else h
    pooler = (c.stack == "encoder") if pooler is None else pooler
    stacks = 2 if c.stack == "encoder_decoder" else 1
    positions = {"learned": (c.max_positions + c.position_offset) * h,
                 "relative": c.relative_buckets * c.num_heads}.get(c.position_encoding, 0)
    per_stack = positions + (norm if c.embedding_norm else 0)
    per_stack += norm if c.norm_placement == "pre" else 0  # the final norm
    embeddings = (c.vocab_size + c.num_segments) * h
    qkv = (c.num_heads + 2 * c.kv_heads) * d
    attention = h * qkv + qkv * c.qkv_bias + c.num_heads * d * h + h * c.output_bias
    attention += 2 * d * (1 if c.norm == "rms_norm" else 2) if c.qk_norm else 0
    gates = 2 if c.feed_forward == "gated" else 1
    ffn = gates * (h * i + i * c.ffn_bias) + i * h + h * c.ffn_bias
    blocks = c.num_layers * (attention + ffn + 2 * norm)
    if c.stack == "encoder_decoder":  # decoder blocks add cross-attention and its norm
        blocks += c.decoder_layers * (2 * attention + ffn + 3 * norm)
    head = c.vocab_size * h if (c.stack != "encoder" and not c.tie_embeddings) else 0
    return embeddings + stacks * per_stack + blocks + (h * h + h if pooler else 0) + head
