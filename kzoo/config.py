"""Model configuration: one dataclass, the preset table, JSON round trip, validation.

Example:
    >>> from kzoo.config import resolve_config
    >>> cfg = resolve_config("bert_tiny", dropout=0.0)
    >>> cfg.hidden_size, cfg.num_layers
    (128, 2)
    >>> ModelConfig.from_json(cfg.to_json()) == cfg
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from dataclasses import dataclass

ACTIVATIONS = ("gelu", "gelu_tanh", "relu")
NORM_PLACEMENTS = ("post", "pre")


def _closest(name: str, choices) -> str:
    match = difflib.get_close_matches(name, list(choices), n=1)
    return f" Did you mean {match[0]!r}?" if match else ""


@dataclass(frozen=True)
class ModelConfig:
    """Shape and behaviour of a transformer backbone.

    BERT-style encoders use post-LayerNorm, exact GELU and segment embeddings;
    GPT-2-style decoders use pre-LayerNorm, tanh GELU, no segments and
    `causal=True`. Every field is validated on construction.
    """

    vocab_size: int = 30522
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    max_positions: int = 512
    num_segments: int = 2
    activation: str = "gelu"
    norm_placement: str = "post"
    layer_norm_epsilon: float = 1e-12
    dropout: float = 0.1
    attention_dropout: float = 0.1
    tie_embeddings: bool = True
    initializer_range: float = 0.02
    causal: bool = False

    def __post_init__(self):
        for f in dataclasses.fields(self):
            self._check_type(f)
        positive = ("vocab_size", "hidden_size", "num_layers", "num_heads",
                    "intermediate_size", "max_positions")
        for name in positive:
            if getattr(self, name) < 1:
                _fail(name, getattr(self, name), "an integer >= 1")
        if self.num_segments < 0:
            _fail("num_segments", self.num_segments, "an integer >= 0 (0 = no segment embedding)")
        if self.activation not in ACTIVATIONS:
            _fail("activation", self.activation, f"one of {ACTIVATIONS}")
        if self.norm_placement not in NORM_PLACEMENTS:
            _fail("norm_placement", self.norm_placement, f"one of {NORM_PLACEMENTS}")
        for name in ("dropout", "attention_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                _fail(name, getattr(self, name), "a rate in [0, 1)")
        if not 0.0 < self.layer_norm_epsilon < 1.0:
            _fail("layer_norm_epsilon", self.layer_norm_epsilon, "a small positive float such as 1e-12 or 1e-5")
        if self.initializer_range <= 0:
            _fail("initializer_range", self.initializer_range, "a positive float such as 0.02")
        if self.hidden_size % self.num_heads:
            raise ValueError(
                f"hidden_size={self.hidden_size} is not divisible by num_heads={self.num_heads}; "
                f"choose num_heads among the divisors of hidden_size "
                f"(e.g. {[h for h in (1, 2, 4, 8, 12, 16) if self.hidden_size % h == 0]})."
            )

    def _check_type(self, f: dataclasses.Field):
        value = getattr(self, f.name)
        expected = {"int": int, "float": (int, float), "str": str, "bool": bool}[f.type]
        # bool is a subclass of int; a flag given where a size is expected is a mistake.
        if isinstance(value, bool) and f.type != "bool" or not isinstance(value, expected):
            _fail(f.name, value, f"a value of type {f.type}")

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict) -> "ModelConfig":
        """Builds a config, rejecting unknown keys with a suggestion."""
        known = {f.name for f in dataclasses.fields(cls)}
        for key in values:
            if key not in known:
                raise ValueError(
                    f"Unknown ModelConfig field {key!r}.{_closest(key, known)} "
                    f"Allowed fields: {sorted(known)}."
                )
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))

    def replace(self, **overrides) -> "ModelConfig":
        """A copy with some fields changed (validated like any config)."""
        return ModelConfig.from_dict({**self.to_dict(), **overrides})


def _fail(name, value, allowed):
    raise ValueError(f"ModelConfig.{name}={value!r} is invalid: expected {allowed}.")


def _bert(layers: int, hidden: int, heads: int) -> ModelConfig:
    return ModelConfig(hidden_size=hidden, num_layers=layers, num_heads=heads,
                       intermediate_size=4 * hidden)


def _gpt2(layers: int, hidden: int, heads: int) -> ModelConfig:
    return ModelConfig(
        vocab_size=50257, hidden_size=hidden, num_layers=layers, num_heads=heads,
        intermediate_size=4 * hidden, max_positions=1024, num_segments=0,
        activation="gelu_tanh", norm_placement="pre", layer_norm_epsilon=1e-5,
        causal=True,
    )


# Published shapes: Turc et al. 2019 (compact BERTs), Devlin et al. 2019, Radford et al. 2019.
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
                f"Unknown preset {source!r}.{_closest(source, PRESETS)} "
                f"Available presets: {sorted(PRESETS)}."
            )
        config = PRESETS[source]
    else:
        raise TypeError(f"Expected a preset name, dict, .json path or ModelConfig, got {type(source).__name__}.")
    return config.replace(**overrides) if overrides else config


def parameter_count(config: ModelConfig, pooler: bool | None = None) -> int:
    """Number of weights a built backbone has, computed from the config alone.

    `pooler` defaults to True for encoders and False for decoders. An untied
    output projection (decoders with `tie_embeddings=False`) is counted too.
    """
    c = config
    h, i = c.hidden_size, c.intermediate_size
    pooler = (not c.causal) if pooler is None else pooler
    embeddings = (c.vocab_size + c.max_positions + c.num_segments) * h
    embeddings += 2 * h if c.norm_placement == "post" else 0
    block = (3 * h * h + 3 * h) + (h * h + h) + (h * i + i) + (i * h + h) + 4 * h
    final_norm = 2 * h if c.norm_placement == "pre" else 0
    head = c.vocab_size * h if (c.causal and not c.tie_embeddings) else 0
    return embeddings + c.num_layers * block + final_norm + (h * h + h if pooler else 0) + head
