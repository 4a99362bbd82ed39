"""`kzoo finetune`: a pretrained encoder (kzoo run or Hugging Face checkpoint) + a classification head."""

from pathlib import Path

import keras

from kzoo import data, text
from kzoo.recipes.run_config import RunConfig
from kzoo.tasks import Classifier
from kzoo.training import make_optimizer


def load_run(run_dir):
    """(task model, tokenizer) saved in a kzoo run directory."""
    import kzoo.tasks  # noqa: F401  (registers the task and backbone classes for loading)

    run_dir = Path(run_dir)
    if not (run_dir / "model.keras").exists():
        raise FileNotFoundError(f"{run_dir}: no model.keras; pass a directory written by kzoo pretrain/finetune.")
    task = keras.saving.load_model(run_dir / "model.keras", compile=False)
    task.compile()  # the task's default loss and metrics, for evaluation or further training
    return task, text.load_wordpiece(run_dir / "vocab.txt")


def load_backbone(source):
    """The backbone and tokenizer of a kzoo run dir, a Hugging Face checkpoint dir, or a Google BERT
    checkpoint dir (TF1 release or TF Model Garden)."""
    source = Path(source)
    if (source / "model.keras").exists():
        task, tokenizer = load_run(source)
        return task.backbone, tokenizer
    if (source / "config.json").exists():
        from kzoo.convert import load_huggingface

        return load_huggingface(source)
    if list(source.glob("*.index")):
        from kzoo.convert import load_google_bert

        return load_google_bert(source)
    raise FileNotFoundError(f"{source}: neither a kzoo run (model.keras + vocab.txt), a Hugging Face "
                            f"checkpoint (config.json + model.safetensors) nor a Google BERT checkpoint "
                            f"(bert_model.ckpt.index + .data-*).")


def _class_weight(weights: dict, label_names) -> dict | None:
    """Keras `class_weight` from the run config (JSON turns the label indices into strings)."""
    weights = {int(k): float(v) for k, v in weights.items()}
    unknown = sorted(set(weights) - set(range(len(label_names))))
    if unknown:
        raise ValueError(f"training.class_weights names label indices {unknown}, but data.label_names "
                         f"{list(label_names)} has indices 0..{len(label_names) - 1}.")
    return weights or None


def run_finetuning(run: RunConfig, backbone=None, tokenizer=None, verbose="auto"):
    """Fine-tunes on `run.data.files[0]` with a validation split carved out of it.

    `model.overrides` that keep the weights' shapes (dropout, attention_dropout) apply to the
    starting backbone; `training.class_weights` and `training.head_dropout` to the classifier.

    Returns (classifier, tokenizer, validation metrics). The run dir gets run.json, model.keras and
    vocab.txt: enough for `kzoo evaluate` and `kzoo export`.
    """
    run.save(run.run_dir)
    keras.utils.set_random_seed(run.training.seed)
    if backbone is None:
        backbone, tokenizer = load_backbone(run.init_from)
    d, t = run.data, run.training
    table = data.read_classification(d.files[0], d.text_column, d.pair_column, d.label_column, d.label_names)
    train_set, validation = data.split_off(table, d.validation_fraction, seed=t.seed)
    if run.model.overrides:
        backbone = backbone.with_config(**run.model.overrides)
    classifier = Classifier(backbone, num_classes=len(d.label_names), label_names=list(d.label_names),
                            dropout=t.head_dropout)
    class_weight = _class_weight(t.class_weights, d.label_names)
    steps = len(train_set["label"]) // t.batch_size * t.epochs
    classifier.compile(optimizer=make_optimizer(t.learning_rate, total_steps=steps, warmup_steps=t.warmup_steps,
                                                weight_decay=t.weight_decay))
    encode = text.TextPairEncoder(tokenizer, d.sequence_length)
    names = list(classifier.input)
    classifier.fit(data.classification_batches(train_set, encode, t.batch_size, seed=t.seed, input_names=names),
                   epochs=t.epochs, verbose=verbose, class_weight=class_weight)
    metrics = classifier.evaluate(data.classification_batches(validation, encode, 128, shuffle=False,
                                                              input_names=names), return_dict=True, verbose=0)
    classifier.save(Path(run.run_dir) / "model.keras")
    (Path(run.run_dir) / "vocab.txt").write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
    return classifier, tokenizer, metrics
