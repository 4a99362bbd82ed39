"""What `kzoo finetune` and `kzoo evaluate` do for each fine-tuning `data.task`: read a file,
carve a validation split, build the head, feed `fit`, and score held-out data with the task's
standard metrics (computed on predictions, so F1, MCC, entity F1 and SQuAD EM/F1 are exact)."""

import warnings

import numpy as np

from kzoo import data, text
from kzoo.data.parallel import Seq2SeqFormat, read_parallel, read_parallel_table, seq2seq_batches
from kzoo.data.conll import CONLL_LABELS, align_labels, read_conll
from kzoo.data.squad import best_spans, make_windows, read_squad
from kzoo.evaluation import (
    classification_metrics,
    correlation_metrics,
    entity_f1,
    squad_scores,
    summarization_scores,
    translation_scores,
)
from kzoo.tasks import Classifier, Seq2SeqLM, SpanQA, TokenClassifier
from kzoo.text.record import tokenizer_special_ids

INPUTS = ("token_ids", "segment_ids", "padding_mask")


def _inputs(arrays, model):
    return {k: arrays[k] for k in INPUTS if k in model.input}


def _class_weight(weights: dict, label_names) -> dict | None:
    """Keras `class_weight` from the run config (JSON turns the label indices into strings)."""
    weights = {int(k): float(v) for k, v in weights.items()}
    unknown = sorted(set(weights) - set(range(len(label_names))))
    if unknown:
        raise ValueError(
            f"training.class_weights names label indices {unknown}, but data.label_names "
            f"{list(label_names)} has indices 0..{len(label_names) - 1}."
        )
    return weights or None


class FinetuneTask:
    """One `data.task`: `read(path, data_section)` → examples, `split` → (train, validation),
    `head(backbone, run)` → task model, `fit_inputs` → `fit`'s data arguments, `metrics` → dict."""

    def split(self, examples, fraction, seed):
        """Rows at random with the run's seed."""
        return data.split_off(examples, fraction, seed=seed)

    def class_weight(self, run):
        """`fit`'s class_weight; only classification has classes to weight."""
        if run.training.class_weights:
            raise ValueError(
                f"training.class_weights applies to data.task classification, not {run.data.task!r}; "
                f"remove it from the run config."
            )
        return None


class Classification(FinetuneTask):
    """Single sentences or pairs (TSV/CSV/JSONL columns) with labels from `data.label_names`."""

    regression = False

    def read(self, path, d):
        return data.read_classification(
            path,
            d.text_column,
            d.pair_column,
            d.label_column,
            d.label_names,
            regression=self.regression,
        )

    def head(self, backbone, run):
        names = list(run.data.label_names)
        return Classifier(
            backbone, num_classes=len(names), label_names=names, dropout=run.training.head_dropout
        )

    def fit_inputs(self, model, examples, tokenizer, run):
        encode = text.TextPairEncoder(tokenizer, run.data.sequence_length)
        return {
            "x": data.classification_batches(
                examples,
                encode,
                run.training.batch_size,
                seed=run.training.seed,
                input_names=list(model.input),
            ),
            # The pipeline shuffles with the run's seed; Keras's own shuffle would only warn
            # that it cannot shuffle a tf.data.Dataset.
            "shuffle": False,
        }

    def class_weight(self, run):
        return _class_weight(run.training.class_weights, run.data.label_names)

    def predict(self, model, examples, tokenizer, run):
        encode = text.TextPairEncoder(tokenizer, run.data.sequence_length)
        batches = data.classification_batches(
            examples, encode, 128, shuffle=False, input_names=list(model.input)
        )
        return model.predict(batches, verbose=0)

    def metrics(self, model, examples, tokenizer, run):
        predicted = np.argmax(self.predict(model, examples, tokenizer, run), -1)
        _warn_if_one_class(predicted, examples["label"], run)
        if len(run.data.label_names) == 2:
            return classification_metrics(examples["label"], predicted)
        per_class = [
            classification_metrics(examples["label"], predicted, positive=c)["f1"]
            for c in range(len(run.data.label_names))
        ]
        return {
            "accuracy": float(np.mean(predicted == examples["label"])),
            "macro_f1": float(np.mean(per_class)),
        }


def _warn_if_one_class(predicted, labels, run):
    # A collapsed classifier scores the majority rate: it looks weak, not failed.
    if len(set(labels.tolist())) > 1 and len(set(predicted.tolist())) == 1:
        name = run.data.label_names[int(predicted[0])]
        warnings.warn(
            f"every validation prediction is class {name!r}: the classifier collapsed onto one "
            f"class. Check training.class_weights (the classes' balance) and "
            f"training.learning_rate (2e-5 to 1e-4 suits BERT-style fine-tuning), or train longer."
        )


class Regression(Classification):
    """STS-B style float labels: one output, mean squared error, Pearson and Spearman."""

    regression = True
    class_weight = FinetuneTask.class_weight

    def head(self, backbone, run):
        return Classifier(backbone, num_classes=1, dropout=run.training.head_dropout)

    def metrics(self, model, examples, tokenizer, run):
        return correlation_metrics(
            examples["label"], self.predict(model, examples, tokenizer, run)[:, 0]
        )


