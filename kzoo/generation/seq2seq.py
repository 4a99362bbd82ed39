"""Generation for encoder-decoders: the encoder runs once per request, then the one decode loop
of `kzoo.generation.decode` runs the decoder against its self-attention cache and the encoder
output's cross-attention keys and values."""

from keras import ops

from kzoo.generation.decode import GenerationConfig, beam_search, sample_or_greedy


def generate_ids(model, source_ids, source_mask, config: GenerationConfig, start_id, seed=0):
    """Target ids (batch, 1 + max_new_tokens) for source ids (batch, S), starting from the
    decoder start token `start_id` (T5: its pad id 0, BART: its end id 2); finished rows are
    padded with `config.pad_token_id`. `model` is a kzoo `EncoderDecoder`.

    Example:
        >>> generate_ids(t5, ids, mask, GenerationConfig(max_new_tokens=20, end_token_id=1), 0)
    """
    decoder = model.decoding(model.encode(source_ids, source_mask), source_mask)
    batch = ops.shape(source_ids)[0]
    start = ops.full((batch, 1), start_id, "int32")
    if config.method == "beam":
        return beam_search(decoder, start, ops.ones_like(start), config)
    return sample_or_greedy(decoder, start, ops.ones_like(start), config, seed=seed)
