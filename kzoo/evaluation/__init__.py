"""Metrics computed on predictions: classification, correlation, NER entities, SQuAD,
translation (BLEU, chrF) and summarization (ROUGE)."""

from kzoo.evaluation.metrics import (classification_metrics, correlation_metrics, entity_f1, normalize_answer,
                                     squad_scores)
from kzoo.evaluation.translation import summarization_scores, translation_scores

__all__ = ["classification_metrics", "correlation_metrics", "entity_f1", "normalize_answer",
           "squad_scores", "summarization_scores", "translation_scores"]
