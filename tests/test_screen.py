"""The int8 vocabulary screen: float32 greedy's tokens, proven or recomputed in full."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kzoo.convert import load_huggingface
from kzoo.generation import Generator
from kzoo.generation.processors import repetition_penalty
from kzoo.generation.screen import screen_of, screened_argmax

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_outputs.npz")


def _screened(hidden, table, process=lambda logits: logits, candidates=16, xla=True):
    run = tf.function(lambda h: screened_argmax(h, table, screen_of(table), process, candidates), jit_compile=xla)
    return run(tf.constant(hidden)).numpy()


@pytest.mark.parametrize("xla", [True, False])
def test_screened_tokens_equal_float32_argmax_with_and_without_a_penalty(xla):
    rng = np.random.default_rng(0)
    # Rows of very different norms, and hidden states near a few rows, give close races at the top.
    table = (rng.normal(size=(3000, 64)) * rng.uniform(0.1, 3.0, size=(3000, 1))).astype("float32")
    hidden = (table[rng.integers(0, 3000, 48)] + rng.normal(size=(48, 64))).astype("float32")
    logits = hidden @ table.T
    np.testing.assert_array_equal(_screened(hidden, table, xla=xla), logits.argmax(-1))
    seen = tf.constant(rng.random((48, 3000)) < 0.3)
    penalised = repetition_penalty(logits, seen, 1.5).numpy()
    process = lambda scores: repetition_penalty(scores, seen, 1.5)  # noqa: E731
    np.testing.assert_array_equal(_screened(hidden, table, process, xla=xla), penalised.argmax(-1))


@pytest.mark.parametrize("rows", [
    # int8 ranks row 0 above row 1 although row 1's float32 logit is higher.
    [[1.0, 1.0], [1.0 + 2 ** -7, 0.5]],
    # The same, and row 0's exact logit also beats row 1's rough one, so only the bound stops the
    # screen from declaring row 0 the winner.
    [[1.0, 1.0], [1.0 + 2 ** -8, 0.5]],
])
def test_screen_recomputes_in_float32_when_int8_cannot_rank_the_rows(rows):
    table = np.zeros((50, 8), "float32")
    table[:2, :2] = rows
    table[2:, 2] = 1.0
    hidden = np.array([[4.0] + [0.0] * 7], "float32")
    quantized, scale, _ = (np.asarray(t) for t in screen_of(table))
    rough, exact = hidden @ (quantized * scale[:, None]).T, hidden @ table.T
    assert rough[0, 0] > rough[0, 1] and exact[0, 1] > exact[0, 0]
    assert list(_screened(hidden, table, candidates=1)) == [1]


def test_single_row_float32_greedy_is_screened_and_keeps_the_reference_ids():
    gpt2 = load_huggingface(DATA / "hf_tiny_gpt2")[0]
    ids, mask = REF["gpt2_prompt"].astype("int32"), REF["gpt2_prompt_mask"].astype("int32")
    length = int(mask[1].sum())
    single = ids[1:, -length:], mask[1:, -length:]
    screened = Generator(gpt2)
    output = screened.generate_ids(*single, max_new_tokens=12).numpy()
    np.testing.assert_array_equal(output[0, length:], REF["gpt2_greedy"][1, ids.shape[1]:])
    graph = next(iter(screened._compiled.values())).get_concrete_function().graph.as_graph_def()
    nodes = [*graph.node, *(node for function in graph.library.function for node in function.node_def)]
    casts = {node.attr["DstT"].type for node in nodes if node.op == "Cast"}
    assert tf.int8.as_datatype_enum in casts  # the screen ran: it quantizes the table to int8
    penalised = dict(max_new_tokens=12, repetition_penalty=1.3, no_repeat_ngram_size=2)
    np.testing.assert_array_equal(screened.generate_ids(*single, **penalised),
                                  Generator(gpt2, screen=False).generate_ids(*single, **penalised))


def test_screened_ties_go_to_the_lowest_id_whatever_order_the_candidates_come_in():
    table = np.zeros((50, 8), "float32")
    table[3, :2], table[5, :2] = [1.0, 0.5], [1.0, 0.0]  # the same logit for this hidden state
    table[6:, 2] = 1.0
    hidden = np.array([[4.0] + [0.0] * 7], "float32")
    quantized, scale, error = (np.asarray(t) for t in screen_of(table))
    caps = hidden @ (quantized * scale[:, None]).T + 4.0 * error
    assert caps[0, 5] > caps[0, 3]  # int8 rounds row 5 up more: it leads the candidates
    assert list(_screened(hidden, table, candidates=2)) == [3] == list((hidden @ table.T).argmax(-1))
