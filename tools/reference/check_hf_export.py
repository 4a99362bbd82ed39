"""Checks that kzoo's Hugging Face exports load in transformers with equal logits.

Step 1, in kzoo's venv: `python tools/reference/check_hf_export.py write OUT` converts each tiny
Llama-family checkpoint in tests/data in and back out to OUT/<family>, plus a fresh kzoo Llama
(untied, Llama-3 rope scaling) with its logits. Step 2, in the throw-away torch venv:
`python tools/reference/check_hf_export.py check OUT` loads each with AutoModelForCausalLM and
prints the largest logit difference on the left-padded reference batch.
"""

import sys
from pathlib import Path

import numpy as np

DATA = Path(__file__).parents[2] / "tests" / "data"
FAMILIES = ("llama", "qwen2", "mistral", "qwen3")
REF = np.load(DATA / "reference_llama_family.npz")


def write(out: Path):
    import kzoo
    from kzoo.convert import load_huggingface, save_huggingface
    from kzoo.tasks import CausalLM

    for name in FAMILIES:
        save_huggingface(load_huggingface(DATA / f"hf_tiny_{name}", task="causal_lm")[0],
                         out / name)
    fresh = CausalLM(kzoo.build_decoder(
        "llama_tiny", tie_embeddings=False, rope_scaling="llama3", rope_factor=8.0,
        rope_original_max_positions=16))
    save_huggingface(fresh, out / "fresh")
    inputs = {"token_ids": REF["prompt"].astype("int32"),
              "padding_mask": REF["prompt_mask"].astype("int32")}
    np.save(out / "fresh" / "kzoo_logits.npy", np.asarray(fresh(inputs)))


def check(out: Path):
    import torch
    from transformers import AutoModelForCausalLM

    ids, mask = torch.tensor(REF["prompt"]), torch.tensor(REF["prompt_mask"])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    real = REF["prompt_mask"].astype(bool)
    for name in (*FAMILIES, "fresh"):
        model = AutoModelForCausalLM.from_pretrained(out / name, dtype=torch.float32).eval()
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        expected = (np.load(out / name / "kzoo_logits.npy") if name == "fresh"
                    else REF[f"{name}_logits"])
        print(name, type(model).__name__, float(np.abs(logits.numpy() - expected)[real].max()))


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](Path(sys.argv[2]))
