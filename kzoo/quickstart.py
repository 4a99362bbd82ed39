"""`kzoo quickstart`: the whole kzoo path on embedded data, small enough for a laptop CPU."""

import numpy as np

import kzoo

SENTENCES = [
    "the film is a charming and often affecting journey",
    "it is a dull , lifeless movie",
]


def run_quickstart(workdir: str):
    """Builds tiny models and runs them on a few sentences, printing each step."""
    encoder = kzoo.build_encoder("bert_tiny", vocab_size=1000)
    decoder = kzoo.build_decoder("gpt2_small", num_layers=2, hidden_size=128, num_heads=2,
                                 intermediate_size=512, vocab_size=1000)
    ids = np.array([[hash(w) % 997 + 3 for w in s.split()][:6] for s in SENTENCES], "int32")
    mask = np.ones_like(ids)
    pooled = encoder({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": mask})["pooled_output"]
    logits = decoder.logits(decoder({"token_ids": ids, "padding_mask": mask}))
    print(f"encoder bert_tiny: {encoder.count_params():,} parameters, pooled output {tuple(pooled.shape)}")
    print(f"decoder gpt (2 layers): {decoder.count_params():,} parameters, logits {tuple(logits.shape)}")
