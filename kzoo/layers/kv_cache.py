"""Writing new keys and values into a preallocated cache, in place where the backend allows.

A layer's cache holds one row per (sequence, head): (batch · heads, max_length, head_size). Attention
reads it as (batch, heads, max_length, head_size), a reshape that costs nothing, but a loop that
carried that 4-D shape made XLA write each step's keys twice: its product merges the batch and head
dimensions, and XLA then duplicated the update for the merged and the loop-carried shapes and copied
the cache to feed both (12 copies and 6 extra updates a step, 1.2 of 8.4 ms for one row of a
6L/512 GPT; with rows carried as the product reads them, 0.3 ms).
"""

from keras import ops

from kzoo.layers.backend import tensorflow_without_xla


def write_cache(cache, update, index, in_place=False):
    """`cache[:, index:index + T] = update` for a (rows, max_length, head_size) cache and a
    (rows, T, head_size) update; returns the new cache.

    `ops.slice_update` is out of place on TensorFlow graphs: every decode step copied each layer's
    whole cache (0.31 ms per layer and step at batch 8 × 144 positions, 6L/512 GPT). With
    `in_place=True`, TensorFlow's `InplaceUpdate` writes into the buffer of `cache` itself
    (0.03 ms), so `cache` must be a buffer nobody else reads: the decode loop's own cache, never
    `init_cache`'s zeros, which graph optimisation may share between layers. XLA has no such kernel
    and updates in place by itself, so compiled graphs and other backends use `ops.slice_update`.
    """
    update = ops.cast(update, cache.dtype)
    if not (in_place and tensorflow_without_xla()):
        return ops.slice_update(cache, [0, index, 0], update)
    import tensorflow as tf

    count, length, size = (tf.shape(cache)[i] for i in range(3))
    rows = tf.range(count)[:, None] * length + index + tf.range(tf.shape(update)[1])[None, :]
    flat = tf.raw_ops.InplaceUpdate(
        x=tf.reshape(cache, (-1, size)),
        i=tf.reshape(rows, (-1,)),
        v=tf.reshape(update, (-1, size)),
    )
    return tf.reshape(flat, tf.shape(cache))


def sequence_rows(sequences, heads):
    """The cache rows of the sequences `sequences` (1-D int32): each one's `heads` consecutive
    rows, for reordering a cache by sequence (beam search)."""
    return ops.reshape(sequences[:, None] * heads + ops.arange(heads)[None, :], (-1,))
