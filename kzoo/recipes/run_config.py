"""Run configs: what `kzoo pretrain` / `kzoo finetune` do, validated, saved into the run directory.

Example run.yaml:
    model: {preset: bert_tiny, overrides: {num_layers: 4}}
    data: {task: mlm_nsp, files: [corpus.txt], sequence_length: 128, vocab_size: 8000}
    training: {steps: 1000, batch_size: 32, learning_rate: 1e-4, warmup_steps: 100}
    run_dir: runs/bert
"""

import dataclasses
import difflib
import functools
import json
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path, PurePath

from kzoo.config import resolve_config
from kzoo.data.documents import read_text
from kzoo.settings import (
    Rule,
    at_least,
    check_fields,
    fail,
    non_negative,
    one_of,
    open_fraction,
    positive,
    rate,
)
from kzoo.training.distribution import STRATEGIES
from kzoo.training.optimizer import DECAYS

RUN_FILE = "run.json"
PRETRAINING_TASKS = ("mlm_nsp", "causal_lm", "span_corruption", "denoising")
FINETUNING_TASKS = ("classification", "regression", "ner", "qa", "translation", "summarization")


def _normalize_paths(section):
    # Python callers pass lists and Paths where YAML/JSON give lists and strings: store tuples
    # (the section stays hashable) of strings (run.json stays JSON).
    def plain(value):
        return str(value) if isinstance(value, PurePath) else value

    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, (list, tuple)):
            object.__setattr__(section, f.name, tuple(plain(v) for v in value))
        elif isinstance(value, PurePath):
            object.__setattr__(section, f.name, str(value))


@dataclass(frozen=True)
class ModelSection:
    preset: str = "bert_tiny"
    overrides: dict = field(default_factory=dict)

    def __post_init__(self):
        check_fields(self, "model", {})


@dataclass(frozen=True)
class DataSection:
    # pretraining: mlm_nsp | causal_lm | span_corruption | denoising;
    # fine-tuning: classification | regression | ner | qa | translation | summarization
    task: str = "mlm_nsp"
    files: tuple[str, ...] = ()
    # fine-tuning: held-out data; else `validation_fraction` of files[0]
    validation_file: str | None = None
    vocabulary: str | None = None  # a vocab.txt; learned from `files` when absent
    vocab_size: int = 8000
    sequence_length: int = 128
    max_predictions: int = 20
    whole_word_masking: bool = False
    text_column: str = "sentence"
    pair_column: str | None = None
    label_column: str = "label"
    label_names: tuple[str, ...] = ("0", "1")
    validation_fraction: float = 0.1  # qa splits by article
    doc_stride: int = 128  # qa: tokens between the starts of a long context's windows
    # translation / summarization: files[0] and `target_file` aligned line by line, or files[0]
    # a TSV/CSV/JSONL table with these two columns; targets cut to `max_target_length` tokens
    source_column: str = "source"
    target_column: str = "target"
    target_file: str | None = None
    validation_target_file: str | None = None
    max_target_length: int = 128

    def __post_init__(self):
        _normalize_paths(self)
        check_fields(self, "data", DATA_RULES)


DATA_RULES = {
    "task": one_of(PRETRAINING_TASKS + FINETUNING_TASKS),
    # below a few dozen entries a vocabulary cannot hold its special tokens and an alphabet
    "vocab_size": at_least(32),
    "sequence_length": at_least(8),
    "max_predictions": at_least(1),
    "validation_fraction": open_fraction(),
    "doc_stride": at_least(1),
    "max_target_length": at_least(2),
    "label_names": Rule(
        lambda v: len(v) >= 1 and len(set(v)) == len(v), "a non-empty list of distinct label names"
    ),
}


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
    class_weights: dict[int, float] = field(default_factory=dict)  # fine-tuning: {label: weight}
    head_dropout: float = 0.1  # fine-tuning: dropout before the task head
    # distillation (run.teacher set): soft-target temperature, and the soft-target loss's share
    distillation_temperature: float = 2.0
    distillation_alpha: float = 0.5
    # fine-tuning: magnitude-prune the backbone's projections to this sparsity, on a cubic
    # schedule over the first 80% of the steps (kzoo.compression.MagnitudePruning)
    sparsity: float = 0.0

    def __post_init__(self):
        check_fields(self, "training", TRAINING_RULES)
        for label, weight in self.class_weights.items():
            if weight < 0:
                fail("training", f"class_weights[{label}]", weight, "a loss weight >= 0")

    def warmup(self, total_steps: int) -> int:
        """Warmup steps: `warmup_steps`, else `warmup_ratio` of `total_steps`."""
        return self.warmup_steps or int(self.warmup_ratio * total_steps)


