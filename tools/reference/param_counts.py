"""Counts the parameters of Hugging Face BertModel / GPT2Model for every kzoo preset.

Run in a throw-away venv with torch + transformers (never a kzoo dependency):
    python tools/reference/param_counts.py > tests/data/reference_param_counts.json
Models are built on the meta device, so even gpt2_xl costs no memory.
"""

import json

import torch
from transformers import BertConfig, BertModel, GPT2Config, GPT2Model

BERT = {"bert_tiny": (2, 128, 2), "bert_mini": (4, 256, 4), "bert_small": (4, 512, 8),
        "bert_medium": (8, 512, 8), "bert_base": (12, 768, 12), "bert_large": (24, 1024, 16)}
GPT2 = {"gpt2_small": (12, 768, 12), "gpt2_medium": (24, 1024, 16),
        "gpt2_large": (36, 1280, 20), "gpt2_xl": (48, 1600, 25)}

counts = {}
with torch.device("meta"):
    for name, (layers, hidden, heads) in BERT.items():
        model = BertModel(BertConfig(num_hidden_layers=layers, hidden_size=hidden,
                                     num_attention_heads=heads, intermediate_size=4 * hidden))
        counts[name] = sum(p.numel() for p in model.parameters())
    for name, (layers, hidden, heads) in GPT2.items():
        model = GPT2Model(GPT2Config(n_layer=layers, n_embd=hidden, n_head=heads))
        counts[name] = sum(p.numel() for p in model.parameters())
print(json.dumps(counts, indent=2))
