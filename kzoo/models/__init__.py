"""Functional backbones built from a `ModelConfig`."""

from kzoo.models.decoder import Decoder, build_decoder
from kzoo.models.encoder import Encoder, build_encoder

# The backbone class of each `ModelConfig.stack`.
BACKBONES = {"encoder": Encoder, "decoder": Decoder}

__all__ = ["BACKBONES", "Decoder", "Encoder", "build_decoder", "build_encoder"]
