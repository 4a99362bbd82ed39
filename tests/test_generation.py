"""Generation: exact Hugging Face semantics, cache equivalence, stops, penalties, padding, seeds."""

import json
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo.convert import load_huggingface
from kzoo.generation import (
    GenerationConfig,
    Generator,
    beam_hypotheses,
    beam_search,
    left_pad,
    sample_or_greedy,
)
from kzoo.generation.processors import repetition_penalty, seen_tokens, top_k_filter, top_p_filter

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_outputs.npz")


@pytest.fixture(scope="module")
def gpt2():
    return load_huggingface(DATA / "hf_tiny_gpt2")[0]


def _prompt():
    return REF["gpt2_prompt"].astype("int32"), REF["gpt2_prompt_mask"].astype("int32")


def test_greedy_matches_transformers_on_a_left_padded_batch(gpt2):
    ids = sample_or_greedy(gpt2, *_prompt(), GenerationConfig(max_new_tokens=12))
    np.testing.assert_array_equal(ids, REF["gpt2_greedy"])


def test_beam_search_matches_transformers(gpt2):
    config = GenerationConfig(max_new_tokens=8, method="beam", num_beams=3, length_penalty=1.0)
    np.testing.assert_array_equal(beam_search(gpt2, *_prompt(), config), REF["gpt2_beam"])


def test_the_decode_loop_gives_the_reference_ids_under_jax_too():
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "jax_generation_worker.py")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = json.loads(result.stdout.strip().splitlines()[-1])
    assert output["backend"] == "jax"
    np.testing.assert_array_equal(output["greedy"], REF["gpt2_greedy"])
    np.testing.assert_array_equal(output["beam"], REF["gpt2_beam"])


def test_compiled_loop_gives_the_same_ids_and_does_not_retrace(gpt2):
    generator = Generator(gpt2)
    first = generator.generate_ids(*_prompt(), max_new_tokens=12)
    np.testing.assert_array_equal(first, REF["gpt2_greedy"])
    generator.generate_ids(
        np.array([[4, 5, 6, 7, 8, 9, 10]], "int32"), np.ones((1, 7), "int32"), max_new_tokens=12
    )
    compiled = next(iter(generator._compiled.values()))
    assert compiled.experimental_get_tracing_count() == 1


def test_bfloat16_generator_keeps_the_reference_ids_on_its_xla_and_onednn_paths(gpt2):
    generator = Generator(gpt2, precision="bfloat16")
    ids, mask = _prompt()
    batch = generator.generate_ids(ids, mask, max_new_tokens=12).numpy()
    np.testing.assert_array_equal(batch, REF["gpt2_greedy"])
    length = int(mask[1].sum())  # the unpadded row alone takes the one-row (XLA) path
    single = generator.generate_ids(
        ids[1:, -length:], mask[1:, -length:], max_new_tokens=12
    ).numpy()
    np.testing.assert_array_equal(single[0, length:], REF["gpt2_greedy"][1, ids.shape[1] :])
    assert sorted(plan.xla for _, plan in generator._compiled) == [False, True]
    assert {v.dtype for v in generator.decoder.weights} == {"bfloat16"}


def _masked(values):
    values = np.asarray(values)
    return values <= -1e29 if values.dtype != bool else values


@pytest.mark.parametrize(
    "name,apply",
    [
        ("top_k_5", lambda s: top_k_filter(s, 5)),
        ("top_p_0.8", lambda s: top_p_filter(s, 0.8)),
        ("top_k_5", lambda s: top_k_filter(s, tf.constant(5))),
    ],
)
def test_filters_keep_exactly_the_reference_candidate_sets(name, apply):
    ours, reference = np.asarray(apply(REF["scores"])), REF[name]
    np.testing.assert_array_equal(_masked(ours), np.isinf(reference))
    np.testing.assert_allclose(ours[~np.isinf(reference)], reference[~np.isinf(reference)])


def test_repetition_penalty_changes_logits_as_documented():
    seen = seen_tokens(REF["history"], np.ones_like(REF["history"]), 99)
    np.testing.assert_allclose(
        repetition_penalty(REF["scores"], seen, 1.3), REF["repetition_1.3"], rtol=1e-6
    )


def test_cached_generation_equals_uncached(gpt2):
    ids, mask = _prompt()
    cached = np.asarray(sample_or_greedy(gpt2, ids, mask, GenerationConfig(max_new_tokens=6)))
    tokens = ids.copy()
    for _ in range(6):  # the slow way: re-run the whole sequence for every token
        full_mask = np.concatenate([mask, np.ones((2, tokens.shape[1] - 5), "int32")], axis=1)
        logits = gpt2.logits(gpt2({"token_ids": tokens, "padding_mask": full_mask}))
        tokens = np.concatenate(
            [tokens, np.argmax(logits[:, -1], -1)[:, None].astype("int32")], axis=1
        )
    np.testing.assert_array_equal(cached, tokens)


