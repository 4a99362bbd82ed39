"""Reference beams: every returned hypothesis and its score from transformers' beam search on
the committed tiny random GPT-2 (tests/data/hf_tiny_gpt2), on a left-padded batch, without an
end token and with one that ends hypotheses early.

Run in the throwaway venv (torch==2.13.0, transformers), from the repository root:
    python tools/reference/beam_hypotheses.py
Writes tests/data/reference_beams.npz.
"""

from pathlib import Path

import numpy as np
import torch
from transformers import GPT2LMHeadModel

DATA = Path("tests/data")
model = GPT2LMHeadModel.from_pretrained(DATA / "hf_tiny_gpt2").eval()
prompt = torch.tensor([[5, 6, 7, 8, 9], [0, 0, 11, 12, 13]])
mask = (prompt != 0).long()
out = {"prompt": prompt.numpy(), "mask": mask.numpy()}
settings = {"no_end": None}
with torch.no_grad():
    plain = model.generate(
        prompt,
        attention_mask=mask,
        max_new_tokens=8,
        num_beams=4,
        do_sample=False,
        pad_token_id=0,
        eos_token_id=None,
    )
    # an end token the beams meet: the third new token of the first row's best beam
    settings["end"] = int(plain[0, prompt.shape[1] + 2])
    for name, end in settings.items():
        result = model.generate(
            prompt,
            attention_mask=mask,
            max_new_tokens=8,
            num_beams=4,
            num_return_sequences=3,
            do_sample=False,
            length_penalty=1.0,
            early_stopping=True,
            pad_token_id=0,
            eos_token_id=end,
            return_dict_in_generate=True,
            output_scores=True,
        )
        out[f"{name}_sequences"] = result.sequences.numpy()
        out[f"{name}_scores"] = result.sequences_scores.numpy()
out["end_token"] = np.asarray(settings["end"])
np.savez(DATA / "reference_beams.npz", **out)
print({k: v.shape for k, v in out.items()})
