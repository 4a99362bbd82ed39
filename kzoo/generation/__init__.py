"""Compiled decoding with a KV cache: greedy, sampling, beam search."""

from kzoo.generation.decode import GenerationConfig, beam_search, sample_or_greedy
from kzoo.generation.generator import Generator, left_pad

__all__ = ["GenerationConfig", "Generator", "beam_search", "left_pad", "sample_or_greedy"]
