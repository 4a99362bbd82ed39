"""Text-generation metrics with their standard tools: sacreBLEU's BLEU and chrF on detokenized
text (13a tokenization, sacrebleu's defaults), and ROUGE-1/2/L F-measures from rouge-score."""


def translation_scores(hypotheses, references) -> dict:
    """Corpus BLEU and chrF of `hypotheses` against one reference each, as sacrebleu scores
    them by default (`sacrebleu hyp.txt -i ref.txt -m bleu chrf`).

    Example:
        >>> translation_scores(["A dog runs."], ["A dog runs."])
        {'bleu': 100.0, 'chrf': 100.0, 'bleu_signature': 'nrefs:1|case:mixed|...'}
    """
    import sacrebleu

    _check_lengths(hypotheses, references)
    bleu = sacrebleu.metrics.BLEU()
    score = bleu.corpus_score(list(hypotheses), [list(references)])
    chrf = sacrebleu.metrics.CHRF().corpus_score(list(hypotheses), [list(references)])
    return {"bleu": round(score.score, 2), "chrf": round(chrf.score, 2),
            "bleu_signature": str(bleu.get_signature())}


def summarization_scores(hypotheses, references) -> dict:
    """Mean ROUGE-1, ROUGE-2 and ROUGE-L F-measures (×100, Porter stemming, as the CNN/DM
    literature reports them)."""
    from rouge_score import rouge_scorer

    _check_lengths(hypotheses, references)
    kinds = ("rouge1", "rouge2", "rougeL")
    scorer = rouge_scorer.RougeScorer(list(kinds), use_stemmer=True)
    totals = dict.fromkeys(kinds, 0.0)
    for hypothesis, reference in zip(hypotheses, references):
        for kind, value in scorer.score(reference, hypothesis).items():
            totals[kind] += value.fmeasure
    return {kind: round(100 * total / max(len(references), 1), 2)
            for kind, total in totals.items()}


def _check_lengths(hypotheses, references):
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references; "
                         f"score one output per reference.")
