"""`kzoo quickstart`: raw text → vocabulary → pretraining → fine-tuning → export → served
predictions.

It runs the same recipes as `kzoo pretrain` / `kzoo finetune` on data embedded in the package,
sized for a laptop CPU. A second run resumes the pretraining runs from their checkpoints.
"""

import time
from importlib import resources
from pathlib import Path

from kzoo import export
from kzoo.recipes import RunConfig, run_finetuning, run_pretraining
from kzoo.recipes.finetune import load_backbone
from kzoo.recipes.run_config import DataSection, ModelSection, TrainingSection

SEQUENCE_LENGTH = 64
REVIEWS = ["a gorgeous , witty , seductive movie .", "the plot is a dull , lifeless mess ."]
SENTIMENT = {"0": "negative", "1": "positive"}
TINY_GPT = {
    "num_layers": 2,
    "hidden_size": 128,
    "num_heads": 2,
    "intermediate_size": 512,
    "max_positions": 128,
}


def _resource(name) -> str:
    return str(resources.files("kzoo") / "resources" / name)


def _step(message):
    print(f"\n== {message}", flush=True)


def pretrain_encoder(workdir, steps):
    _step(
        "1-2. learn a WordPiece vocabulary from raw text, then pretrain a tiny BERT with masked "
        f"LM + next-sentence prediction ({steps} steps)"
    )
    run = RunConfig(
        model=ModelSection("bert_tiny", {"max_positions": SEQUENCE_LENGTH}),
        data=DataSection(
            task="mlm_nsp",
            files=(_resource("wikitext2_corpus.txt"),),
            vocab_size=4000,
            sequence_length=SEQUENCE_LENGTH,
            max_predictions=10,
            whole_word_masking=True,
        ),
        training=TrainingSection(
            steps=steps,
            batch_size=32,
            learning_rate=1e-3,
            warmup_steps=steps // 10,
            checkpoint_every=steps // 4,
        ),
        run_dir=str(workdir / "pretrain"),
    )
    pretrainer, tokenizer, history = run_pretraining(run, verbose=2)
    logs = history.history
    if logs:
        print(
            f"MLM accuracy {logs['mlm_accuracy'][0]:.3f} → {logs['mlm_accuracy'][-1]:.3f}, "
            f"NSP accuracy {logs['nsp_accuracy'][-1]:.3f}. "
            f"TensorBoard: tensorboard --logdir {workdir}"
        )
    return pretrainer, tokenizer


def import_encoder(workdir, source):
    _step(f"1-2. import a pretrained encoder and its vocabulary from {source}")
    backbone, tokenizer = load_backbone(source)
    if tokenizer is None:
        raise FileNotFoundError(
            f"{source}: the checkpoint has no vocab.txt; the quickstart needs its WordPiece "
            f"vocabulary."
        )
    vocabulary = workdir / "imported" / "vocab.txt"
    vocabulary.parent.mkdir(parents=True, exist_ok=True)
    vocabulary.write_text("\n".join(tokenizer.get_vocabulary()) + "\n", encoding="utf-8")
    print(f"{backbone.count_params():,} parameters, {tokenizer.vocabulary_size():,} tokens")
    return backbone, tokenizer, vocabulary


def pretrain_decoder(workdir, steps, vocabulary):
    _step(
        f"3. pretrain a tiny GPT with causal LM on the same text ({steps} steps) and sample from it"
    )
    run = RunConfig(
        model=ModelSection("gpt2_small", TINY_GPT),
        data=DataSection(
            task="causal_lm",
            files=(_resource("wikitext2_corpus.txt"),),
            vocabulary=str(vocabulary),
            sequence_length=SEQUENCE_LENGTH,
        ),
        training=TrainingSection(
            steps=steps,
            batch_size=16,
            learning_rate=1e-3,
            warmup_steps=steps // 10,
            checkpoint_every=steps // 2,
        ),
        run_dir=str(workdir / "causal_lm"),
    )
    lm, tokenizer, history = run_pretraining(run, verbose=2)
    if history.history:
        print(
            f"perplexity {history.history['perplexity'][0]:.0f} → "
            f"{history.history['perplexity'][-1]:.0f}"
        )
    print(
        "sample:",
        lm.generate(
            ["the lobster is"], tokenizer, max_new_tokens=16, method="sample", top_k=20, seed=0
        )[0],
    )
    return lm


