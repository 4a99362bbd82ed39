"""Greedy and beam search on the tiny GPT-2 under the JAX backend; prints the ids as JSON.
Used by test_generation.py in a subprocess (the backend is fixed at start-up)."""

import json
import os
from pathlib import Path

os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402

from kzoo.convert import load_huggingface  # noqa: E402
from kzoo.generation import GenerationConfig, beam_search, sample_or_greedy  # noqa: E402

DATA = Path(__file__).parent / "data"
REF = np.load(DATA / "reference_outputs.npz")
decoder = load_huggingface(DATA / "hf_tiny_gpt2")[0]
prompt = REF["gpt2_prompt"].astype("int32"), REF["gpt2_prompt_mask"].astype("int32")
greedy = np.asarray(sample_or_greedy(decoder, *prompt, GenerationConfig(max_new_tokens=12)))
beam = np.asarray(beam_search(decoder, *prompt, GenerationConfig(max_new_tokens=8, method="beam", num_beams=3)))
print(json.dumps({"backend": __import__("keras").backend.backend(),
                  "greedy": greedy.tolist(), "beam": beam.tolist()}))
