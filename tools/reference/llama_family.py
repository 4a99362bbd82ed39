"""Tiny random Llama-family checkpoints and their outputs from Hugging Face transformers.

Run once in a throw-away venv (torch==2.13.0, transformers); torch is never a kzoo dependency:
    python tools/reference/llama_family.py
Writes tests/data/hf_tiny_{llama,qwen2,mistral,qwen3}/ and tests/data/reference_llama_family.npz:
logits on a left-padded batch (positions counted over real tokens, as `generate` counts them),
greedy and beam-search ids. The Llama one uses grouped-query attention and Llama-3 rope scaling;
Qwen2 has QKV biases and is stored in bfloat16; Mistral is untied and sharded; Qwen3 has QK-norm
and a head size that is not hidden / heads.
"""

from pathlib import Path

import numpy as np
import torch
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

DATA = Path(__file__).parents[2] / "tests" / "data"
SHAPE = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             num_key_value_heads=2, intermediate_size=48, max_position_embeddings=64,
             bos_token_id=1, eos_token_id=2)
FAMILIES = {
    "llama": (LlamaForCausalLM, LlamaConfig(**SHAPE, rope_scaling=dict(
        rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
        original_max_position_embeddings=16), rope_theta=10000.0, rms_norm_eps=1e-5)),
    "qwen2": (Qwen2ForCausalLM, Qwen2Config(**SHAPE, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                            tie_word_embeddings=True)),
    "mistral": (MistralForCausalLM, MistralConfig(**SHAPE, sliding_window=None,
                                                  tie_word_embeddings=False)),
    "qwen3": (Qwen3ForCausalLM, Qwen3Config(**SHAPE, head_dim=16, tie_word_embeddings=True)),
}

torch.manual_seed(0)
prompt = torch.tensor([[5, 6, 7, 8, 9, 10], [0, 0, 11, 12, 13, 14]])
mask = (prompt != 0).long()
positions = (mask.cumsum(-1) - 1).clamp(min=0)
out = {"prompt": prompt, "prompt_mask": mask}
for name, (model_class, config) in FAMILIES.items():
    model = model_class(config).eval()
    with torch.no_grad():  # random weights of a useful size: big enough that ids diverge
        for p in model.parameters():
            p.normal_(0.0, 0.2) if p.dim() > 1 else p.add_(torch.randn_like(p) * 0.1)
    target = DATA / f"hf_tiny_{name}"
    if name == "qwen2":
        model.to(torch.bfloat16).save_pretrained(target, safe_serialization=True)
        model = model_class.from_pretrained(target, dtype=torch.float32).eval()
    else:
        model.save_pretrained(target, safe_serialization=True,
                              max_shard_size="40KB" if name == "mistral" else "50GB")
    with torch.no_grad():
        out[f"{name}_logits"] = model(input_ids=prompt, attention_mask=mask,
                                      position_ids=positions).logits
        out[f"{name}_greedy"] = model.generate(prompt, attention_mask=mask, max_new_tokens=10,
                                               do_sample=False, pad_token_id=0, eos_token_id=None)
        out[f"{name}_beam"] = model.generate(prompt, attention_mask=mask, max_new_tokens=8,
                                             num_beams=3, do_sample=False, length_penalty=1.0,
                                             early_stopping=True, pad_token_id=0,
                                             eos_token_id=None)
np.savez_compressed(DATA / "reference_llama_family.npz",
                    **{k: v.float().numpy() if v.is_floating_point() else v.numpy()
                       for k, v in out.items()})
print({k: tuple(v.shape) for k, v in out.items()})
