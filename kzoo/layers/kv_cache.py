"""Writing new keys and values into a preallocated cache, in place where the backend allows."""

from keras import ops

from kzoo.layers.backend import tensorflow_without_xla


def write_cache(cache, update, index, in_place=False):
    """`cache[:, :, index:index + T] = update` for a (batch, heads, max_length, head_size) cache and a
    (batch, heads, T, head_size) update; returns the new cache.

    `ops.slice_update` is out of place on TensorFlow graphs: every decode step copied each layer's
    whole cache (0.31 ms per layer and step at batch 8 × 144 positions, 6L/512 GPT). With
    `in_place=True`, TensorFlow's `InplaceUpdate` writes into the buffer of `cache` itself
    (0.03 ms), so `cache` must be a buffer nobody else reads: the decode loop's own cache, never
    `init_cache`'s zeros, which graph optimisation may share between layers. XLA has no such kernel
    and updates in place by itself, so compiled graphs and other backends use `ops.slice_update`.
    """
    update = ops.cast(update, cache.dtype)
    if not (in_place and tensorflow_without_xla()):
        return ops.slice_update(cache, [0, 0, index, 0], update)
    import tensorflow as tf

    batch, heads, length, size = (tf.shape(cache)[i] for i in range(4))
    steps = tf.shape(update)[2]
    rows = tf.range(batch * heads)[:, None] * length + index + tf.range(steps)[None, :]
    flat = tf.raw_ops.InplaceUpdate(x=tf.reshape(cache, (-1, size)), i=tf.reshape(rows, (-1,)),
                                    v=tf.reshape(update, (-1, size)))
    return tf.reshape(flat, tf.shape(cache))
