"""Functional backbones built from a `ModelConfig`."""

from kzoo.models.decoder import Decoder, build_decoder
from kzoo.models.encoder import Encoder, build_encoder
from kzoo.models.encoder_decoder import EncoderDecoder, build_encoder_decoder

# The backbone class of each `ModelConfig.stack`.
BACKBONES = {"encoder": Encoder, "decoder": Decoder, "encoder_decoder": EncoderDecoder}

__all__ = ["BACKBONES", "Decoder", "Encoder", "EncoderDecoder", "build_decoder",
           "build_encoder", "build_encoder_decoder"]
