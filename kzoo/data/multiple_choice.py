"""Multiple-choice inputs: each context paired with each of its choices, (batch, choices, length)."""

import numpy as np
import tensorflow as tf


def encode_choices(encode, contexts, choices) -> dict:
    """Packs `[CLS] context [SEP] choice [SEP]` for every choice; returns arrays (batch, choices, length).

    `encode` is a `TextPairEncoder`; `choices` holds the same number of strings for each context.

    Example:
        >>> x = encode_choices(TextPairEncoder(tokenizer, 64), ["He poured the milk"],
        ...                    [["into the glass.", "into the sky."]])
        >>> x["token_ids"].shape
        (1, 2, 64)
    """
    counts = {len(c) for c in choices}
    if len(counts) != 1 or len(contexts) != len(choices):
        raise ValueError(f"every context needs the same number of choices; got {len(contexts)} contexts with "
                         f"choice counts {sorted(counts)}. Pad short lists with a never-right choice.")
    per_choice = counts.pop()
    pairs = encode(tf.constant(np.repeat(np.asarray(contexts, object), per_choice).astype(str)),
                   tf.constant([c for row in choices for c in row]))
    return {k: np.asarray(v).reshape(len(contexts), per_choice, -1) for k, v in pairs.items()}