def test_left_padded_rows_equal_single_prompts(gpt2):
    batch = np.asarray(sample_or_greedy(gpt2, *_prompt(), GenerationConfig(max_new_tokens=6)))
    alone = np.asarray(
        sample_or_greedy(
            gpt2,
            np.array([[11, 12, 13]], "int32"),
            np.ones((1, 3), "int32"),
            GenerationConfig(max_new_tokens=6),
        )
    )
    np.testing.assert_array_equal(batch[1, 2:], alone[0])


def test_stop_tokens_and_sequences_end_rows(gpt2):
    ids, mask = _prompt()
    free = np.asarray(sample_or_greedy(gpt2, ids, mask, GenerationConfig(max_new_tokens=12)))
    stop = int(free[1, 6])  # the second row's second new token
    ended = np.asarray(
        sample_or_greedy(
            gpt2,
            ids,
            mask,
            GenerationConfig(max_new_tokens=12, end_token_id=stop, pad_token_id=98),
        )
    )
    np.testing.assert_array_equal(ended[1, :7], free[1, :7])
    assert (ended[1, 7:] == 98).all()
    sequence = tuple(int(t) for t in free[1, 5:7])  # the second row's first two new tokens
    stopped = np.asarray(
        sample_or_greedy(
            gpt2,
            ids,
            mask,
            GenerationConfig(max_new_tokens=12, stop_sequences=(sequence,), pad_token_id=98),
        )
    )
    assert tuple(stopped[1, 5:7]) == sequence and (stopped[1, 7:] == 98).all()
    np.testing.assert_array_equal(
        stopped[0], free[0]
    )  # the other row never completes the sequence


def test_same_seed_same_sample_and_other_seed_differs(gpt2):
    generator = Generator(gpt2)
    options = dict(max_new_tokens=10, method="sample", temperature=1.5, top_k=40, top_p=0.95)
    a = generator.generate_ids(*_prompt(), seed=1, **options)
    b = generator.generate_ids(*_prompt(), seed=1, **options)
    c = generator.generate_ids(*_prompt(), seed=2, **options)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_one_row_samples_under_xla_from_its_seed_alone(gpt2):
    generator = Generator(gpt2)  # one row decodes under XLA, which must compile the sampler
    ids, mask = (x[:1] for x in _prompt())
    options = dict(max_new_tokens=10, method="sample", temperature=1.5)
    a, b, c = (np.asarray(generator.generate_ids(ids, mask, seed=s, **options)) for s in (7, 7, 8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stateless_sampling_follows_the_distribution():
    from kzoo.layers.backend import stateless_categorical

    probabilities = np.array([0.7, 0.2, 0.1, 0.0], "float32")
    logits = np.log(np.maximum(probabilities, 1e-30))
    logits[3] = -np.inf  # a filtered token is never drawn
    draws = np.asarray(stateless_categorical(np.tile(logits, (20000, 1)), 3, 0))
    assert (draws != 3).all()
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, probabilities, atol=0.015)
    np.testing.assert_array_equal(
        draws, np.asarray(stateless_categorical(np.tile(logits, (20000, 1)), 3, 0))
    )


def test_min_new_tokens_blocks_the_end_token(gpt2):
    ids, mask = _prompt()
    free = np.asarray(sample_or_greedy(gpt2, ids, mask, GenerationConfig(max_new_tokens=8)))
    end = int(free[0, 5])  # the first new token becomes the end token
    out = np.asarray(
        sample_or_greedy(
            gpt2, ids, mask, GenerationConfig(max_new_tokens=8, end_token_id=end, min_new_tokens=3)
        )
    )
    assert end not in out[0, 5:8]


def test_bad_settings_and_over_long_prompts_are_refused(gpt2):
    with pytest.raises(
        ValueError, match=r"GenerationConfig.top_p=1.5 is invalid: expected in \(0, 1\]"
    ):
        GenerationConfig(top_p=1.5)
    with pytest.raises(ValueError, match="exceeds the model's 64 positions"):
        Generator(gpt2).generate_ids(
            np.ones((1, 60), "int32"), np.ones((1, 60), "int32"), max_new_tokens=10
        )


def test_streaming_yields_the_same_tokens_as_generate_and_compiles_once():
    from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 400))
    keras.utils.set_random_seed(0)
    decoder = kzoo.build_decoder(
        "gpt2_small",
        vocab_size=tokenizer.vocabulary_size(),
        num_layers=1,
        hidden_size=32,
        num_heads=2,
        intermediate_size=64,
        max_positions=32,
    )
    generator = Generator(decoder, tokenizer)
    for prompt in ["the lobster", "the river flows into the sea", "a"]:
        pieces = list(generator.stream(prompt, max_new_tokens=5))
        ids = np.asarray(generator.generate_ids(*left_pad(tokenizer([prompt])), max_new_tokens=5))
        assert pieces == [tokenizer.id_to_token(int(t)) for t in ids[0, -5:]]
    ((start, step, _),) = generator._streaming.values()
    assert (start.experimental_get_tracing_count(), step.experimental_get_tracing_count()) == (
        1,
        1,
    )


