"""Compiled decoding with a KV cache: greedy, sampling, beam search."""

from kzoo.generation.decode import (
    Beams,
    GenerationConfig,
    beam_hypotheses,
    beam_search,
    sample_or_greedy,
)
from kzoo.generation.generator import Generator, ScoredText, left_pad

__all__ = [
    "Beams",
    "GenerationConfig",
    "Generator",
    "ScoredText",
    "beam_hypotheses",
    "beam_search",
    "left_pad",
    "sample_or_greedy",
]
