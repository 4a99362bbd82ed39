"""TSV / CSV / JSONL readers with errors that name the file, the line and the fix."""

import csv
import io
import json
from pathlib import Path

from kzoo.data.documents import read_text


def read_table(path, columns) -> dict[str, list[str]]:
    """Reads the named columns of a TSV, CSV or JSONL file (chosen by extension)."""
    path = Path(path)
    text = read_text(path)
    if path.suffix in (".jsonl", ".json"):
        rows = [
            _json_row(path, number, line)
            for number, line in enumerate(text.splitlines(), 1)
            if line.strip()
        ]
        first_data_line = 1
    else:
        rows = _csv_rows(path, text)
        first_data_line = 2
    if not rows:
        raise ValueError(
            f"{path}: no data rows; the file needs a header line and at least one row."
        )
    missing = [c for c in columns if c not in rows[0]]
    if missing:
        raise ValueError(
            f"{path}: missing column(s) {missing}; the file has {sorted(rows[0])}. "
            f"Name the right columns in the reader arguments."
        )
    for number, row in enumerate(rows, first_data_line):
        for column in columns:
            if row.get(column) is None:
                raise ValueError(
                    f"{path}, line {number}: no value for column {column!r}; "
                    f"every row needs all of {list(columns)}."
                )
    return {c: [row[c] for row in rows] for c in columns}


def _csv_rows(path, text) -> list[dict]:
    delimiter = "," if path.suffix == ".csv" else "\t"
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    # The csv module refuses fields over 128 KiB; a long document is a valid row (the tokenizer
    # truncates it to the sequence length), so only the whole file bounds a field.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    return list(csv.DictReader(io.StringIO(text), delimiter=delimiter, quoting=quoting))


def _json_row(path, number, line):
    try:
        row = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}, line {number}: not valid JSON ({error.msg}); "
            f"JSONL needs one JSON object per line."
        ) from None
    if not isinstance(row, dict):
        raise ValueError(
            f"{path}, line {number}: a JSON {type(row).__name__}, not an object; "
            f'JSONL needs one object per line, e.g. {{"sentence": "...", "label": 1}}.'
        )
    return row


def label_ids(path, values, label_names) -> list[int]:
    """Maps label strings to indices of `label_names`, naming the line of any unknown label."""
    index = {name: i for i, name in enumerate(label_names)}
    for number, value in enumerate(values, 2):
        if value not in index:
            raise ValueError(
                f"{path}, row {number}: label {value!r} is not in the label set "
                f"{list(label_names)}; fix the row or pass the full label set."
            )
    return [index[v] for v in values]