class NamedEntities(FinetuneTask):
    """CoNLL-2003 IOB files; each word's label sits on its first piece, scored with seqeval's entity F1."""

    def read(self, path, d):
        words, tags = read_conll(path)
        return {"words": words, "tags": tags}

    def head(self, backbone, run):
        return TokenClassifier(backbone, CONLL_LABELS, dropout=run.training.head_dropout)

    def fit_inputs(self, model, examples, tokenizer, run):
        arrays = align_labels(
            examples["words"], examples["tags"], tokenizer, run.data.sequence_length
        )
        return {
            "x": _inputs(arrays, model),
            "y": arrays["labels"],
            "sample_weight": arrays["label_weights"],
            "batch_size": run.training.batch_size,
        }

    def metrics(self, model, examples, tokenizer, run):
        arrays = align_labels(
            examples["words"], examples["tags"], tokenizer, run.data.sequence_length
        )
        predicted = np.argmax(model.predict(_inputs(arrays, model), batch_size=128, verbose=0), -1)
        predicted_tags = []
        for row, tags in enumerate(examples["tags"]):  # words cut off by the length count as "O"
            words = {
                int(w): CONLL_LABELS[p]
                for w, p in zip(arrays["word_index"][row], predicted[row])
                if w >= 0
            }
            predicted_tags.append([words.get(w, "O") for w in range(len(tags))])
        return entity_f1(examples["tags"], predicted_tags)


class ExtractiveQA(FinetuneTask):
    """SQuAD v1.1 JSON. Validation takes the file's last articles (`validation_fraction` of them),
    so no text straddles the split; answers are decoded n-best under a 30-token limit and scored
    with SQuAD's EM and F1."""

    def read(self, path, d):
        return read_squad(path)

    def split(self, examples, fraction, seed):
        """The last articles: a deterministic split by text, so `seed` is not used."""
        articles = sorted({e["article"] for e in examples})
        first_held_out = articles[-max(1, round(len(articles) * fraction))]
        return (
            [e for e in examples if e["article"] < first_held_out],
            [e for e in examples if e["article"] >= first_held_out],
        )

    def head(self, backbone, run):
        return SpanQA(backbone)

    def _windows(self, examples, tokenizer, run):
        return make_windows(examples, tokenizer, run.data.sequence_length, run.data.doc_stride)

    def fit_inputs(self, model, examples, tokenizer, run):
        windows = self._windows(examples, tokenizer, run)
        return {
            "x": _inputs(windows, model),
            "y": {"start": windows["start_positions"], "end": windows["end_positions"]},
            "batch_size": run.training.batch_size,
        }

    def metrics(self, model, examples, tokenizer, run):
        windows = self._windows(examples, tokenizer, run)
        logits = model.predict(_inputs(windows, model), batch_size=64, verbose=0)
        answers = best_spans(logits["start"], logits["end"], windows, examples)
        scores = np.array([squad_scores(a, e["answers"]) for a, e in zip(answers, examples)])
        return {"exact_match": float(scores[:, 0].mean()), "f1": float(scores[:, 1].mean())}


class TextToText(FinetuneTask):
    """Translation or summarization on an encoder-decoder: aligned files or a two-column table,
    teacher-forced training, and sacreBLEU / ROUGE of beam-search outputs on validation."""

    def __init__(self, scores):
        self.scores = scores

    def read(self, path, d):
        target = d.target_file if path == d.files[0] else d.validation_target_file
        if target:
            return read_parallel(path, target)
        return read_parallel_table(path, d.source_column, d.target_column)

    def split(self, examples, fraction, seed):
        return examples.split_off(max(1, round(len(examples) * fraction)), seed)

    def head(self, backbone, run):
        if backbone.config.stack != "encoder_decoder":
            raise ValueError(
                f"data.task {run.data.task!r} needs an encoder-decoder to start from (a T5 or "
                f"BART checkpoint, or a kzoo span_corruption / denoising run), not a "
                f"{backbone.config.stack}."
            )
        return Seq2SeqLM(backbone)

    def _format(self, model, tokenizer, run):
        ids = tokenizer_special_ids(tokenizer)
        return Seq2SeqFormat(
            run.data.sequence_length, run.data.max_target_length,
            model.decoder_start_token_id, text.end_of_text_id(tokenizer), ids.get("pad", 0))

    def fit_inputs(self, model, examples, tokenizer, run):
        form = self._format(model, tokenizer, run)
        batches = seq2seq_batches(
            examples, tokenizer, form, run.training.batch_size, seed=run.training.seed)
        return {"x": batches, "shuffle": False}

    def metrics(self, model, examples, tokenizer, run):
        from kzoo.generation.seq2seq import Seq2SeqGenerator

        form = self._format(model, tokenizer, run)
        translate = Seq2SeqGenerator(model, tokenizer, form.max_source_length,
                                     end_token_id=form.end_id, pad_token_id=form.pad_id)
        outputs = []
        for start in range(0, len(examples), 64):
            outputs += translate(examples.source[start:start + 64], method="beam", num_beams=4,
                                 max_new_tokens=form.max_target_length)
        scores = self.scores(outputs, examples.target)
        return {k: v for k, v in scores.items() if not isinstance(v, str)}


FINETUNE_TASKS = {
    "classification": Classification(),
    "regression": Regression(),
    "ner": NamedEntities(),
    "qa": ExtractiveQA(),
    "translation": TextToText(translation_scores),
    "summarization": TextToText(summarization_scores),
}
