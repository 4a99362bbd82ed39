"""Signatures that answer with character spans of the input text: NER entities and QA answers.

Both tokenize word by word (`kzoo.text.word_offsets`), so every piece maps back to a word of
the original string; entities and answers are whole words, cut from the request text.
"""

import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker

from kzoo.export.request_checks import checked, same_batch
from kzoo.export.signatures import TEXT, clean_text, model_call
from kzoo.text.encoder_inputs import packed_padding_mask
from kzoo.text.word_offsets import char_offsets, split_words, tokenize_words


def _pack(tokenizer, segments, sequence_length):
    """Encoder inputs for ragged id segments; the last segment is truncated first."""
    pad = tokenizer.token_to_id("[PAD]")
    packer = MultiSegmentPacker(
        sequence_length,
        start_value=tokenizer.token_to_id("[CLS]"),
        end_value=tokenizer.token_to_id("[SEP]"),
        pad_value=pad,
        truncate="waterfall",
    )
    token_ids, segment_ids = packer(segments)
    return {
        "token_ids": token_ids,
        "segment_ids": segment_ids,
        "padding_mask": packed_padding_mask(segments, sequence_length),
    }


def _shift_right(values, fill):
    return tf.concat([[fill], values], 0)[:-1]


def _position_in_row(ragged):
    """Each flat value's index within its row of a ragged (batch, n) tensor."""
    return tf.range(tf.size(ragged.flat_values, out_type=ragged.row_splits.dtype)) - tf.gather(
        ragged.row_starts(), ragged.value_rowids()
    )


def _word_pieces(tokenizer, text):
    """(word byte starts, word byte ends, pieces flattened per row, each piece's word index)."""
    words, starts, ends = split_words(text)
    pieces = tokenize_words(tokenizer, words)
    word_of_piece = tf.repeat(_position_in_row(words), pieces.row_lengths(axis=2).flat_values)
    flat = pieces.merge_dims(1, 2)
    return starts, ends, flat, flat.with_flat_values(word_of_piece)


def _word_offsets(offsets, rows, words):
    """Byte offsets of word `words[i]` of row `rows[i]`."""
    return tf.gather(offsets.flat_values, tf.gather(offsets.row_starts(), rows) + words)


def entity_spans(labels, starts, ends):
    """Groups per-word IOB2 labels (ragged, with byte offsets) into entities, by seqeval's rules:
    an entity starts at `B-X`, or at `I-X` after `O` or another type, and takes the `I-X` words
    after.

    Returns ragged (type, byte start, byte end) per row.
    """
    flat = labels.flat_values
    kinds = tf.strings.regex_replace(flat, "^[BI]-", "")
    inside = flat != "O"
    continues = (
        _shift_right(inside, False)
        & (_position_in_row(labels) > 0)
        & (_shift_right(kinds, "") == kinds)
    )
    begins = inside & (tf.strings.regex_full_match(flat, "B-.*") | ~continues)
    entity = tf.boolean_mask(tf.cumsum(tf.cast(begins, tf.int32)) - 1, inside)
    count = tf.reduce_sum(tf.cast(begins, tf.int32))

    def per_entity(values):
        return tf.RaggedTensor.from_value_rowids(
            values, tf.boolean_mask(labels.value_rowids(), begins), nrows=labels.nrows()
        )

    return (
        per_entity(tf.boolean_mask(kinds, begins)),
        per_entity(
            tf.math.unsorted_segment_min(
                tf.boolean_mask(starts.flat_values, inside), entity, count
            )
        ),
        per_entity(
            tf.math.unsorted_segment_max(tf.boolean_mask(ends.flat_values, inside), entity, count)
        ),
    )


def _spans(text, starts, ends):
    """Texts and character offsets of ragged byte spans into each row's text, padded with ""
    and -1."""
    rows = tf.gather(text, starts.value_rowids())
    begin, end = starts.flat_values, ends.flat_values
    return {
        "entity_texts": starts.with_flat_values(
            tf.strings.substr(rows, begin, end - begin)
        ).to_tensor(""),
        "entity_starts": starts.with_flat_values(char_offsets(rows, begin)).to_tensor(-1),
        "entity_ends": starts.with_flat_values(char_offsets(rows, end)).to_tensor(-1),
    }


