"""In-graph checks on serving requests: a bad request gets InvalidArgument naming the input and
the rule, and never reaches an op that could crash, hang or silently drop rows."""

import tensorflow as tf

from kzoo.generation.decode import REQUEST_RULES


def checked(tensors, checks):
    """`tensors` (a tuple) passed through only after `checks` (assert ops) have held."""
    with tf.control_dependencies(checks):
        return tuple(tf.identity(t) for t in tensors)


def same_batch(first, second, second_name="text_pair", first_name="text"):
    """`second` has one entry per entry of `first`."""
    return tf.debugging.assert_equal(
        tf.size(second),
        tf.size(first),
        message=f"{second_name} must have one entry per {first_name} (the batch sizes differ)",
    )


def _holds(condition, message):
    return tf.debugging.assert_equal(condition, True, message=message)


def generation_checks(method, temperature, top_k, top_p, max_new_tokens, limit, vocabulary_size):
    """The rules of a generate request's parameters (see README, "What a request may contain"):
    `GenerationConfig`'s own rules, plus the export's bounds on `top_k` and `max_new_tokens`."""
    values = {"temperature": temperature, "top_k": top_k, "top_p": top_p,
              "max_new_tokens": max_new_tokens}
    checks = [_holds(tf.reduce_any(method == tf.constant(["greedy", "sample"])),
                     "method must be greedy or sample")]
    checks += [_holds(holds(values[name]), f"{name} must be {allowed}")
               for name, (holds, allowed) in REQUEST_RULES.items()]
    checks += [_holds(top_k <= vocabulary_size, f"top_k must be <= {vocabulary_size}"),
               _holds(max_new_tokens <= limit, f"max_new_tokens must be <= {limit} (the room "
                      "the export leaves after the prompt)")]
    return checks
