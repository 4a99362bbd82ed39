"""GPT-2 byte-level BPE: load `vocab.json` + `merges.txt` into an in-graph tokenizer, or learn them."""

import heapq
import json
from collections import Counter, defaultdict
from pathlib import Path

import regex

from kzoo.data.documents import read_text
from kzoo.text.byte_level_bpe import ByteLevelBPE
from kzoo.text.pre_tokenizers import PRE_TOKENIZERS

END_OF_TEXT = "<|endoftext|>"

# GPT-2's pre-tokenizer, for learning: merges never cross these pieces, and ByteLevelBPE
# splits text the same way at tokenization time.
GPT2_SPLIT = regex.compile(PRE_TOKENIZERS["gpt2"].hf_pattern)


def load_bpe(vocabulary, merges, sequence_length=None, **options) -> ByteLevelBPE:
    """A byte-level BPE tokenizer from file paths or in-memory values: GPT-2's split unless
    `options` name another (`pre_tokenizer`, `normalization`, `ignore_merges`,
    `special_tokens`, `special_roles`; see `ByteLevelBPE`).

    Example:
        >>> tok = load_bpe("gpt2/vocab.json", "gpt2/merges.txt")
        >>> tok.detokenize(tok(["Hello world"]))
    """
    if isinstance(vocabulary, (str, Path)):
        vocabulary = read_bpe_vocabulary(vocabulary)
    if isinstance(merges, (str, Path)):
        merges = read_merges(merges)
    return ByteLevelBPE(vocabulary, merges, sequence_length=sequence_length, **options)


def read_bpe_vocabulary(path) -> dict:
    """vocab.json: a JSON object of token → id."""
    try:
        vocabulary = json.loads(read_text(path))
    except json.JSONDecodeError as error:
        vocabulary = error
    if not isinstance(vocabulary, dict) or not all(
        isinstance(i, int) for i in vocabulary.values()
    ):
        raise ValueError(
            f"{path}: not a JSON object of token → integer id; pass GPT-2's "
            f"vocab.json (or a tokenizer.json)."
        )
    return vocabulary


def read_merges(path) -> list[str]:
    """merges.txt: one merge per line, two space-separated symbols; `#version` lines skipped."""
    merges = []
    for number, line in enumerate(read_text(path).splitlines(), 1):
        if not line or line.startswith("#version"):
            continue
        if len(line.split(" ")) != 2:
            raise ValueError(
                f"{path}, line {number}: {line!r} is not a merge; each line of merges.txt holds "
                f"two symbols separated by one space (e.g. 'Ġ t'). Fix or remove the line."
            )
        merges.append(line)
    return merges


def byte_symbols() -> list[str]:
    """GPT-2's printable stand-in for each byte value 0..255 (so merges.txt stays plain text).

    Written here because keras_hub keeps its copy private.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    others = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(others)) for b in range(256)]


def learn_bpe(paths, vocabulary_size, output_dir=None, special_tokens=(END_OF_TEXT,)):
    """Learns byte-level BPE merges from UTF-8 text files; returns (vocabulary, merges).

    The vocabulary holds the 256 byte symbols, then one token per merge, then
    `special_tokens` (GPT-2 order: `<|endoftext|>` last), `vocabulary_size` in all,
    or fewer when no pair occurs twice any more. Ties between equally frequent
    pairs go to the lexicographically smallest, so the result is deterministic.
    Writes `vocab.json` and `merges.txt` into `output_dir` when given.

    Example:
        >>> vocabulary, merges = learn_bpe(["corpus.txt"], 8000, output_dir="bpe/")
        >>> tok = load_bpe("bpe/vocab.json", "bpe/merges.txt")
    """
    minimum = 256 + len(special_tokens)
    if vocabulary_size <= minimum:
        raise ValueError(
            f"vocabulary_size={vocabulary_size} leaves no room for merges: the 256 byte symbols "
            f"and {len(special_tokens)} special tokens already take {minimum}."
        )
    symbols = byte_symbols()
    pieces = Counter()
    for path in [paths] if isinstance(paths, (str, Path)) else paths:
        pieces.update(GPT2_SPLIT.findall(read_text(path)))
    words = [[symbols[b] for b in piece.encode("utf-8")] for piece in pieces]
    merges = _merge_pairs(words, list(pieces.values()), vocabulary_size - minimum)
    vocabulary = {
        token: i
        for i, token in enumerate([*symbols, *("".join(m) for m in merges), *special_tokens])
    }
    if output_dir is not None:
        output_dir = Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "vocab.json").write_text(
            json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8"
        )
        (output_dir / "merges.txt").write_text(
            "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
        )
    return vocabulary, [f"{a} {b}" for a, b in merges]


def _merge_pairs(words, counts, max_merges):
    """Greedy BPE: repeatedly fuse the most frequent adjacent pair.

    Pair counts are updated only for the words that contain the merged pair, and
    a lazy max-heap picks the next pair, so a few MB learn in well under a minute.
    """
    pair_counts, pair_words = Counter(), defaultdict(set)
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            pair_counts[pair] += counts[i]
            pair_words[pair].add(i)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)
    merges = []
    while heap and len(merges) < max_merges:
        count, pair = heapq.heappop(heap)
        if -count != pair_counts.get(pair):
            continue  # stale entry: the pair's count changed after it was pushed
        if -count < 2:
            break
        merges.append(pair)
        changed = set()
        for i in pair_words.pop(pair):
            old, new = words[i], _fuse(words[i], pair)
            for p in zip(old, old[1:]):
                pair_counts[p] -= counts[i]
            for p in zip(new, new[1:]):
                pair_counts[p] += counts[i]
                pair_words[p].add(i)
            changed.update(zip(old, old[1:]), zip(new, new[1:]))
            words[i] = new
        del pair_counts[pair]
        for p in changed - {pair}:
            if pair_counts[p] > 0:
                heapq.heappush(heap, (-pair_counts[p], p))
    return merges


def _fuse(word, pair):
    fused, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            fused.append(word[i] + word[i + 1])
            i += 2
        else:
            fused.append(word[i])
            i += 1
    return fused
