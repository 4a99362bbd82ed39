"""Counts the parameters of the Hugging Face model of every kzoo preset: BertModel, GPT2Model,
and for Llama-style presets the *ForCausalLM built from the published config.json values.

Run in a throw-away venv with torch + transformers (never a kzoo dependency):
    python tools/reference/param_counts.py > tests/data/reference_param_counts.json
Models are built on the meta device, so even gpt2_xl costs no memory.
"""

import json

import torch
from transformers import (BertConfig, BertModel, GPT2Config, GPT2Model, LlamaConfig,
                          LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config,
                          Qwen2ForCausalLM)

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
print(json.dumps(counts, indent=2))
