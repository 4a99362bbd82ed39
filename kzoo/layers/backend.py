"""Which runtime executes the graph being built, for the few places that pick a faster form by
measurement."""

import functools

import keras


def tensorflow_without_xla():
    """True on the TensorFlow backend outside XLA (`tf.function(jit_compile=True)`): each op then
    runs as its own oneDNN or TensorFlow kernel, and XLA's fusions do not apply."""
    if keras.backend.backend() != "tensorflow":
        return False
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.ops import control_flow_util

    # tf.function(jit_compile=True) marks the graph it traces with an XLA context; tf.function
    # itself
    # checks it this way.
    return not control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph())


@functools.cache
def xla_compiled(fn):
    """`fn` (a `keras.ops` function of tensors) as one XLA-compiled function on TensorFlow, whose
    elementwise ops XLA fuses into single passes over memory; `fn` itself on other backends.

    Example:
        >>> xla_compiled(lambda x: x * 2 + 1)(ops.ones((2,)))  # [3., 3.]
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    return tf.function(fn, jit_compile=True)


@functools.cache
def xla_fused(fn):
    """`fn` (a `keras.ops` function of tensors) run as one XLA-compiled kernel, and its gradient as
    another, on TensorFlow; `fn` itself on other backends (JAX compiles whole steps anyway).

    Why: TensorFlow runs each elementwise op of a GELU or a LayerNorm as its own pass over memory.
    On the 2-core CPU, forward and backward over a (2048, 2048) tanh-GELU take 13.2 ms op by op and
    4.3 ms fused; a (2048, 512) LayerNorm 3.3 and 2.4 ms. The backward kernel recomputes `fn`'s
    elementwise forward inside itself rather than keeping its intermediates. Callers use it for
    training only: a serving graph must hold plain TensorFlow ops. (An attention softmax is not
    worth it: XLA's softmax is slower than oneDNN's, 12.1 against 8.3 ms for a GPT layer's.)

    Example:
        >>> fused_gelu = xla_fused(keras.activations.gelu)
        >>> fused_gelu(ops.ones((2, 3))).shape
        (2, 3)
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf

    forward = xla_compiled(fn)

    @tf.function(jit_compile=True)
    def backward(inputs, upstream):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            outputs = fn(*inputs)
        return tape.gradient(outputs, inputs, upstream)

    @tf.custom_gradient
    def fused(*inputs):
        return forward(*inputs), lambda upstream: backward(inputs, upstream)

    # Variables are read before the custom gradient, which would otherwise have to differentiate
    # them itself.
    return lambda *inputs: fused(*(tf.convert_to_tensor(t) for t in inputs))


def unfused_product(product):
    """`product` (a matrix product) behind an optimisation barrier when TensorFlow compiles it with
    XLA for the CPU, so that the bias added next is not fused into it; unchanged elsewhere.

    Why: XLA:CPU fuses a matrix-vector product with the add that follows into one kernel of its own
    code, which runs on one core; a product left alone runs as Eigen's contraction on every core.
    Decoding one row of a 6L/512 GPT on 2 AVX2 cores, each weight matrix is such a product: the
    4 MB feed-forward ones took 0.38 ms fused and 0.26 ms apart, and the decode went from 88 to
    115 tokens/s. The barrier works by keeping the product's reshape (a bitcast) between it and the
    add through XLA's simplifier (see `not_hoisted`). GPUs fuse a bias into the matrix product's own
    epilogue, so compiling for a GPU keeps the fusion.
    """
    if keras.backend.backend() != "tensorflow" or tensorflow_without_xla():
        return product
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        return product
    return not_hoisted(product)[0]


def not_hoisted(*tensors):
    """`tensors` unchanged, behind an optimisation barrier when TensorFlow compiles with XLA, so
    that XLA's simplifier and loop-invariant code motion do not move work across it (XLA removes the
    barrier before it fuses). Its gradient is the identity (TensorFlow registers none).

    Why: inside the decode loop XLA moves the float32 conversion of the loop-invariant screen table
    before the loop, which brings back a float32 table to read every step (measured with a bfloat16
    table: 10.6 ms a step with the conversion hoisted, 4.1 ms kept in the loop, 7.1 ms in float32).
    """
    if keras.backend.backend() != "tensorflow" or tensorflow_without_xla():
        return tensors
    import tensorflow as tf
    from tensorflow.compiler.tf2xla.python import xla  # no public API exposes the barrier

    @tf.custom_gradient
    def barrier(*inputs):
        return tuple(xla.optimization_barrier(*inputs)), lambda *upstream: upstream

    return barrier(*tensors)


def stateless_categorical(logits, seed, counter):
    """One token id per row of `logits` (int32), drawn as a pure function of `(seed, counter)`:
    the same request seed gives the same draws whatever other requests run at the same moment.

    Why: Keras's random ops take a seed only as a Python int or a `SeedGenerator`, whose state is
    one variable that concurrent requests would share and reassign; each backend's stateless op
    takes the seed as a tensor instead.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        # Gumbel-max, which draws from the same distribution as `stateless_categorical`: that op
        # (StatelessMultinomial) has no XLA:CPU kernel, and one row decodes under XLA.
        key = tf.stack([tf.cast(seed, tf.int64), tf.cast(counter, tf.int64)])
        uniform = tf.random.stateless_uniform(tf.shape(logits), key, minval=1e-20, maxval=1.0)
        return tf.argmax(logits - tf.math.log(-tf.math.log(uniform)), -1, output_type=tf.int32)
    if backend == "jax":
        import jax

        key = jax.random.fold_in(jax.random.PRNGKey(seed), counter)
        return jax.random.categorical(key, logits, axis=-1).astype("int32")
    raise NotImplementedError(
        f"sampling is implemented for the tensorflow and jax backends, not "
        f"{backend!r}; set KERAS_BACKEND to one of them."
    )
