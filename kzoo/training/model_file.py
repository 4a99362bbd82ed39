"""`model.keras` in a run directory: written atomically, and a damaged one named as damaged."""

import os
import zipfile
from pathlib import Path

MODEL_FILE = "model.keras"


def save_model_file(model, directory) -> Path:
    """Writes `directory/model.keras` through a temporary file and a rename, so a kill at any
    moment leaves the previous file or the new one, never a truncated one."""
    path = Path(directory) / MODEL_FILE
    partial = path.with_name(f".partial.{MODEL_FILE}")  # Keras insists on the .keras suffix
    model.save(partial)
    os.replace(partial, path)
    return path


def is_damaged(path) -> bool:
    """True for a model.keras that is not a whole zip archive (a save cut short, a partial
    copy). Keras itself reports such a file as "File not found"."""
    return Path(path).exists() and not zipfile.is_zipfile(path)
