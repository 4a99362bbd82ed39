"""The README's Python examples run as written, in reading order, in one fresh process.

Fenced ``python`` blocks share one namespace, as in a notebook session started at the repository
root. The working directory is a scratch folder that links the repository's ``kzoo/``, ``tests/``
and ``tools/``, so the examples read the package's embedded data and the committed samples by the
paths the README gives, and write their runs and vocabularies into the scratch folder. A block
preceded by ``<!-- readme-test: skip: why -->`` is not run (one that needs a live server); the
reason is required.
"""

import dataclasses
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^ *```(\w+)\s*$")
SKIP = re.compile(r"<!-- readme-test: skip: (\S.{9,}?) -->")
LINKED = ("kzoo", "tests", "tools")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block of README.md: its language, text, first line number and skip reason."""

    language: str
    text: str
    line: int
    skip: str | None


def readme_blocks(path=ROOT / "README.md"):
    """Every fenced block of the README, indented ones (inside list items) included."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        language = opening.group(1)
        end = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == "```")
        body = textwrap.dedent("\n".join(lines[i + 1:end]))
        previous = lines[i - 1] if i else ""
        skip = SKIP.search(previous)
        blocks.append(Block(language, body, i + 2, skip.group(1) if skip else None))
        i = end + 1
    return blocks


RUNNER = """
import sys, traceback
blocks = {blocks!r}
namespace = {{"__name__": "__main__"}}
for line, text in blocks:
    try:  # padded so a traceback's line numbers are README.md's own
        exec(compile("\\n" * (line - 1) + text, "README.md", "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        sys.exit("README python block at line %d failed" % line)
"""


def _workspace(tmp_path):
    for name in LINKED:
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def _environment():
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def test_every_skip_marker_is_well_formed_and_rare():
    """A marker that does not parse, or sits away from a fence, would skip nothing silently."""
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines[:-1], start=1):
        if "readme-test" in line:
            assert SKIP.fullmatch(line.strip()), f"README.md:{number}: malformed marker {line!r}"
            assert FENCE.match(lines[number]), f"README.md:{number}: marker not above a fence"
    blocks = readme_blocks()
    assert len(blocks) > 40
    assert sum(block.skip is not None for block in blocks) < 3  # skipping is the exception


def test_readme_python_examples_run_in_reading_order(tmp_path):
    """Every Python block not marked skip runs, in order, in one fresh process."""
    python_blocks = [(block.line, block.text) for block in readme_blocks()
                     if block.language == "python" and not block.skip]
    assert len(python_blocks) > 25
    done = subprocess.run([sys.executable, "-c", RUNNER.format(blocks=python_blocks)],
                          cwd=_workspace(tmp_path), env=_environment(), capture_output=True,
                          text=True, timeout=1500, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + "\n" + done.stderr[-5000:]
