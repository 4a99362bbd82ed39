"""SentencePiece: load a model proto into an in-graph tokenizer, or learn one from raw text."""

from pathlib import Path

from keras_hub.tokenizers import SentencePieceTokenizer, compute_sentence_piece_proto


def load_sentencepiece(proto, sequence_length=None) -> SentencePieceTokenizer:
    """A keras_hub SentencePiece tokenizer (TF Text ops) from a `.model` file or its bytes.

    Example:
        >>> tok = load_sentencepiece("spm.model")
        >>> tok.detokenize(tok(["Hello world"]))
    """
    source = "proto"
    if isinstance(proto, (str, Path)):
        path = source = Path(proto)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no SentencePiece model here; pass the `.model` file written "
                                    f"by SentencePiece training (or kzoo.text.learn_sentencepiece).")
        proto = path.read_bytes()
    try:
        return SentencePieceTokenizer(proto=proto, sequence_length=sequence_length)
    except Exception as error:  # the TF op reports a bare parse failure
        raise ValueError(f"{source}: not a "
                         f"SentencePiece model proto ({type(error).__name__}); pass the binary `.model` file, "
                         f"not the `.vocab` text file.") from None


def learn_sentencepiece(paths, vocabulary_size, output, model_type="unigram", lowercase=False) -> Path:
    """Trains a SentencePiece model (`unigram` or `bpe`) on UTF-8 text files; writes and returns `output`.

    Ids 0-3 are `<pad>`, `<unk>`, `<s>`, `</s>` (keras_hub's convention).

    Example: `learn_sentencepiece(["corpus.txt"], 8000, "spm.model")`.
    """
    files = [str(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    compute_sentence_piece_proto(files, vocabulary_size, model_type=model_type,
                                 proto_output_file=str(output), lowercase=lowercase)
    return Path(output)
