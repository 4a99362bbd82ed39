"""Backbone + head = a `fit`-ready keras.Model."""

from kzoo.tasks.classifier import Classifier
from kzoo.tasks.embedder import Embedder
from kzoo.tasks.multi_task import MultiTask
from kzoo.tasks.multiple_choice import MultipleChoice
from kzoo.tasks.pretraining import CausalLM, MaskedLMPretrainer
from kzoo.tasks.seq2seq import Seq2SeqLM
from kzoo.tasks.span_qa import SpanQA
from kzoo.tasks.token_classifier import TokenClassifier

__all__ = ["CausalLM", "Classifier", "Embedder", "MaskedLMPretrainer", "MultiTask",
           "MultipleChoice", "Seq2SeqLM", "SpanQA", "TokenClassifier"]
