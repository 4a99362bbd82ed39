"""Which runtime executes the graph being built, for the few places that pick a faster form by measurement."""

import keras


def tensorflow_without_xla():
    """True on the TensorFlow backend outside XLA (`tf.function(jit_compile=True)`): each op then runs
    as its own oneDNN or TensorFlow kernel, and XLA's fusions do not apply."""
    if keras.backend.backend() != "tensorflow":
        return False
    from tensorflow.python.framework import ops as tf_ops
    from tensorflow.python.ops import control_flow_util

    # tf.function(jit_compile=True) marks the graph it traces with an XLA context; tf.function itself
    # checks it this way.
    return not control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph())
