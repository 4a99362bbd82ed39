"""In-graph checks on serving requests: a bad request gets InvalidArgument naming the input and
the rule, and never reaches an op that could crash, hang or silently drop rows."""

import tensorflow as tf


def checked(tensors, checks):
    """`tensors` (a tuple) passed through only after `checks` (assert ops) have held."""
    with tf.control_dependencies(checks):
        return tuple(None if t is None else tf.identity(t) for t in tensors)


def same_batch(first, second, second_name="text_pair", first_name="text"):
    """`second` has one entry per entry of `first`."""
    return tf.debugging.assert_equal(
        tf.size(second),
        tf.size(first),
        message=f"{second_name} must have one entry per {first_name} (the batch sizes differ)",
    )


def in_range(value, name, low, high, rule):
    """`low <= value <= high` for a scalar request input; `rule` says it in words."""
    return tf.debugging.assert_equal(
        tf.logical_and(value >= low, value <= high), True, message=f"{name} must be {rule}"
    )


def generation_checks(method, temperature, top_k, top_p, max_new_tokens, limit, vocabulary_size):
    """The rules of a generate request's parameters (see README, "What a request may contain")."""
    return [
        tf.debugging.assert_equal(
            tf.reduce_any(method == tf.constant(["greedy", "sample"])),
            True,
            message="method must be greedy or sample",
        ),
        tf.debugging.assert_equal(
            tf.math.is_finite(temperature) & (temperature > 0),
            True,
            message="temperature must be finite and > 0",
        ),
        in_range(top_k, "top_k", 0, vocabulary_size, f"in [0, {vocabulary_size}] (0 = off)"),
        tf.debugging.assert_equal(
            tf.math.is_finite(top_p) & (top_p > 0) & (top_p <= 1),
            True,
            message="top_p must be in (0, 1]",
        ),
        in_range(max_new_tokens, "max_new_tokens", 1, limit, f"in [1, {limit}]"),
    ]