def finetune_classifier(workdir, backbone, tokenizer, epochs, learning_rate):
    _step(
        "4. fine-tune the pretrained encoder on SST-2 sentiment (5,000 embedded phrases, "
        f"{epochs} epochs)"
    )
    run = RunConfig(
        data=DataSection(
            task="classification",
            files=(_resource("sst2_sample.tsv"),),
            sequence_length=SEQUENCE_LENGTH,
        ),
        training=TrainingSection(epochs=epochs, batch_size=32, learning_rate=learning_rate),
        run_dir=str(workdir / "sst2"),
    )
    classifier, _, metrics = run_finetuning(run, backbone, tokenizer, verbose=2)
    print(f"held-out accuracy {metrics['accuracy']:.3f} (500 phrases carved out of the sample)")
    return classifier


def export_and_serve(classifier, lm, tokenizer):
    _step(
        "5. export raw-text SavedModels (TF Serving layout) and query them from a fresh process, "
        "through TF Serving's session loader"
    )
    classifier_dir = export.export_saved_model(
        classifier, tokenizer, "saved_models/quickstart_sst2", sequence_length=SEQUENCE_LENGTH
    )
    lm_dir = export.export_saved_model(
        lm,
        tokenizer,
        "saved_models/quickstart_gpt",
        sequence_length=32,
        end_token_id=tokenizer.token_to_id("[SEP]"),
    )
    for version_dir in (classifier_dir, lm_dir):
        replies = export.replay_warmup_in_fresh_process(version_dir)["session"]
        print(
            f"exported {version_dir}: {len(export.check_serving_ops(version_dir))} graph ops, "
            f"all TensorFlow / TF Text; {len(replies)} warmup requests answered by the session "
            "loader (tf.compat.v1.saved_model.loader: TF Serving's C++ LoadSavedModel path)"
        )
    outputs = export.predict_in_fresh_process(classifier_dir, {"text": REVIEWS}, loader="session")
    for review, label, probs in zip(REVIEWS, outputs["labels"], outputs["probabilities"]):
        print(f"  {SENTIMENT[label]:8s} p={max(probs):.2f}  {review}")
    request = {
        "prompt": ["the lobster is"],
        "max_new_tokens": 12,
        "method": "greedy",
        "temperature": 1.0,
        "top_k": 0,
        "top_p": 1.0,
        "seed": 0,
    }
    continuation = export.predict_in_fresh_process(lm_dir, request, loader="session")["text"][0]
    print(f"  generate: 'the lobster is' → {continuation!r}")


def run_quickstart(
    workdir="runs/quickstart", pretrain_steps=400, lm_steps=200, finetune_epochs=3, init_from=None
):
    """Runs the whole path and prints what each step did.

    `init_from` (a Hugging Face, Google BERT or kzoo run directory) replaces the encoder's
    pretraining with that checkpoint, fine-tuned for one epoch at a pretrained model's learning
    rate.
    Its runs go to `workdir/from_<checkpoint name>`: their configs differ from the plain
    quickstart's, and a run directory refuses a config other than its own.
    """
    start = time.perf_counter()
    workdir = Path(workdir) / (f"from_{Path(init_from).resolve().name}" if init_from else "")
    if init_from:
        backbone, tokenizer, vocabulary = import_encoder(workdir, init_from)
        finetune_epochs, learning_rate = 1, 5e-5
    else:
        pretrainer, tokenizer = pretrain_encoder(workdir, pretrain_steps)
        backbone, vocabulary, learning_rate = (
            pretrainer.backbone,
            workdir / "pretrain" / "vocab.txt",
            2e-4,
        )
    lm = pretrain_decoder(workdir, lm_steps, vocabulary)
    classifier = finetune_classifier(workdir, backbone, tokenizer, finetune_epochs, learning_rate)
    export_and_serve(classifier, lm, tokenizer)
    print(f"\nquickstart finished in {time.perf_counter() - start:.0f} s")
