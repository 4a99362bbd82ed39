"""Float32 greedy decoding that reads the vocabulary table in bfloat16, with the same tokens.

At one row a decode step is bound by reading the weights, and the 50257-row output table is most of
them (103 of 181 MB for a 6L/512 GPT). A bfloat16 copy halves that read: its rough logits, widened by
a bound on their rounding error, show which few rows can hold the float32 maximum; those rows are
rescored in float32. When the bound cannot prove the winner is among them, the step falls back to the
full float32 product, so the token is always float32 greedy's.
"""

from keras import ops

from kzoo.generation.processors import NEG_INF, first_max
from kzoo.layers.backend import not_hoisted

# bfloat16 keeps 8 significant bits, so rounding moves each weight by at most 2^-8 of itself; the
# extra 2^-12 covers float32 accumulation over the hidden size in both products (~512 * 2^-24).
ROUNDING = 2.0 ** -8 + 2.0 ** -12


def screen_of(table):
    """What a screened step reads: the table in bfloat16 and each row's float32 norm."""
    table = ops.cast(table, "float32")
    # The row sums as a product with ones: XLA reduces a 50257 × 512 table's rows in 64 ms, and
    # multiplies by a vector in 8 ms (the screen is built once per call, inside the compiled loop).
    squared_norms = ops.matmul(ops.square(table), ops.ones((ops.shape(table)[1], 1)))[:, 0]
    return ops.cast(table, "bfloat16"), ops.sqrt(squared_norms)


def screened_argmax(hidden, table, screen, process=lambda logits: logits, candidates=8):
    """`argmax(process(hidden @ transpose(table)))` per row, reading `table` (vocab, d) in bfloat16.

    `screen` is `screen_of(table)`. `process` maps logits (batch, vocab) to scores and must be
    non-decreasing in each token's own logit, as repetition penalties, banned n-grams and minimum
    lengths are (not top-k or top-p). Ties go to the lowest id, as in `ops.argmax`.

    Why it is exact: |h·w - h·bf16(w)| <= ROUNDING·|h|·|w| (Cauchy-Schwarz), so `process(rough +
    bound)` caps every token's score. If the best rescored candidate beats every cap outside the
    candidates, nothing outside can win; otherwise the full float32 product decides.

    Example:
        >>> screened_argmax(hidden, table, screen_of(table))  # == argmax(hidden @ table.T, -1)
    """
    copy, norms = screen
    copy, hidden = not_hoisted(copy, ops.cast(hidden, "float32"))
    rough = ops.matmul(hidden, ops.transpose(ops.cast(copy, "float32")))
    bound = ROUNDING * ops.sqrt(ops.sum(ops.square(hidden), axis=-1, keepdims=True)) * norms[None]
    upper = process(rough + bound)
    rows = ops.top_k(upper, candidates)[1]
    exact = ops.einsum("bd,bkd->bk", hidden, ops.take(ops.cast(table, "float32"), rows, axis=0))
    batch, vocabulary = ops.shape(rough)[0], ops.shape(rough)[1]
    positions = ops.stack([ops.repeat(ops.arange(batch), candidates), ops.reshape(rows, (-1,))], axis=1)
    scores = process(ops.scatter_update(ops.full((batch, vocabulary), NEG_INF), positions, ops.reshape(exact, (-1,))))
    # The cap of the rest, not the (k+1)-th top_k value: XLA keeps top_k as its fast TopK kernel
    # only when every use of it starts at 0 (with the (k+1)-th value it sorted the whole vocabulary).
    rest = ops.scatter_update(upper, positions, ops.full((batch * candidates,), NEG_INF))
    proven = ops.all(ops.max(scores, axis=-1) > ops.max(rest, axis=-1))

    def full_product():
        return process(ops.matmul(hidden, ops.transpose(ops.cast(table, "float32"))))

    return first_max(ops.cond(proven, lambda: scores, full_product))

