"""A run config given again for an existing run directory: compared with the saved run.json before
anything is written. Shape changes are refused; other changes need `--allow-changes FIELD`; the
accepted ones are appended to the run's history, and run.json keeps what the run was."""

import json
import time
from pathlib import Path

from kzoo.recipes.run_config import RUN_FILE, RunConfig, run_config_from_dict

HISTORY_FILE = "history.jsonl"
# Changes to the weights' shapes or meaning: the checkpoints could not be restored into them.
SHAPE_FIELDS = ("model.", "data.task", "data.vocab_size", "data.vocabulary")
# Changes that only extend or tidy a run.
FREE_FIELDS = ("training.steps", "training.keep_checkpoints")


def _flat(values: dict, prefix="") -> dict:
    flat = {}
    for key, value in values.items():
        if isinstance(value, dict) and value and not key.endswith("class_weights"):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def differences(saved: RunConfig, new: RunConfig) -> dict:
    """`{field: (saved value, new value)}` for every setting that differs, as dotted paths."""
    old, now = _flat(saved.to_dict()), _flat(new.to_dict())
    return {
        k: (old.get(k), now.get(k))
        for k in sorted(set(old) | set(now))
        if old.get(k) != now.get(k)
    }


def _is(field, names):
    return any(field == n or (n.endswith(".") and field.startswith(n)) for n in names)


def check_changes(new: RunConfig, directory, allowed=()) -> dict:
    """Compares `new` with the run.json saved in `directory` (the run's), if any. Raises
    ValueError naming each refused field and its two values; returns the accepted changes
    (empty for a new run)."""
    saved_file = Path(directory) / RUN_FILE
    if not saved_file.exists():
        return {}
    saved = run_config_from_dict(json.loads(saved_file.read_text()))
    changes = differences(saved, new)
    shape = {k: v for k, v in changes.items() if _is(k, SHAPE_FIELDS)}
    if shape:
        raise ValueError(
            f"{new.run_dir} holds a run with other weights' shapes: {_describe(shape)}. "
            "Its checkpoints cannot resume into this config; give it a new run_dir."
        )
    unasked = {k: v for k, v in changes.items() if not _is(k, FREE_FIELDS) and k not in allowed}
    if unasked:
        flags = " ".join(f"--allow-changes {k}" for k in unasked)
        raise ValueError(
            f"{new.run_dir} holds a run with other settings: {_describe(unasked)}. "
            f"To continue it with them, pass {flags}; or give this config a new run_dir."
        )
    return changes


def _describe(changes: dict) -> str:
    return "; ".join(f"{k}: saved {old!r}, given {new!r}" for k, (old, new) in changes.items())


def record_changes(run_dir, changes: dict):
    """Appends accepted changes to the run's history (one JSON line per continuation)."""
    if changes:
        entry = {"time": time.time(), "changes": {k: list(v) for k, v in changes.items()}}
        with open(Path(run_dir) / HISTORY_FILE, "a", encoding="utf-8") as history:
            history.write(json.dumps(entry) + "\n")
