"""Functional backbones built from a `ModelConfig`."""

from kzoo.models.decoder import Decoder, build_decoder
from kzoo.models.encoder import Encoder, build_encoder

__all__ = ["Decoder", "Encoder", "build_decoder", "build_encoder"]
