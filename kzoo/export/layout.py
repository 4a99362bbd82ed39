"""TF Serving's directory layout: `<base>/<name>/<version>/`, integer versions, never
overwritten."""

import errno
import os
import re
from pathlib import Path

# One path segment that TF Serving's config, its REST URLs and every file system take as it is.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_model_name(name) -> str:
    """`name` if it is one safe path segment (letters, digits, `.`, `_`, `-`, not starting with a
    dot); otherwise ValueError. Refuses `../x`, absolute paths and the empty name."""
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"model name {name!r} is invalid: use one path segment of letters, "
            "digits, '.', '_' and '-', starting with a letter or digit (e.g. sst2)."
        )
    return name


def next_version_dir(model_dir) -> Path:
    """The directory for the next integer version under `model_dir` (1 for a new model)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return model_dir / str(max(versions, default=0) + 1)


def publish(staging_dir, version_dir) -> Path:
    """Moves a finished export into place in one rename, so servers never see half a model.

    Versions are never overwritten: when another export took `version_dir` meanwhile (two
    `kzoo export` runs at once), this one takes the next free version. Returns where it went.
    """
    version_dir = Path(version_dir)
    while True:
        try:
            # rename(2) refuses a non-empty target, and every published version is non-empty
            os.rename(staging_dir, version_dir)
            return version_dir
        except OSError as error:
            if error.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            version_dir = next_version_dir(version_dir.parent)


def write_models_config(base_dir, names, batching=True, base_path="/models") -> Path:
    """Writes `models.config` (one entry per model, found under `base_path` as the server sees it)
    and, with `batching`, `batching.config`."""
    base_dir = Path(base_dir)
    for name in names:
        check_model_name(name)
    entries = "".join(
        f"  config {{\n    name: '{name}'\n    base_path: '{base_path}/{name}'\n"
        "    model_platform: 'tensorflow'\n"
        f"    model_version_policy {{ latest {{ num_versions: 2 }} }}\n  }}\n"
        for name in names
    )
    (base_dir / "models.config").write_text(f"model_config_list {{\n{entries}}}\n")
    if batching:
        (base_dir / "batching.config").write_text(
            "max_batch_size { value: 32 }\nbatch_timeout_micros { value: 2000 }\n"
            "max_enqueued_batches { value: 100 }\nnum_batch_threads { value: 4 }\n"
            "allowed_batch_sizes: 1\nallowed_batch_sizes: 8\nallowed_batch_sizes: 32\n"
        )
    return base_dir / "models.config"
