"""CoNLL-2003 NER files → word-piece inputs whose labels sit on each word's first piece."""

import numpy as np

from kzoo.data.documents import read_text

CONLL_LABELS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC")


def iob1_to_iob2(tags):
    """IOB1 (B- only between adjacent entities of one type) → IOB2 (every entity starts with B-)."""
    out = []
    for i, tag in enumerate(tags):
        if tag.startswith("I-") and (i == 0 or tags[i - 1] == "O" or tags[i - 1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        out.append(tag)
    return out


def read_conll(path, column=-1):
    """(sentences as word lists, IOB2 tag lists) from a CoNLL file; -DOCSTART- lines are skipped."""
    sentences, tags, words, labels = [], [], [], []
    for number, line in enumerate(read_text(path).splitlines() + [""], 1):
        if not line.strip() or line.startswith("-DOCSTART-"):
            if words:
                sentences.append(words)
                tags.append(iob1_to_iob2(labels))
            words, labels = [], []
            continue
        fields = line.split()
        if len(fields) < 2:
            raise ValueError(f"{path}, line {number}: expected 'word ... tag' columns, got {line!r}.")
        words.append(fields[0])
        labels.append(fields[column])
    unknown = sorted({t for sentence in tags for t in sentence} - set(CONLL_LABELS))
    if unknown:
        raise ValueError(f"{path}: tags {unknown} are not in the label set {list(CONLL_LABELS)}.")
    return sentences, tags


def align_labels(sentences, tags, tokenizer, sequence_length, label_names=CONLL_LABELS) -> dict:
    """Packs `[CLS] pieces [SEP]`; a word's label goes to its first piece, the other pieces and
    the special tokens get weight 0 (ignored by the loss). Words past the length are truncated.
    Also returns `word_index` (the word each labelled position belongs to, -1 elsewhere)."""
    index = {name: i for i, name in enumerate(label_names)}
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    n = len(sentences)
    arrays = {k: np.zeros((n, sequence_length), np.int32) for k in ("token_ids", "segment_ids", "padding_mask",
                                                                     "labels")}
    arrays["label_weights"] = np.zeros((n, sequence_length), np.float32)
    arrays["word_index"] = np.full((n, sequence_length), -1, np.int32)
    pieces = _pieces_per_word([w for s in sentences for w in s], tokenizer)
    start = 0
    for row, (words, word_tags) in enumerate(zip(sentences, tags)):
        ids, position = [cls], 1
        for w, (word_pieces, tag) in enumerate(zip(pieces[start:start + len(words)], word_tags)):
            word_pieces = word_pieces or [tokenizer.token_to_id("[UNK]")]
            if position + len(word_pieces) > sequence_length - 1:
                break
            arrays["labels"][row, position] = index[tag]
            arrays["label_weights"][row, position] = 1.0
            arrays["word_index"][row, position] = w
            ids += word_pieces
            position += len(word_pieces)
        start += len(words)
        ids.append(sep)
        arrays["token_ids"][row, :len(ids)] = ids
        arrays["padding_mask"][row, :len(ids)] = 1
    return arrays


def _pieces_per_word(words, tokenizer):
    ids = tokenizer(words)
    return ids.to_list() if hasattr(ids, "to_list") else [list(map(int, x)) for x in ids]