def token_classifier_signatures(task, tokenizer, sequence_length, jit_compile=False) -> dict:
    """`serving_default`: text → `entity_labels`, `entity_texts`, `entity_starts`, `entity_ends`
    (character offsets, end exclusive), padded with "" and -1. Each word takes the label of its
    first piece; words past `sequence_length` tokens are not labelled."""
    label_names = tf.constant(task.label_names)
    run = model_call(task, jit_compile)

    def entities(text):
        text = clean_text(text)
        starts, ends, pieces, word_of_piece = _word_pieces(tokenizer, text)
        predicted = tf.argmax(run(_pack(tokenizer, (pieces,), sequence_length)), -1)
        position, word, rows = (
            _position_in_row(pieces),
            word_of_piece.flat_values,
            pieces.value_rowids(),
        )
        first = ((position == 0) | (word != _shift_right(word, -1))) & (
            position < sequence_length - 2
        )
        rows, position, word = (tf.boolean_mask(x, first) for x in (rows, position, word))
        labels = tf.gather(label_names, tf.gather_nd(predicted, tf.stack([rows, position + 1], 1)))

        def per_word(values):
            return tf.RaggedTensor.from_value_rowids(
                values, rows, nrows=tf.shape(text, tf.int64)[0]
            )

        kinds, begin, end = entity_spans(
            per_word(labels),
            per_word(_word_offsets(starts, rows, word)),
            per_word(_word_offsets(ends, rows, word)),
        )
        return {"entity_labels": kinds.to_tensor(""), **_spans(text, begin, end)}

    return {"serving_default": tf.function(entities, input_signature=[TEXT])}


def _best_span(logits, in_context, band):
    """(start position, end position, p(start)·p(end)) of the best span inside the context, where
    `band` allows end ≥ start and caps the length."""

    def probabilities(x):
        return tf.nn.softmax(tf.where(in_context, tf.cast(x, tf.float32), -1e9))

    length = tf.shape(band)[0]
    scores = (
        probabilities(logits["start"])[:, :, None]
        * probabilities(logits["end"])[:, None, :]
        * band
    )
    flat = tf.reshape(scores, [-1, length * length])
    best = tf.argmax(flat, -1, output_type=tf.int32)
    return best // length, best % length, tf.reduce_max(flat, -1)


def question_answering_signatures(
    task,
    tokenizer,
    sequence_length,
    max_answer_length=30,
    max_question_length=64,
    jit_compile=False,
) -> dict:
    """`serving_default`: question, context → `answer`, `start`, `end` (character offsets in the
    context, end exclusive) and `score` (p(start) · p(end)), the best span of at most
    `max_answer_length` tokens. Questions keep at most `max_question_length` tokens (and at most
    half the sequence), contexts what is left of `sequence_length`; an empty
    context answers "" with offsets -1 and score 0."""
    length = sequence_length
    band = tf.linalg.band_part(tf.ones([length, length]), 0, max_answer_length - 1)
    run = model_call(task, jit_compile)
    max_question_length = min(max_question_length, length // 2)  # the context always keeps half

    def answer(question, context):
        rule = same_batch(question, context, "context", "question")
        question, context = checked((question, context), [rule])
        question_ids = tokenizer(clean_text(question))[:, :max_question_length]
        context = clean_text(context)
        starts, ends, pieces, word_of_piece = _word_pieces(tokenizer, context)
        logits = run(_pack(tokenizer, (question_ids, pieces), length))
        offset = tf.cast(question_ids.row_lengths(), tf.int32) + 2  # [CLS] question [SEP]
        kept = tf.minimum(tf.cast(pieces.row_lengths(), tf.int32), length - 1 - offset)
        position = tf.range(length)[None]
        in_context = (position >= offset[:, None]) & (position < (offset + kept)[:, None])

        first, last, score = _best_span(logits, in_context, band)
        first, last, found = first - offset, last - offset, kept > 0
        words = tf.pad(
            word_of_piece.to_tensor(0), [[0, 0], [0, 1]]
        )  # ≥ 1 column even if no context has words

        def byte_offset(offsets, piece):
            word = tf.gather(
                words, tf.clip_by_value(piece, 0, tf.shape(words)[1] - 1), batch_dims=1
            )
            return tf.gather(tf.pad(offsets.to_tensor(0), [[0, 0], [0, 1]]), word, batch_dims=1)

        begin, end = byte_offset(starts, first), byte_offset(ends, last)
        return {
            "answer": tf.where(found, tf.strings.substr(context, begin, end - begin), ""),
            "start": tf.where(found, char_offsets(context, begin), -1),
            "end": tf.where(found, char_offsets(context, end), -1),
            "score": tf.where(found, score, 0.0),
        }

    spec = [
        tf.TensorSpec([None], tf.string, name="question"),
        tf.TensorSpec([None], tf.string, name="context"),
    ]
    return {"serving_default": tf.function(answer, input_signature=spec)}
