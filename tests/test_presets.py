"""Every preset has exactly the parameter count of the Hugging Face reference model.

tests/data/reference_param_counts.json was produced by tools/reference/param_counts.py
(transformers BertModel / GPT2Model, pooler included for BERT, tied LM head for GPT-2;
Llama-style presets as *ForCausalLM, T5 and BART as *ForConditionalGeneration, from the
published config.json values).
"""

import json
from pathlib import Path

import pytest

import kzoo

REFERENCE = json.loads((Path(__file__).parent / "data" / "reference_param_counts.json").read_text())


def test_reference_covers_every_preset():
    assert set(REFERENCE) == set(kzoo.PRESETS)


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_counted_parameters_match_reference(name):
    assert kzoo.parameter_count(kzoo.PRESETS[name]) == REFERENCE[name]


@pytest.mark.parametrize(
    "name", ["bert_tiny", "bert_mini", "gpt2_small", "llama_tiny", "t5_tiny", "bart_tiny"])
def test_built_models_have_reference_counts(name):
    from kzoo.models import BACKBONES

    assert BACKBONES[kzoo.PRESETS[name].stack](name).count_params() == REFERENCE[name]


def test_untied_output_projection_is_counted(decoder_config):
    config = decoder_config.replace(tie_embeddings=False)
    model = kzoo.build_decoder(config)
    assert model.count_params() == kzoo.parameter_count(config)
    assert kzoo.parameter_count(config) - kzoo.parameter_count(decoder_config) == 97 * 16
