import pytest

from kzoo.config import PRESETS, ModelConfig, resolve_config


def test_json_round_trip_keeps_every_field():
    config = resolve_config("gpt2_small", num_layers=3, dropout=0.2)
    assert ModelConfig.from_json(config.to_json()) == config
    assert (config.num_layers, config.dropout, config.norm_placement) == (3, 0.2, "pre")


def test_unknown_field_is_named_with_a_suggestion():
    with pytest.raises(ValueError, match=r"Unknown ModelConfig field 'hiden_size'.*'hidden_size'"):
        ModelConfig.from_dict({"hiden_size": 64})


@pytest.mark.parametrize("field,value,allowed", [
    ("activation", "swish", "one of"),
    ("norm_placement", "middle", "one of"),
    ("dropout", 1.5, r"\[0, 1\)"),
    ("num_layers", 0, ">= 1"),
    ("hidden_size", "768", "type int"),
    ("stack", "encoder_only", "one of"),
    ("qkv_bias", "false", "type bool"),
    ("num_kv_heads", 5, "a divisor of num_heads"),
    ("num_kv_heads", 2.0, "type int or None"),
    ("norm", "batch_norm", "one of"),
    ("feed_forward", "glu", "one of"),
    ("rope_factor", 0.5, ">= 1"),
])
def test_bad_values_name_field_value_and_what_is_allowed(field, value, allowed):
    with pytest.raises(ValueError, match=rf"ModelConfig\.{field}=.*{allowed}"):
        resolve_config("bert_tiny", **{field: value})


def test_hidden_size_must_divide_by_heads():
    with pytest.raises(ValueError, match="hidden_size=100 is not divisible by num_heads=12"):
        ModelConfig(hidden_size=100, num_heads=12)


def test_unknown_preset_lists_presets():
    with pytest.raises(ValueError, match="Unknown preset 'bert_bas'.*'bert_base'"):
        resolve_config("bert_bas")


def test_presets_have_published_shapes():
    shapes = {name: (c.num_layers, c.hidden_size, c.num_heads) for name, c in PRESETS.items()}
    assert shapes["bert_tiny"] == (2, 128, 2) and shapes["bert_large"] == (24, 1024, 16)
    assert shapes["gpt2_xl"] == (48, 1600, 25)
    for name, c in PRESETS.items():
        if name.startswith("bert"):
            assert c.intermediate_size == 4 * c.hidden_size
            assert (c.vocab_size, c.max_positions, c.num_segments, c.stack) == (
                30522, 512, 2, "encoder")
        elif name.startswith("gpt2"):
            assert c.intermediate_size == 4 * c.hidden_size
            assert (c.vocab_size, c.max_positions, c.stack, c.norm_placement) == (
                50257, 1024, "decoder", "pre")
        elif name.startswith("t5"):
            assert (c.stack, c.position_encoding, c.norm, c.attention_scale) == (
                "encoder_decoder", "relative", "rms_norm", False)
            assert c.tie_embeddings == c.decoder_output_scale == (c.feed_forward == "mlp")
        elif name.startswith("bart"):
            assert (c.stack, c.position_encoding, c.position_offset, c.norm_placement) == (
                "encoder_decoder", "learned", 2, "post")
        else:
            assert (c.position_encoding, c.norm, c.feed_forward, c.activation) == (
                "rotary", "rms_norm", "gated", "silu")
    assert shapes["t5_v1_1_small"] == (8, 512, 6) and shapes["bart_large"] == (12, 1024, 16)
    assert (PRESETS["llama3_2_1b"].rope_scaling, PRESETS["llama3_2_1b"].kv_heads) == ("llama3", 8)


def test_a_config_saved_by_kzoo_0_1_reads_as_the_components_it_meant():
    old = {**PRESETS["gpt2_small"].to_dict(), "causal": True, "layer_norm_epsilon": 1e-5}
    for new_field in ("stack", "norm_epsilon", "embedding_norm"):
        old.pop(new_field)
    assert ModelConfig.from_dict(old) == PRESETS["gpt2_small"]
    with pytest.raises(ValueError, match="ModelConfig.causal='yes'.*type bool"):
        ModelConfig.from_dict({**old, "causal": "yes"})


def test_rotary_needs_an_even_number_of_rotated_features():
    with pytest.raises(ValueError, match="partial_rotary_factor=0.3 .*even number"):
        ModelConfig(stack="decoder", hidden_size=40, num_heads=4, position_encoding="rotary",
                    partial_rotary_factor=0.3)


def test_config_loads_from_json_file(tmp_path):
    path = tmp_path / "model.json"
    path.write_text(resolve_config("bert_mini").to_json())
    assert resolve_config(str(path)) == PRESETS["bert_mini"]
