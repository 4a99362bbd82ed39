"""Pretraining and fine-tuning data built from real text samples (see tests/data/README.md)."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kzoo import data
from kzoo.data.tables import read_table
from kzoo.text import (
    SPECIAL_TOKENS,
    TextPairEncoder,
    learn_wordpiece_vocabulary,
    load_wordpiece,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tokenizer():
    return load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 1500))


@pytest.fixture(scope="module")
def nsp_examples(tokenizer):
    documents = data.tokenize_documents(
        data.read_documents(DATA / "wikitext2_sample.txt"), tokenizer
    )
    return data.make_nsp_examples(
        documents, 64, tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    )


def _masking(tokenizer, **options):
    ids = tokenizer.token_to_id
    return data.MaskingConfig(
        tokenizer.vocabulary_size(),
        ids("[MASK]"),
        tuple(ids(t) for t in SPECIAL_TOKENS),
        max_predictions=64,
        **options,
    )


def _masked(tokenizer, nsp_examples, **options):
    flags = data.continuation_flags(tokenizer.get_vocabulary())
    batches = data.mlm_nsp_batches(
        nsp_examples, _masking(tokenizer, **options), 64, flags, epochs=1, shuffle_buffer=0
    )
    return [tuple(tf.nest.map_structure(np.asarray, b)) for b in batches]


def test_masking_rates_are_within_statistical_bounds(tokenizer, nsp_examples):
    selected = masked = replaced = kept = candidates = 0
    specials = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
    for (x, y, w), start in zip(_masked(tokenizer, nsp_examples), range(0, 10**9, 64)):
        original = nsp_examples["token_ids"][start : start + 64]
        candidates += np.isin(original, specials, invert=True).sum()
        rows, cols = np.nonzero(w["mlm"])
        positions = x["mask_positions"][rows, cols]
        corrupted = x["token_ids"][rows, positions]
        selected += len(rows)
        masked += (corrupted == tokenizer.token_to_id("[MASK]")).sum()
        kept += (corrupted == y["mlm"][rows, cols]).sum()
        replaced = selected - masked - kept
    assert 0.14 <= selected / candidates <= 0.16
    assert 0.77 <= masked / selected <= 0.83
    assert 0.07 <= kept / selected <= 0.13  # 10% unchanged, plus random draws of the same token
    assert 0.07 <= replaced / selected <= 0.13


def test_special_tokens_are_never_masked(tokenizer, nsp_examples):
    specials = [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS]
    for x, y, w in _masked(tokenizer, nsp_examples):
        assert not np.isin(y["mlm"][w["mlm"] > 0], specials).any()


def test_whole_word_groups_are_masked_together(tokenizer, nsp_examples):
    continuation = np.asarray(data.continuation_flags(tokenizer.get_vocabulary()))
    checked = 0
    for (x, y, w), start in zip(
        _masked(tokenizer, nsp_examples, whole_word=True), range(0, 10**9, 64)
    ):
        original = nsp_examples["token_ids"][start : start + 64]
        for row in range(len(original)):
            chosen = set(x["mask_positions"][row][w["mlm"][row] > 0].tolist())
            for position in chosen:  # a chosen piece's neighbours in the same word are chosen too
                if position + 1 < 64 and continuation[original[row, position + 1]]:
                    assert position + 1 in chosen
                    checked += 1
                if continuation[original[row, position]]:
                    assert position - 1 in chosen
    assert checked > 20


def test_masks_are_dynamic_unless_static(tokenizer, nsp_examples):
    def two_epochs(static):
        flags = data.continuation_flags(tokenizer.get_vocabulary())
        batches = data.mlm_nsp_batches(
            nsp_examples,
            _masking(tokenizer),
            len(nsp_examples["nsp_label"]),
            flags,
            epochs=2,
            static_masking=static,
            shuffle_buffer=0,
        )
        return [np.asarray(x["mask_positions"]) for x, _, _ in batches]

    dynamic = two_epochs(False)
    assert not np.array_equal(dynamic[0], dynamic[1])
    static = two_epochs(True)
    np.testing.assert_array_equal(static[0], static[1])
    np.testing.assert_array_equal(two_epochs(False)[1], dynamic[1])  # reproducible


def test_nsp_pairs_are_balanced_and_well_packed(tokenizer, nsp_examples):
    labels = nsp_examples["nsp_label"]
    assert len(labels) > 100 and 0.4 <= labels.mean() <= 0.6
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    for ids, segments, mask in zip(
        nsp_examples["token_ids"], nsp_examples["segment_ids"], nsp_examples["padding_mask"]
    ):
        length = mask.sum()
        assert ids[0] == cls and ids[length - 1] == sep and (ids[:length] == sep).sum() == 2
        first_sep = int(np.argmax(ids == sep))
        assert (segments[: first_sep + 1] == 0).all() and (
            segments[first_sep + 1 : length] == 1
        ).all()


def test_longer_segment_is_truncated_first():
    from kzoo.data.nsp import truncate_pair

    a, b = truncate_pair(list(range(10)), list(range(3)), 8)
    assert (len(a), len(b)) == (5, 3) and a == [0, 1, 2, 3, 4]


def test_causal_lm_packing_loses_no_tokens(tokenizer):
    documents = data.read_documents(DATA / "wikitext2_sample.txt")[:20]
    end = tokenizer.token_to_id("[SEP]")
    stream = [t for doc in tokenizer(documents) for t in [*doc, end]]
    windows = list(data.causal_lm_windows(documents, tokenizer, 32, end).as_numpy_iterator())
    inputs = np.concatenate([w["token_ids"] for w in windows])
    labels = np.concatenate([w["labels"] for w in windows])
    assert len(stream) - len(inputs) <= 32  # only the final window is not used as input
    np.testing.assert_array_equal(inputs, stream[: len(inputs)])
    np.testing.assert_array_equal(labels, stream[1 : len(inputs) + 1])


def test_tfrecord_shards_round_trip(tmp_path, nsp_examples):
    data.write_records(nsp_examples, tmp_path / "mlm", num_shards=3)
    assert len(list((tmp_path / "mlm").glob("shard-*.tfrecord"))) == 3
    assert not list((tmp_path / "mlm").glob("*.tmp"))
    back = list(data.read_records(tmp_path / "mlm").as_numpy_iterator())
    assert len(back) == len(nsp_examples["nsp_label"])
    originals = {tuple(row) for row in nsp_examples["token_ids"]}
    assert {tuple(r["token_ids"]) for r in back} == originals
    assert back[0]["token_ids"].dtype == np.int32


def test_classification_reader_and_pair_packing(tokenizer):
    table = data.read_classification(DATA / "sst2_sample.tsv")
    assert len(table["text"]) == 400 and set(table["label"]) == {0, 1}
    train, validation = data.split_off(table, 0.1)
    assert (len(train["label"]), len(validation["label"])) == (360, 40)
    assert sorted(train["text"] + validation["text"]) == sorted(
        table["text"]
    )  # a partition of the rows
    encode = TextPairEncoder(tokenizer, 16)
    out = encode(
        tf.constant(["a very long first segment that keeps going on"]), tf.constant(["short one"])
    )
    ids = out["token_ids"].numpy()[0]
    assert (ids == tokenizer.token_to_id("[SEP]")).sum() == 2 and out[
        "padding_mask"
    ].numpy().sum() == 16


def test_mrpc_pairs_read_with_their_named_columns_despite_the_byte_order_mark():
    assert (DATA / "mrpc_sample.tsv").read_bytes().startswith(b"\xef\xbb\xbfQuality")
    table = data.read_classification(
        DATA / "mrpc_sample.tsv",
        text_column="#1 String",
        pair_column="#2 String",
        label_column="Quality",
    )
    assert len(table["text"]) == len(table["pair"]) == 200 and table["label"][:2].tolist() == [
        1,
        0,
    ]
    assert (
        table["text"][0].startswith("Amrozi accused his brother")
        and '" the witness "' in table["pair"][0]
    )


def test_table_errors_name_file_line_and_fix(tmp_path):
    missing = tmp_path / "m.tsv"
    missing.write_text("text\tlabel\nfine\t1\n")
    with pytest.raises(
        ValueError, match=r"m.tsv: missing column\(s\) \['sentence'\]; the file has"
    ):
        data.read_classification(missing)
    bad_label = tmp_path / "b.tsv"
    bad_label.write_text("sentence\tlabel\nfine\t1\nodd\t7\n")
    with pytest.raises(ValueError, match=r"b.tsv, row 3: label '7' is not in the label set"):
        data.read_classification(bad_label)
    jsonl = tmp_path / "j.jsonl"
    jsonl.write_text('{"sentence": "ok", "label": "1"}\n{"sentence": "bad"\n')
    with pytest.raises(ValueError, match="j.jsonl, line 2: not valid JSON"):
        data.read_classification(jsonl)
    not_object = tmp_path / "o.jsonl"
    not_object.write_text('{"sentence": "ok", "label": "1"}\n["bad", "1"]\n')
    with pytest.raises(ValueError, match="o.jsonl, line 2: a JSON list, not an object"):
        data.read_classification(not_object)


def test_a_field_over_the_csv_module_limit_is_a_valid_row(tmp_path):
    long_document = "word " * 40_000  # 200,000 characters: over csv's default 131,072
    path = tmp_path / "long.tsv"
    path.write_text(f"sentence\tlabel\n{long_document}\t1\nshort\t0\n")
    table = read_table(path, ["sentence", "label"])
    assert table["sentence"][0] == long_document and table["label"] == ["1", "0"]


def test_utf16_files_are_named_as_utf16(tmp_path):
    for name, encoded in [
        ("bom.tsv", "sentence\tlabel\nfine\t1\n".encode("utf-16")),
        ("le.tsv", "sentence\tlabel\nfine\t1\n".encode("utf-16-le")),
    ]:
        (tmp_path / name).write_bytes(encoded)
        with pytest.raises(
            ValueError, match=rf"{name}: the file is UTF-16, not UTF-8.*iconv -f utf-16"
        ):
            data.read_classification(tmp_path / name)


def test_a_directory_where_a_file_belongs_is_named(tmp_path):
    with pytest.raises(ValueError, match="is a directory; give the path of a text file"):
        data.read_classification(tmp_path)
