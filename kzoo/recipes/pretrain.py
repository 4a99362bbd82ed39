"""`kzoo pretrain`: raw text files → vocabulary → MLM+NSP, causal-LM, T5 span-corruption or
BART denoising pretraining, resumable; each `data.task` is a row of `OBJECTIVES`."""

import contextlib
import warnings
from pathlib import Path
from typing import Callable, NamedTuple

import keras

import kzoo
from kzoo import data, text
from kzoo.data import denoising
from kzoo.data.parallel import bucketed
from kzoo.recipes.run_changes import check_changes, record_changes
from kzoo.recipes.run_config import PRETRAINING_TASKS, RUN_FILE, RunConfig, load_run_config
from kzoo.tasks import CausalLM, MaskedLMPretrainer, Seq2SeqLM
from kzoo.training import make_optimizer, train
from kzoo.training.checkpoints import checkpoint_steps, restore_latest
from kzoo.training.distribution import strategy_scope, worker_dir
from kzoo.training.model_file import MODEL_FILE, save_model_file
from kzoo.training.monitoring import TextSamples, training_flops_per_token
from kzoo.training.run_lock import RunLock


def run_tokenizer(run: RunConfig, directory):
    """The run's tokenizer, recorded in `directory`: the one recorded there already (a resumed
    run), else WordPiece from the given vocabulary or from one learned now."""
    directory = Path(directory)
    if (directory / text.record.RECORD).exists() or (directory / "vocab.txt").exists():
        return text.load_tokenizer(directory)
    if run.data.vocabulary:
        tokenizer = text.load_wordpiece(run.data.vocabulary)
    else:
        vocabulary = text.learn_wordpiece_vocabulary(list(run.data.files), run.data.vocab_size)
        tokenizer = text.load_wordpiece(vocabulary)
    text.save_tokenizer(tokenizer, directory)
    return tokenizer


def pretraining_batches(run: RunConfig, tokenizer):
    """(training, validation) batches. Training batches are deterministic for the seed, so a
    resumed run sees exactly the batches it had left. Validation holds out the last
    `data.validation_fraction` of the documents (with fixed masks and noise); None when it is
    0."""
    d = run.data
    documents = data.read_documents(list(d.files))
    cut = len(documents) - int(len(documents) * d.validation_fraction)
    if d.validation_fraction and (cut < 2 or len(documents) - cut < 2):
        raise ValueError(
            f"data.validation_fraction={d.validation_fraction} leaves {cut} training and "
            f"{len(documents) - cut} validation documents; each side needs at least 2."
        )
    batches = OBJECTIVES[d.task].batches
    return batches(run, tokenizer, documents[:cut], True), (
        data.with_known_length(batches(run, tokenizer, documents[cut:], False))
        if d.validation_fraction
        else None
    )


def _causal_lm_batches(run, tokenizer, docs, training):
    d, t = run.data, run.training
    windows = data.causal_lm_windows(
        docs, tokenizer, d.sequence_length, tokenizer.token_to_id("[SEP]")
    )
    if training:
        return data.causal_lm_batches(windows.cache(), t.batch_size, seed=t.seed).repeat()
    return data.causal_lm_batches(windows, t.batch_size, shuffle_buffer=0).cache()


def _mlm_nsp_batches(run, tokenizer, docs, training):
    d, t = run.data, run.training
    ids = tokenizer.token_to_id
    examples = data.make_nsp_examples(
        data.tokenize_documents(docs, tokenizer),
        d.sequence_length,
        ids("[CLS]"),
        ids("[SEP]"),
        seed=t.seed,
    )
    masking = data.MaskingConfig(
        tokenizer.vocabulary_size(),
        ids("[MASK]"),
        tuple(ids(x) for x in text.SPECIAL_TOKENS),
        max_predictions=d.max_predictions,
        whole_word=d.whole_word_masking,
    )
    flags = data.continuation_flags(tokenizer.get_vocabulary())
    if training:
        return data.mlm_nsp_batches(examples, masking, t.batch_size, flags, seed=t.seed)
    return data.mlm_nsp_batches(
        examples,
        masking,
        t.batch_size,
        flags,
        seed=t.seed + 1,
        epochs=1,
        static_masking=True,
        shuffle_buffer=0,
    ).cache()


