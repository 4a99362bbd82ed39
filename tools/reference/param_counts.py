"""Counts the parameters of the Hugging Face model of every kzoo preset: BertModel, GPT2Model,
and for Llama-style, T5 and BART presets the *ForCausalLM / *ForConditionalGeneration built from
the published config.json values.

transformers 5 ties T5's LM head to its token table whatever the config says, but the published
T5 v1.1 checkpoints (tie_word_embeddings: false) carry their own `lm_head.weight`: their counts
add it, as the checkpoint holds it (and transformers 4 built it).

Run in a throw-away venv with torch + transformers (never a kzoo dependency):
    python tools/reference/param_counts.py > tests/data/reference_param_counts.json
Models are built on the meta device, so even gpt2_xl costs no memory.
"""

import json

import torch
from transformers import (BartConfig, BartForConditionalGeneration, BertConfig, BertModel,
                          GPT2Config, GPT2Model, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, T5Config,
                          T5ForConditionalGeneration)

BERT = {"bert_tiny": (2, 128, 2), "bert_mini": (4, 256, 4), "bert_small": (4, 512, 8),
        "bert_medium": (8, 512, 8), "bert_base": (12, 768, 12), "bert_large": (24, 1024, 16)}
GPT2 = {"gpt2_small": (12, 768, 12), "gpt2_medium": (24, 1024, 16),
        "gpt2_large": (36, 1280, 20), "gpt2_xl": (48, 1600, 25)}

# The fields of each published config.json that shape the weights.
LLAMA = {
    "llama_tiny": (LlamaForCausalLM, LlamaConfig, dict(
        vocab_size=1000, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, intermediate_size=160, tie_word_embeddings=True)),
    "smollm_135m": (LlamaForCausalLM, LlamaConfig, dict(  # HuggingFaceTB/SmolLM-135M
        vocab_size=49152, hidden_size=576, num_hidden_layers=30, num_attention_heads=9,
        num_key_value_heads=3, intermediate_size=1536, tie_word_embeddings=True)),
    "smollm_360m": (LlamaForCausalLM, LlamaConfig, dict(  # HuggingFaceTB/SmolLM-360M
        vocab_size=49152, hidden_size=960, num_hidden_layers=32, num_attention_heads=15,
        num_key_value_heads=5, intermediate_size=2560, tie_word_embeddings=True)),
    "qwen2_0_5b": (Qwen2ForCausalLM, Qwen2Config, dict(  # Qwen/Qwen2-0.5B
        vocab_size=151936, hidden_size=896, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, intermediate_size=4864, tie_word_embeddings=True)),
    "tinyllama_1_1b": (LlamaForCausalLM, LlamaConfig, dict(  # TinyLlama-1.1B-Chat-v1.0
        vocab_size=32000, hidden_size=2048, num_hidden_layers=22, num_attention_heads=32,
        num_key_value_heads=4, intermediate_size=5632, tie_word_embeddings=False)),
    "llama3_2_1b": (LlamaForCausalLM, LlamaConfig, dict(  # meta-llama/Llama-3.2-1B
        vocab_size=128256, hidden_size=2048, num_hidden_layers=16, num_attention_heads=32,
        num_key_value_heads=8, head_dim=64, intermediate_size=8192, tie_word_embeddings=True)),
    "mistral_7b": (MistralForCausalLM, MistralConfig, dict(  # mistralai/Mistral-7B-v0.3
        vocab_size=32768, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=8, intermediate_size=14336, tie_word_embeddings=False)),
}

T5 = {  # t5-small/base/large, google/t5-v1_1-small/base
    "t5_tiny": dict(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4),
    "t5_small": dict(d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8),
    "t5_base": dict(d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12),
    "t5_large": dict(d_model=1024, d_kv=64, d_ff=4096, num_layers=24, num_heads=16),
    "t5_v1_1_small": dict(d_model=512, d_kv=64, d_ff=1024, num_layers=8, num_heads=6,
                          feed_forward_proj="gated-gelu", tie_word_embeddings=False),
    "t5_v1_1_base": dict(d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_heads=12,
                         feed_forward_proj="gated-gelu", tie_word_embeddings=False),
}
BART = {  # facebook/bart-base, facebook/bart-large
    "bart_tiny": dict(vocab_size=1000, d_model=64, layers=2, heads=4, max_position=256),
    "bart_base": dict(vocab_size=50265, d_model=768, layers=6, heads=12, max_position=1024),
    "bart_large": dict(vocab_size=50265, d_model=1024, layers=12, heads=16, max_position=1024),
}

counts = {}
with torch.device("meta"):
    for name, (layers, hidden, heads) in BERT.items():
        model = BertModel(BertConfig(num_hidden_layers=layers, hidden_size=hidden,
                                     num_attention_heads=heads, intermediate_size=4 * hidden))
        counts[name] = sum(p.numel() for p in model.parameters())
    for name, (layers, hidden, heads) in GPT2.items():
        model = GPT2Model(GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads))
        counts[name] = sum(p.numel() for p in model.parameters())
    for name, (model_class, config_class, fields) in LLAMA.items():
        counts[name] = sum(p.numel() for p in model_class(config_class(**fields)).parameters())
    for name, fields in T5.items():
        model = T5ForConditionalGeneration(T5Config(**{"vocab_size": 32128, **fields}))
        own_head = fields.get("tie_word_embeddings", True) is False
        counts[name] = sum(p.numel() for p in model.parameters()) + (
            model.shared.weight.numel() if own_head else 0)
    for name, f in BART.items():
        model = BartForConditionalGeneration(BartConfig(
            vocab_size=f["vocab_size"], d_model=f["d_model"], encoder_layers=f["layers"],
            decoder_layers=f["layers"], encoder_attention_heads=f["heads"],
            decoder_attention_heads=f["heads"], encoder_ffn_dim=4 * f["d_model"],
            decoder_ffn_dim=4 * f["d_model"], max_position_embeddings=f["max_position"]))
        counts[name] = sum(p.numel() for p in model.parameters())
print(json.dumps(counts, indent=2))