TRAINING_RULES = {
    **{
        name: at_least(1)
        for name in ("steps", "epochs", "batch_size", "checkpoint_every", "keep_checkpoints")
    },
    "learning_rate": positive(),
    "warmup_steps": Rule(lambda v: v >= 0, "an integer >= 0"),
    "warmup_ratio": rate(),
    "decay": one_of(DECAYS),
    "weight_decay": non_negative(),
    "seed": Rule(lambda v: v >= 0, "an integer >= 0"),
    "precision": one_of(("float32", "mixed_bfloat16", "mixed_float16")),
    "strategy": one_of(STRATEGIES),
    "head_dropout": rate(),
    "distillation_temperature": positive(),
    "distillation_alpha": Rule(lambda v: 0.0 <= v <= 1.0, "a fraction in [0, 1]"),
    "sparsity": rate(),
}


@dataclass(frozen=True)
class RunConfig:
    model: ModelSection = ModelSection()
    data: DataSection = DataSection()
    training: TrainingSection = TrainingSection()
    run_dir: str = "runs/run"
    init_from: str | None = (
        None  # fine-tuning: a pretraining run dir or a Hugging Face checkpoint dir
    )
    # fine-tuning: distil from this fine-tuned run dir (the student starts from init_from, or
    # from model.preset with the teacher's tokenizer)
    teacher: str | None = None

    def __post_init__(self):
        _normalize_paths(self)
        check_fields(self, "run", {})
        if not self.data.files:
            raise ValueError(
                "data.files is empty: list the raw text files to pretrain on, or the labelled "
                "file to fine-tune on."
            )
        resolve_config(
            self.model.preset, **self.model.overrides
        )  # validates the model now, not mid-run

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


def _whole_numbers(cls, values):
    """YAML and JSON may write an integer setting as 1e3 or 1000.0: take it when it is whole;
    a fractional value (`steps: 10.7`) stays a float and is refused, never truncated."""
    hints = typing.get_type_hints(cls)
    return {
        key: int(value)
        if hints.get(key) is int and isinstance(value, float) and value.is_integer()
        else value
        for key, value in values.items()
    }


def run_config_from_dict(values: dict, source="run config") -> RunConfig:
    """Validates a parsed YAML/JSON run config, naming the source and the first bad value."""
    sections = {"model": ModelSection, "data": DataSection, "training": TrainingSection}
    _check_keys(values, RunConfig, source)
    try:
        parts = {}
        for name, cls in sections.items():
            _check_keys(values.get(name, {}), cls, f"{source}: {name}")
            parts[name] = cls(**_whole_numbers(cls, values.get(name, {})))
        top = {k: v for k, v in values.items() if k not in sections}
        return RunConfig(**top, **parts)
    except ValueError as error:
        if str(error).startswith(source):
            raise
        raise ValueError(f"{source}: {error}") from None


def load_run_config(path) -> RunConfig:
    """Reads run.yaml / run.json, or a run directory's saved run.json."""
    path = Path(path)
    if path.is_dir():
        path = path / RUN_FILE
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no run config; pass a run.yaml, or a run directory holding {RUN_FILE}."
        )
    text = read_text(path)
    values = (
        _parse_yaml(path, text) if path.suffix in (".yaml", ".yml") else _parse_json(path, text)
    )
    return run_config_from_dict(values, str(path))


def _parse_yaml(path, text) -> dict:
    import yaml

    try:
        return yaml.load(text, Loader=_yaml_loader()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(
            f"{path}{where}: YAML syntax error ({problem}); fix the file there."
        ) from None


def _parse_json(path, text) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}, line {error.lineno}, column {error.colno}: not valid JSON "
            f"({error.msg}); fix the file there."
        ) from None


@functools.cache
def _yaml_loader():
    """PyYAML follows YAML 1.1, where `1e-5` (no dot) is a string; YAML 1.2 and JSON read it as a
    number, and so does kzoo in every section."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    number = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", number, list("-+0123456789"))
    return Loader
