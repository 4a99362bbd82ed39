"""Raw text files → documents → sentences, with errors that name the file and line."""

import re
from pathlib import Path

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def read_text(path) -> str:
    """Reads a UTF-8 text file; empty or non-UTF-8 files raise a ValueError naming the line."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: no such file; check the path (relative paths start at {Path.cwd()})."
        )
    if path.is_dir():
        raise ValueError(f"{path}: is a directory; give the path of a text file inside it.")
    raw = path.read_bytes()
    _refuse_utf16(path, raw)
    try:
        # A leading byte-order mark (GLUE's MRPC has one) would otherwise stick to the first column name.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise ValueError(
            f"{path}, line {line}: byte {raw[error.start]:#04x} is not valid UTF-8. "
            f"Re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8 {path.name}`)."
        ) from None
    if not text.strip():
        raise ValueError(f"{path}: the file is empty; give a file with text in it.")
    return text


def _refuse_utf16(path, raw: bytes):
    # Windows tools save "Unicode" text as UTF-16; decoding it as UTF-8 fails at byte 0xff
    # (with a byte-order mark) or yields NULs between letters (without one).
    marked = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    if marked or (len(raw) >= 4 and raw[:200].count(0) * 3 > min(len(raw), 200)):
        raise ValueError(
            f"{path}: the file is UTF-16, not UTF-8. Re-encode it as UTF-8 "
            f"(e.g. `iconv -f utf-16 -t utf-8 {path.name} > {path.stem}.utf8{path.suffix}`)."
        )


def read_documents(paths, one_document_per_file=False) -> list[str]:
    """Documents from text files: separated by blank lines, or one per file.

    Example: `read_documents(["wiki.valid.raw"])` → one string per paragraph.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    documents = []
    for path in paths:
        text = read_text(path)
        if one_document_per_file:
            documents.append(" ".join(text.split()))
        else:
            documents += [
                " ".join(block.split()) for block in re.split(r"\n\s*\n", text) if block.strip()
            ]
    return documents


def split_sentences(document: str) -> list[str]:
    """Splits after . ! ? when the next word starts like a sentence (capital, digit, quote)."""
    return [s for s in _SENTENCE_END.split(document) if s]
