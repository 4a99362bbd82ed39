"""Sentence-pair examples for next-sentence prediction, packed as `[CLS] A [SEP] B [SEP]`.

Label convention (as Hugging Face's BertForPreTraining): 0 = B follows A, 1 = B is random.
"""

import random

import numpy as np

from kzoo.data.documents import split_sentences

IS_NEXT, NOT_NEXT = 0, 1


def tokenize_documents(documents, tokenizer) -> list[list[list[int]]]:
    """Each document as a list of sentences, each sentence a list of token ids."""
    sentences = [split_sentences(doc) for doc in documents]
    flat = [s for doc in sentences for s in doc]
    ids = tokenizer(flat)
    ids = ids.to_list() if hasattr(ids, "to_list") else [list(map(int, x)) for x in ids]
    out, start = [], 0
    for doc in sentences:
        out.append([s for s in ids[start:start + len(doc)] if s])
        start += len(doc)
    return [doc for doc in out if doc]


def make_nsp_examples(documents, max_length, cls_id, sep_id, short_seq_prob=0.1, seed=0) -> dict:
    """BERT's sentence-pair recipe over tokenized documents (see `tokenize_documents`).

    Sentences are gathered into chunks of about `max_length - 3` tokens (shorter
    with probability `short_seq_prob`), each chunk is split into A and B at a
    random sentence boundary, and half the time B is replaced by text from
    another document. The longer segment is truncated first. Returns numpy
    arrays `token_ids`, `segment_ids`, `padding_mask` (n, max_length) and `nsp_label` (n,).
    """
    if len(documents) < 2:
        raise ValueError("NSP needs at least 2 documents to draw random next segments from; "
                         "separate documents with blank lines or give one file per document.")
    rng = random.Random(seed)
    pairs = []
    for index, document in enumerate(documents):
        pairs += _document_pairs(documents, index, max_length - 3, short_seq_prob, rng)
    return _pack(pairs, max_length, cls_id, sep_id)


def _document_pairs(documents, index, max_tokens, short_seq_prob, rng):
    target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
    pairs, chunk, length = [], [], 0
    sentences = documents[index]
    for i, sentence in enumerate(sentences):
        chunk.append(sentence)
        length += len(sentence)
        if i == len(sentences) - 1 or length >= target:
            pairs.append(_split_chunk(chunk, documents, index, rng))
            chunk, length = [], 0
            target = rng.randint(2, max_tokens) if rng.random() < short_seq_prob else max_tokens
    return pairs


def _split_chunk(chunk, documents, index, rng):
    # A one-sentence chunk is split inside the sentence, so that true
    # continuations stay half of the labels (BERT would force a random B here).
    if len(chunk) == 1:
        chunk = [chunk[0][: len(chunk[0]) // 2], chunk[0][len(chunk[0]) // 2:]]
    split = rng.randint(1, len(chunk) - 1)
    a = [t for s in chunk[:split] for t in s]
    if rng.random() < 0.5:
        other = rng.choice([i for i in range(len(documents)) if i != index])
        start = rng.randrange(len(documents[other]))
        return a, [t for s in documents[other][start:] for t in s], NOT_NEXT
    return a, [t for s in chunk[split:] for t in s], IS_NEXT


def _pack(pairs, max_length, cls_id, sep_id):
    n = len(pairs)
    token_ids = np.zeros((n, max_length), np.int32)
    segment_ids = np.zeros((n, max_length), np.int32)
    padding_mask = np.zeros((n, max_length), np.int32)
    labels = np.zeros((n,), np.int32)
    for row, (a, b, label) in enumerate(pairs):
        a, b = truncate_pair(list(a), list(b), max_length - 3)
        ids = [cls_id, *a, sep_id, *b, sep_id]
        token_ids[row, :len(ids)] = ids
        segment_ids[row, len(a) + 2:len(ids)] = 1
        padding_mask[row, :len(ids)] = 1
        labels[row] = label
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask,
            "nsp_label": labels}


def truncate_pair(a, b, max_tokens):
    """Drops tokens from the end of the longer segment until both fit in `max_tokens`."""
    while len(a) + len(b) > max_tokens:
        (a if len(a) > len(b) else b).pop()
    return a, b