# T5 keeps 100 sentinel ids above its vocabulary; a span-corruption run's model does too.
SENTINELS = 100


def _denoising_batches(run, tokenizer, docs, training):
    """Windows of `data.sequence_length` tokens, noised by the run's objective: afresh on each
    pass over the training windows (the draw follows the window's running index), fixed for
    validation."""
    d, t = run.data, run.training
    ids = tokenizer.token_to_id
    if d.task == "span_corruption":
        objective = denoising.SpanCorruption(tokenizer.vocabulary_size() + SENTINELS - 1)
    else:
        objective = denoising.TextInfilling(ids("[MASK]"))
    windows = data.causal_lm_windows(docs, tokenizer, d.sequence_length, ids("[SEP]"))
    windows = windows.map(lambda w: w["token_ids"]).cache()
    if training:
        windows = windows.shuffle(10_000, seed=t.seed).repeat()
    examples = denoising.denoising_examples(windows, objective, start_id=ids("[PAD]"),
                                            end_id=ids("[SEP]"), seed=t.seed + (not training))
    batches = bucketed(examples, t.batch_size, ids("[PAD]"), d.sequence_length + 1)
    return batches if training else batches.cache()


class Objective(NamedTuple):
    """How one pretraining `data.task` makes its batches and its model."""

    batches: Callable  # (run, tokenizer, documents, training) -> tf.data.Dataset
    build: Callable  # (preset, vocabulary_size, overrides) -> task
    head_fraction: Callable  # (data section) -> share of tokens the output head reads


def _encoder_decoder(preset, vocabulary, overrides, extra_ids=0):
    # The decoder starts from WordPiece's [PAD] (id 0), as T5 starts from its pad id.
    overrides = {"decoder_start_token_id": 0, **overrides}
    return Seq2SeqLM(kzoo.build_encoder_decoder(preset, vocab_size=vocabulary + extra_ids,
                                                **overrides))


OBJECTIVES = {
    "mlm_nsp": Objective(
        _mlm_nsp_batches,
        lambda preset, vocabulary, overrides: MaskedLMPretrainer(
            kzoo.build_encoder(preset, vocab_size=vocabulary, **overrides)),
        lambda d: d.max_predictions / d.sequence_length),
    "causal_lm": Objective(
        _causal_lm_batches,
        lambda preset, vocabulary, overrides: CausalLM(
            kzoo.build_decoder(preset, vocab_size=vocabulary, **overrides)),
        lambda d: 1.0),
    "span_corruption": Objective(
        _denoising_batches,
        lambda preset, vocabulary, overrides: _encoder_decoder(preset, vocabulary, overrides,
                                                               SENTINELS),
        lambda d: 1.0),
    "denoising": Objective(_denoising_batches, _encoder_decoder, lambda d: 1.0),
}


def sample_prompts(files, count=2, words=4) -> list[str]:
    """The opening words of the first documents: prompts for the TensorBoard text samples."""
    return [" ".join(doc.split()[:words]) for doc in data.read_documents(list(files))[:count]]


def build_pretraining_task(run: RunConfig, vocabulary_size):
    overrides = {**run.model.overrides, "dtype": run.training.precision}
    length = run.data.sequence_length
    if run.data.task == "causal_lm":  # stacks sized to the windows, unless the config says
        overrides.setdefault("max_positions", max(length, 16))
    elif run.data.task != "mlm_nsp":  # room for the end token and BART's inserted masks
        overrides.setdefault("max_positions", max(2 * length, 16))
    return OBJECTIVES[run.data.task].build(run.model.preset, vocabulary_size, overrides)