@pytest.mark.parametrize("n", [2, 3])
def test_no_repeat_ngram_bans_exactly_the_reference_tokens(n):
    from kzoo.generation.processors import no_repeat_ngram

    history = REF["ngram_history"].astype("int32")
    ours = np.asarray(no_repeat_ngram(REF["scores"], history, history.shape[1], n))
    reference = REF[f"no_repeat_{n}"]
    np.testing.assert_array_equal(ours <= -1e29, np.isinf(reference))


def test_no_repeat_ngram_holds_during_generation(gpt2):
    ids = np.asarray(
        sample_or_greedy(
            gpt2, *_prompt(), GenerationConfig(max_new_tokens=12, no_repeat_ngram_size=2)
        )
    )
    for row, mask in zip(ids, REF["gpt2_prompt_mask"]):
        tokens = row[int((mask == 0).sum()) :].tolist()
        bigrams = list(zip(tokens, tokens[1:]))
        assert len(bigrams) == len(set(bigrams))  # greedy alone repeats (see gpt2_greedy)


def test_text_is_valid_utf8_in_process_streamed_and_served(tmp_path):
    """A byte-level model that can only emit the byte 0xC3 (half of "é"): every generator
    answers U+FFFD for each cut character, the same way, never bytes a JSON client rejects."""
    from kzoo.export import export_saved_model, predict_in_fresh_process
    from kzoo.tasks import CausalLM
    from kzoo.text.bpe import byte_symbols, load_bpe

    symbols = byte_symbols()
    order = [0xC3] + [b for b in range(256) if b != 0xC3]  # id 0: the lone lead byte
    vocabulary = {symbols[b]: i for i, b in enumerate(order)} | {"<|endoftext|>": 256, "ab": 257}
    tokenizer = load_bpe(vocabulary, ["a b"])
    decoder = kzoo.build_decoder("llama_tiny", vocab_size=258, max_positions=32)
    final_norm = decoder.get_layer("final_norm")
    final_norm.set_weights([np.zeros_like(w) for w in final_norm.get_weights()])  # logits all 0
    lm = CausalLM(decoder)
    generator = Generator(decoder, tokenizer, end_token_id=256)
    expected = "ab" + "\ufffd" * 4
    assert generator(["ab"], max_new_tokens=4) == [expected]
    assert "".join(generator.stream("ab", max_new_tokens=4)) == expected[2:]
    version = export_saved_model(
        lm, tokenizer, tmp_path / "lm", sequence_length=8, end_token_id=256
    )
    request = dict(
        prompt=["ab"],
        max_new_tokens=4,
        method="greedy",
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
    )
    assert predict_in_fresh_process(version, request)["text"] == [expected[2:]]


@pytest.mark.parametrize("setting", ["no_end", "end"])
def test_all_returned_beams_and_their_scores_equal_transformers(gpt2, setting):
    reference = np.load(DATA / "reference_beams.npz")
    end = int(reference["end_token"]) if setting == "end" else None
    config = GenerationConfig(
        max_new_tokens=8,
        method="beam",
        num_beams=4,
        num_return_sequences=3,
        end_token_id=end,
        pad_token_id=0,
    )
    prompt, mask = (reference[k].astype("int32") for k in ("prompt", "mask"))
    beams = beam_hypotheses(gpt2, prompt, mask, config)
    sequences, scores = reference[f"{setting}_sequences"], reference[f"{setting}_scores"]
    np.testing.assert_array_equal(np.reshape(beams.tokens, (6, -1)), sequences)
    np.testing.assert_allclose(np.reshape(beams.scores, -1), scores, atol=1e-5)
    options = {k: v for k, v in vars(config).items() if k != "method"}
    flat = Generator(gpt2).generate_ids(prompt, mask, method="beam", **options)
    np.testing.assert_array_equal(flat, sequences)  # flattened, as transformers returns them


def test_more_returned_sequences_than_beams_is_refused():
    expected = r"num_return_sequences=5 is invalid: expected in \[1, num_beams\]"
    with pytest.raises(ValueError, match=expected):
        GenerationConfig(method="beam", num_beams=4, num_return_sequences=5)
    with pytest.raises(ValueError, match=r"num_return_sequences=2 is invalid"):
        GenerationConfig(method="greedy", num_return_sequences=2)
