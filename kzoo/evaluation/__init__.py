"""Metrics computed on predictions: classification, correlation, NER entities, SQuAD."""

from kzoo.evaluation.metrics import (classification_metrics, correlation_metrics, entity_f1, normalize_answer,
                                     squad_scores)

__all__ = ["classification_metrics", "correlation_metrics", "entity_f1", "normalize_answer", "squad_scores"]