def run_pretraining(run: RunConfig, verbose="auto", allow_changes=()):
    """Trains (or resumes) the run in `run.run_dir`; returns (task, tokenizer, history).

    The run directory then holds run.json, vocab.txt, checkpoints/, logs/ and
    model.keras — enough to resume, to fine-tune, or to export. The directory is locked while
    the run lasts (`kzoo.training.run_lock.RunLock`): a second run on it is refused before it
    writes anything. A config given again for an existing run is compared with its run.json
    first (`kzoo.recipes.run_changes`): settings in `allow_changes` may differ.
    """
    t = run.training
    with contextlib.ExitStack() as held:
        with strategy_scope(t.strategy) as strategy:
            own_dir = worker_dir(
                run.run_dir, strategy
            )  # the run dir, but for the extra workers of a cluster
            held.enter_context(RunLock(own_dir))
            record_changes(own_dir, check_changes(run, own_dir, allow_changes))
            run.save(own_dir)
            keras.utils.set_random_seed(t.seed)
            tokenizer = run_tokenizer(run, own_dir)
            task = build_pretraining_task(run, tokenizer.vocabulary_size())
            task.compile(optimizer=_optimizer(t))
        return _train(run, task, tokenizer, own_dir, verbose)


def _optimizer(t):
    optimizer = make_optimizer(
        t.learning_rate,
        total_steps=t.steps,
        warmup_steps=t.warmup(t.steps),
        decay=t.decay,
        weight_decay=t.weight_decay,
    )
    if t.precision == "mixed_float16":  # float16 gradients underflow without dynamic loss scaling
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _train(run: RunConfig, task, tokenizer, own_dir, verbose):
    t, d = run.training, run.data
    training, validation = pretraining_batches(run, tokenizer)
    causal = d.task == "causal_lm"
    flops = training_flops_per_token(
        task.backbone.config, d.sequence_length, OBJECTIVES[d.task].head_fraction(d)
    )
    samples = (
        [
            TextSamples(
                own_dir / "logs",
                tokenizer,
                sample_prompts(d.files),
                every=t.checkpoint_every,
                max_new_tokens=min(32, task.backbone.config.max_positions // 2),
                end_token_id=text.end_of_text_id(tokenizer),
            )
        ]
        if causal
        else []
    )
    history = train(
        task,
        training,
        run.run_dir,
        t.steps,
        checkpoint_every=t.checkpoint_every,
        keep=t.keep_checkpoints,
        tokens_per_batch=t.batch_size * d.sequence_length,
        verbose=verbose,
        validation_data=validation,
        flops_per_token=flops,
        callbacks=samples,
    )
    save_model_file(task, own_dir)
    return task, tokenizer, history


def rebuild_model_file(run_dir):
    """Rebuilds a pretraining run's missing or damaged model.keras (a kill during the final
    save, a copy cut short) from its run.json, tokenizer and latest checkpoint; returns the
    task."""
    run_dir = Path(run_dir)
    damaged = run_dir / MODEL_FILE
    run = load_run_config(run_dir) if (run_dir / RUN_FILE).exists() else None
    steps = checkpoint_steps(run_dir / "checkpoints")
    if run is None or run.data.task not in PRETRAINING_TASKS or not steps:
        raise ValueError(
            f"{damaged}: the file is missing or damaged (not a whole .keras archive), and the "
            f"run directory has no pretraining checkpoints to rebuild it from; write it again "
            f"with the command that made it (kzoo finetune --config …, kzoo convert …)."
        )
    with RunLock(run_dir):
        tokenizer = text.load_tokenizer(run_dir)
        task = build_pretraining_task(run, tokenizer.vocabulary_size())
        task.compile(optimizer=_optimizer(run.training))
        step = restore_latest(task, run_dir / "checkpoints")
        save_model_file(task, run_dir)
    warnings.warn(
        f"{damaged} was missing or damaged; rebuilt it from the checkpoint of step {step}."
    )
    return task
