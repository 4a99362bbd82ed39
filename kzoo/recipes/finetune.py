"""`kzoo finetune` / `kzoo evaluate`: a pretrained encoder (kzoo run, Hugging Face or Google
checkpoint) + a task head, trained and scored per `data.task` (see finetune_tasks.py)."""

import dataclasses
from pathlib import Path

import keras

from kzoo import text
from kzoo.recipes.finetune_tasks import FINETUNE_TASKS
from kzoo.recipes.pretrain import rebuild_model_file
from kzoo.recipes.run_changes import check_changes, record_changes
from kzoo.recipes.run_config import RunConfig, load_run_config
from kzoo.training import make_optimizer
from kzoo.training.loop import progress_verbosity
from kzoo.training.model_file import MODEL_FILE, is_damaged, save_model_file
from kzoo.training.run_lock import RunLock


def load_run(run_dir):
    """(task model, tokenizer) saved in a kzoo run directory (its tokenizer record says which
    tokenizer)."""
    import kzoo.tasks  # noqa: F401  (registers the task and backbone classes for loading)

    run_dir = Path(run_dir)
    path = run_dir / MODEL_FILE
    if not path.exists() and not (run_dir / "checkpoints").is_dir():
        raise FileNotFoundError(
            f"{run_dir}: no {MODEL_FILE}; pass a directory written by kzoo pretrain/finetune."
        )
    if is_damaged(path) or not path.exists():  # a kill during a run's final save
        task = rebuild_model_file(run_dir)
    else:
        task = keras.saving.load_model(path, compile=False)
    task.compile()  # the task's default loss and metrics, for evaluation or further training
    return task, text.load_tokenizer(run_dir)


def load_backbone(source):
    """The backbone and tokenizer of a kzoo run dir, a Hugging Face checkpoint dir, or a Google BERT
    checkpoint dir (TF1 release or TF Model Garden)."""
    source = Path(source)
    if (source / MODEL_FILE).exists() or (source / "checkpoints").is_dir():
        task, tokenizer = load_run(source)
        return task.backbone, tokenizer
    if (source / "config.json").exists():
        from kzoo.convert import load_huggingface

        return load_huggingface(source)
    if list(source.glob("*.index")):
        from kzoo.convert import load_google_bert

        return load_google_bert(source)
    raise FileNotFoundError(
        f"{source}: neither a kzoo run (model.keras + its tokenizer), a Hugging Face "
        f"checkpoint (config.json + model.safetensors) nor a Google BERT checkpoint "
        f"(bert_model.ckpt.index + .data-*)."
    )


def _steps_per_epoch(fit_inputs, batch_size):
    x = fit_inputs["x"]
    return (
        int(x.cardinality())
        if hasattr(x, "cardinality")
        else -(-len(x["token_ids"]) // batch_size)
    )


def run_finetuning(
    run: RunConfig, backbone=None, tokenizer=None, verbose="auto", allow_changes=()
):
    """Fine-tunes a head for `run.data.task` (classification, regression, ner, qa) on
    `run.data.files[0]`, and scores `data.validation_file`, or a split carved out of the training
    file, with the task's standard metrics.

    `model.overrides` that keep the weights' shapes (dropout, attention_dropout) apply to the
    starting backbone; `training.class_weights` (classification) and `training.head_dropout` to
    the head.

    Returns (task model, tokenizer, validation metrics). The run dir gets run.json, model.keras and
    vocab.txt: enough for `kzoo evaluate` and `kzoo export`. It is locked while the run lasts, and
    a config given again for it is checked against its run.json first (see `run_pretraining`).
    """
    with RunLock(run.run_dir):
        record_changes(run.run_dir, check_changes(run, run.run_dir, allow_changes))
        return _finetune(run, backbone, tokenizer, verbose)


def _finetune(run: RunConfig, backbone, tokenizer, verbose):
    run.save(run.run_dir)
    keras.utils.set_random_seed(run.training.seed)
    if backbone is None:
        backbone, tokenizer = _starting_backbone(run)
    else:
        # Seeding TensorFlow clears its kernel cache, and with it the model resource of a
        # SentencePiece tokenizer made before: the run uses its recorded copy, made after.
        text.save_tokenizer(tokenizer, run.run_dir)
        tokenizer = text.load_tokenizer(run.run_dir)
    d, t = run.data, run.training
    recipe = FINETUNE_TASKS[d.task]
    train_set = recipe.read(d.files[0], d)
    if d.validation_file:
        validation = recipe.read(d.validation_file, d)
    else:
        train_set, validation = recipe.split(train_set, d.validation_fraction, t.seed)
    if run.model.overrides:
        backbone = backbone.with_config(**run.model.overrides)
    model = recipe.head(backbone, run)
    fit_inputs = recipe.fit_inputs(model, train_set, tokenizer, run)
    steps = _steps_per_epoch(fit_inputs, t.batch_size) * t.epochs
    trained = model if run.teacher is None else _distiller(run, model)
    trained.compile(
        optimizer=make_optimizer(
            t.learning_rate,
            total_steps=steps,
            warmup_steps=t.warmup(steps),
            weight_decay=t.weight_decay,
        )
    )
    trained.fit(
        **fit_inputs,
        epochs=t.epochs,
        verbose=progress_verbosity(verbose),
        class_weight=recipe.class_weight(run),
        callbacks=_pruning(t.sparsity, steps),
    )
    metrics = recipe.metrics(model, validation, tokenizer, run)
    save_model_file(model, run.run_dir)
    text.save_tokenizer(tokenizer, run.run_dir)
    return model, tokenizer, metrics


def _starting_backbone(run: RunConfig):
    """The backbone and tokenizer fine-tuning starts from: `init_from`, or for a distillation
    student without one, a fresh `model.preset` on the teacher's tokenizer."""
    if run.init_from is not None or run.teacher is None:
        if run.init_from is None:
            raise ValueError(
                "init_from is not set: name the pretrained run or checkpoint to fine-tune (or a "
                "teacher run to distil from)."
            )
        return load_backbone(run.init_from)
    from kzoo.config import resolve_config
    from kzoo.models import BACKBONES

    tokenizer = text.load_tokenizer(run.teacher)
    config = resolve_config(
        run.model.preset, **{**run.model.overrides, "vocab_size": tokenizer.vocabulary_size()}
    )
    return BACKBONES[config.stack](config), tokenizer


def _pruning(sparsity, steps) -> list:
    """`training.sparsity`'s callback: prune over the first 80% of the steps, 20 mask updates."""
    if not sparsity:
        return []
    from kzoo.compression import MagnitudePruning

    end = max(int(0.8 * steps), 1)
    return [MagnitudePruning(sparsity, end_step=end, frequency=max(end // 20, 1))]


def _distiller(run: RunConfig, student):
    from kzoo.compression import Distiller

    teacher, _ = load_run(run.teacher)
    t = run.training
    return Distiller(
        teacher, student, temperature=t.distillation_temperature, alpha=t.distillation_alpha
    )


def evaluate_run(run_dir, path, target=None) -> dict:
    """The standard metrics of a fine-tuned run dir on a labelled file in its task's format
    (translation and summarization: `path` and its aligned `target` file, or one table)."""
    run = load_run_config(run_dir)
    model, tokenizer = load_run(run_dir)
    recipe = FINETUNE_TASKS[run.data.task]
    section = dataclasses.replace(run.data, validation_target_file=target)
    return recipe.metrics(model, recipe.read(path, section), tokenizer, run)
