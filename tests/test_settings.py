"""Run-config validation, table-driven: every setting with a bad type and, where it has one, a
bad range; YAML numbers and syntax errors."""

import dataclasses

import pytest

from kzoo.recipes import load_run_config, run_config_from_dict
from kzoo.recipes.run_config import DataSection, ModelSection, RunConfig, TrainingSection

# section, setting, a value of the wrong type, a value out of range (None: the type is the rule)
CASES = [
    ("model", "preset", 3, "bert_tinyy"),
    ("model", "overrides", "num_layers=2", {"hidden_size": -1}),
    ("data", "task", 3, "mlm"),
    ("data", "files", "corpus.txt", ()),
    ("data", "validation_file", 3, None),
    ("data", "vocabulary", {"path": "vocab.txt"}, None),
    ("data", "vocab_size", 8000.5, -3),
    ("data", "sequence_length", "128", 4),
    ("data", "max_predictions", True, 0),
    ("data", "whole_word_masking", "false", None),
    ("data", "text_column", 1, None),
    ("data", "pair_column", 2, None),
    ("data", "label_column", False, None),
    ("data", "label_names", "negative,positive", ("a", "a")),
    ("data", "validation_fraction", "0.1", 1.0),
    ("data", "doc_stride", 1.5, 0),
    ("data", "source_column", 1, None),
    ("data", "target_column", 2, None),
    ("data", "target_file", 3, None),
    ("data", "validation_target_file", {"path": "val.en"}, None),
    ("data", "max_target_length", "64", 1),
    ("training", "steps", 10.7, 0),
    ("training", "epochs", "3", 0),
    ("training", "batch_size", True, -1),
    ("training", "learning_rate", "fast", 0.0),
    ("training", "warmup_steps", 1.5, -1),
    ("training", "warmup_ratio", "x", 1.5),
    ("training", "decay", 1, "cosin"),
    ("training", "weight_decay", "none", -0.1),
    ("training", "checkpoint_every", 2.5, 0),
    ("training", "keep_checkpoints", None, 0),
    ("training", "seed", 1.5, -1),
    ("training", "precision", 16, "bf16"),
    ("training", "strategy", 1, "gpu"),
    ("training", "class_weights", "balanced", {0: -1.0}),
    ("training", "head_dropout", "x", 1.0),
    ("training", "distillation_temperature", "hot", 0.0),
    ("training", "distillation_alpha", "x", 1.5),
    ("training", "sparsity", "half", 1.0),
    ("run", "run_dir", 3, None),
    ("run", "init_from", 3, None),
    ("run", "teacher", 3, None),
]
SECTIONS = {"model": ModelSection, "data": DataSection, "training": TrainingSection}


def _config(section, setting, value):
    values = {"data": {"files": ["x.txt"]}}
    if section == "run":
        values[setting] = value
    else:
        values.setdefault(section, {})[setting] = value
    return run_config_from_dict(values, "run.yaml")


def test_the_table_covers_every_setting():
    covered = {(section, setting) for section, setting, _, _ in CASES}
    declared = {(name, f.name) for name, cls in SECTIONS.items() for f in dataclasses.fields(cls)}
    declared |= {("run", f.name) for f in dataclasses.fields(RunConfig) if f.name not in SECTIONS}
    assert covered == declared


@pytest.mark.parametrize("section, setting, bad_type, _", CASES)
def test_a_wrong_type_names_the_setting_and_what_is_allowed(section, setting, bad_type, _):
    with pytest.raises(ValueError) as error:
        _config(section, setting, bad_type)
    message = str(error.value)
    assert message.startswith("run.yaml: ") and "\n" not in message
    named = f"{section}.{setting}={bad_type!r} is invalid: expected "
    assert named in message


@pytest.mark.parametrize(
    "section, setting, _, out_of_range", [c for c in CASES if c[3] is not None]
)
def test_a_value_out_of_range_is_refused(section, setting, _, out_of_range):
    with pytest.raises(ValueError) as error:
        _config(section, setting, out_of_range)
    message = str(error.value)
    assert message.startswith("run.yaml: ") and "\n" not in message
    assert "expected" in message or "Unknown preset" in message or "is empty" in message


def test_whole_floats_are_integers_and_fractions_are_refused():
    assert _config("training", "steps", 1e3).training.steps == 1000
    with pytest.raises(ValueError, match=r"training.steps=10.7 is invalid"):
        _config("training", "steps", 10.7)


def test_near_misses_get_a_suggestion():
    with pytest.raises(
        ValueError,
        match=r"expected one of \('linear', 'cosine', 'constant'\)\. "
        r"Did you mean 'cosine'\?",
    ):
        _config("training", "decay", "cosin")


def test_yaml_reads_exponent_numbers_in_every_section(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: {preset: bert_tiny, overrides: {norm_epsilon: 1e-5}}\n"
        "data: {files: [x.txt], validation_fraction: 5e-1}\n"
        "training: {learning_rate: 3e-4, weight_decay: 1E-2, steps: 2e3}\n"
    )
    run = load_run_config(path)
    assert run.model.overrides["norm_epsilon"] == 1e-5
    assert run.data.validation_fraction == 0.5
    assert (run.training.learning_rate, run.training.weight_decay) == (3e-4, 1e-2)
    assert run.training.steps == 2000


@pytest.mark.parametrize(
    "suffix, text, where",
    [
        (".yaml", "data:\n  files: [x.txt\ntraining: {steps: 3}\n", ", line 3, column 9"),
        (".yaml", "data: {files: [x.txt]}\n  training: 3\n", ", line 2, column 3"),
        (
            ".json",
            '{"data": {"files": ["x.txt"]},\n "training": {steps: 3}}',
            ", line 2, column 15",
        ),
    ],
)
def test_syntax_errors_name_file_line_and_column(tmp_path, suffix, text, where):
    path = tmp_path / f"run{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError) as error:
        load_run_config(path)
    message = str(error.value)
    assert message.startswith(f"{path}{where}: ") and "\n" not in message
