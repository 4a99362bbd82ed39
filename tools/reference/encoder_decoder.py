"""Tiny random T5 and BART checkpoints and their outputs from Hugging Face transformers.

Run once in a throw-away venv (torch==2.13.0, transformers); torch is never a kzoo dependency:
    python tools/reference/encoder_decoder.py
Writes tests/data/hf_tiny_{t5,t5_v1_1,bart}/ and tests/data/reference_encoder_decoder.npz: for a
right-padded source batch, the encoder states, the decoder logits of a right-padded target
batch, and greedy and beam-search ids. T5 is tied with a ReLU MLP, T5 v1.1 untied and gated;
both use 16 relative buckets over 20 positions, so short sources reach the logarithmic buckets.
"""

from pathlib import Path

import numpy as np
import torch
from transformers import BartConfig, BartForConditionalGeneration, T5Config
from transformers import T5ForConditionalGeneration

DATA = Path(__file__).parents[2] / "tests" / "data"
T5_SHAPE = dict(vocab_size=99, d_model=32, d_kv=8, d_ff=48, num_layers=2, num_decoder_layers=2,
                num_heads=4, relative_attention_num_buckets=16,
                relative_attention_max_distance=20, pad_token_id=0, eos_token_id=1,
                decoder_start_token_id=0)
FAMILIES = {
    "t5": (T5ForConditionalGeneration,
           T5Config(**T5_SHAPE, feed_forward_proj="relu", tie_word_embeddings=True), 0, 0),
    "t5_v1_1": (T5ForConditionalGeneration,
                T5Config(**T5_SHAPE, feed_forward_proj="gated-gelu", tie_word_embeddings=False),
                0, 0),
    "bart": (BartForConditionalGeneration,
             BartConfig(vocab_size=99, d_model=32, encoder_layers=2, decoder_layers=3,
                        encoder_attention_heads=4, decoder_attention_heads=4,
                        encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=64,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2,
                        decoder_start_token_id=2, forced_bos_token_id=None,
                        forced_eos_token_id=None, scale_embedding=False), 1, 2),
}

torch.manual_seed(0)
out = {}
for name, (model_class, config, pad, start) in FAMILIES.items():
    source = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [12, 13, 14, 15, pad, pad, pad]])
    target = torch.tensor([[start, 20, 21, 22, 23], [start, 24, 25, pad, pad]])
    source_mask, target_mask = (source != pad).long(), (target != pad).long()
    target_mask[:, 0] = 1  # T5 starts decoding from its pad id
    model = model_class(config).eval()
    with torch.no_grad():  # random weights of a useful size: big enough that ids diverge
        for key, p in model.named_parameters():
            p.normal_(0.0, 0.2) if p.dim() > 1 else p.add_(torch.randn_like(p) * 0.1)
    model.save_pretrained(DATA / f"hf_tiny_{name}", safe_serialization=True)
    with torch.no_grad():
        result = model(input_ids=source, attention_mask=source_mask, decoder_input_ids=target,
                       decoder_attention_mask=target_mask)
        settings = dict(attention_mask=source_mask, do_sample=False, eos_token_id=None,
                        pad_token_id=pad, decoder_start_token_id=start)
        out.update({
            f"{name}_source": source, f"{name}_source_mask": source_mask,
            f"{name}_target": target, f"{name}_target_mask": target_mask,
            f"{name}_encoder_states": result.encoder_last_hidden_state,
            f"{name}_logits": result.logits,
            f"{name}_greedy": model.generate(source, max_new_tokens=10, **settings),
            f"{name}_beam": model.generate(source, max_new_tokens=8, num_beams=3,
                                           length_penalty=1.0, early_stopping=True, **settings),
        })
np.savez_compressed(DATA / "reference_encoder_decoder.npz",
                    **{k: v.float().numpy() if v.is_floating_point() else v.numpy()
                       for k, v in out.items()})
print({k: tuple(v.shape) for k, v in out.items()})
