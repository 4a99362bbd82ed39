"""GPT-2 byte-level BPE: load `vocab.json` + `merges.txt` into an in-graph tokenizer."""

import json
from pathlib import Path

from keras_hub.tokenizers import BytePairTokenizer

from kzoo.data.documents import read_text


def load_bpe(vocabulary, merges, sequence_length=None) -> BytePairTokenizer:
    """A keras_hub byte-level BPE tokenizer (GPT-2's), from file paths or in-memory values.

    Example:
        >>> tok = load_bpe("gpt2/vocab.json", "gpt2/merges.txt")
        >>> tok.detokenize(tok(["Hello world"]))
    """
    if isinstance(vocabulary, (str, Path)):
        try:
            vocabulary = json.loads(read_text(vocabulary))
        except json.JSONDecodeError as error:
            raise ValueError(f"{vocabulary}: not a JSON token → id map ({error.msg}); "
                             f"pass GPT-2's vocab.json.") from None
    if isinstance(merges, (str, Path)):
        merges = [line for line in read_text(merges).splitlines() if line and not line.startswith("#version")]
    return BytePairTokenizer(vocabulary=vocabulary, merges=merges, sequence_length=sequence_length,
                             unsplittable_tokens=[t for t in vocabulary if t.startswith("<|") and t.endswith("|>")])
