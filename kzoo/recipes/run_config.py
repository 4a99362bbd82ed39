"""Run configs: what `kzoo pretrain` / `kzoo finetune` do, validated, saved into the run directory.

Example run.yaml:
    model: {preset: bert_tiny, overrides: {num_layers: 4}}
    data: {task: mlm_nsp, files: [corpus.txt], sequence_length: 128, vocab_size: 8000}
    training: {steps: 1000, batch_size: 32, learning_rate: 1e-4, warmup_steps: 100}
    run_dir: runs/bert
"""

import dataclasses
import difflib
import json
from dataclasses import dataclass, field
from pathlib import Path

from kzoo.config import resolve_config

RUN_FILE = "run.json"
PRETRAINING_TASKS = ("mlm_nsp", "causal_lm")
FINETUNING_TASKS = ("classification", "regression", "ner", "qa")


@dataclass(frozen=True)
class ModelSection:
    preset: str = "bert_tiny"
    overrides: dict = field(default_factory=dict)


@dataclass(frozen=True)
class DataSection:
    task: str = "mlm_nsp"  # pretraining: mlm_nsp | causal_lm; fine-tuning: classification | regression | ner | qa
    files: tuple = ()
    validation_file: str | None = None  # fine-tuning: held-out data; else `validation_fraction` of files[0]
    vocabulary: str | None = None  # a vocab.txt; learned from `files` when absent
    vocab_size: int = 8000
    sequence_length: int = 128
    max_predictions: int = 20
    whole_word_masking: bool = False
    text_column: str = "sentence"
    pair_column: str | None = None
    label_column: str = "label"
    label_names: tuple = ("0", "1")
    validation_fraction: float = 0.1  # qa splits by article
    doc_stride: int = 128  # qa: tokens between the starts of a long context's windows


@dataclass(frozen=True)
class TrainingSection:
    steps: int = 1000
    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    warmup_ratio: float = 0.0  # warmup as a fraction of all steps, when warmup_steps is 0
    decay: str = "linear"
    weight_decay: float = 0.01
    checkpoint_every: int = 100
    keep_checkpoints: int = 3
    seed: int = 0
    precision: str = "float32"  # or "mixed_bfloat16" / "mixed_float16" (Keras dtype policies)
    strategy: str = "default"  # see kzoo.training.distribution
    class_weights: dict = field(default_factory=dict)  # fine-tuning: {label index: loss weight}
    head_dropout: float = 0.1  # fine-tuning: dropout before the task head

    def __post_init__(self):
        checks = {name: (getattr(self, name) >= 1, "an integer >= 1")
                  for name in ("steps", "epochs", "batch_size", "checkpoint_every", "keep_checkpoints")}
        checks.update(learning_rate=(self.learning_rate > 0, "> 0"), warmup_steps=(self.warmup_steps >= 0, ">= 0"),
                      warmup_ratio=(0 <= self.warmup_ratio < 1, "in [0, 1)"))
        for name, (ok, expected) in checks.items():
            if not ok:
                raise ValueError(f"training.{name}={getattr(self, name)!r} is invalid: expected {expected}.")

    def warmup(self, total_steps: int) -> int:
        """Warmup steps: `warmup_steps`, else `warmup_ratio` of `total_steps`."""
        return self.warmup_steps or int(self.warmup_ratio * total_steps)


@dataclass(frozen=True)
class RunConfig:
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    training: TrainingSection = TrainingSection()
    run_dir: str = "runs/run"
    init_from: str | None = None  # fine-tuning: a pretraining run dir or a Hugging Face checkpoint dir

    def __post_init__(self):
        tasks = PRETRAINING_TASKS + FINETUNING_TASKS
        if self.data.task not in tasks:
            raise ValueError(f"data.task={self.data.task!r} is invalid: expected one of {tasks}.")
        if not self.data.files:
            raise ValueError("data.files is empty: list the raw text files to pretrain on, or the labelled "
                             "file to fine-tune on.")
        resolve_config(self.model.preset, **self.model.overrides)  # validates the model now, not mid-run
        precisions = ("float32", "mixed_bfloat16", "mixed_float16")
        if self.training.precision not in precisions:
            raise ValueError(f"training.precision={self.training.precision!r} is invalid: expected one of {precisions}.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, directory) -> Path:
        path = Path(directory) / RUN_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path


def _check_keys(values, cls, where):
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping of settings, got {values!r}.")
    known = [f.name for f in dataclasses.fields(cls)]
    for key in values:
        if key not in known:
            match = difflib.get_close_matches(key, known, n=1)
            hint = f" Did you mean {match[0]!r}?" if match else ""
            raise ValueError(f"{where}: unknown setting {key!r}.{hint} Allowed: {sorted(known)}.")


def _coerce(cls, values, where):
    """YAML reads `1e-3` as a string and lists as lists: give each setting its declared type."""
    types = {f.name: f.type for f in dataclasses.fields(cls)}
    out = {}
    for key, value in values.items():
        if isinstance(value, list):
            value = tuple(value)
        elif types[key] in (int, float) and not isinstance(value, bool):
            try:
                value = types[key](value)
            except (TypeError, ValueError):
                raise ValueError(f"{where}: {key}={value!r} is not a valid {types[key].__name__}.") from None
        out[key] = value
    return out


def run_config_from_dict(values: dict, source="run config") -> RunConfig:
    """Validates a parsed YAML/JSON run config, naming the first bad key or value."""
    sections = {"model": ModelSection, "data": DataSection, "training": TrainingSection}
    _check_keys(values, RunConfig, source)
    parts = {}
    for name, cls in sections.items():
        _check_keys(values.get(name, {}), cls, f"{source}: {name}")
        parts[name] = cls(**_coerce(cls, values.get(name, {}), f"{source}: {name}"))
    return RunConfig(**{k: v for k, v in values.items() if k not in sections}, **parts)


def load_run_config(path) -> RunConfig:
    """Reads run.yaml / run.json, or a run directory's saved run.json."""
    path = Path(path)
    if path.is_dir():
        path = path / RUN_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: no run config; pass a run.yaml, or a run directory holding {RUN_FILE}.")
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        import yaml

        values = yaml.safe_load(text) or {}
    else:
        values = json.loads(text)
    return run_config_from_dict(values, str(path))
