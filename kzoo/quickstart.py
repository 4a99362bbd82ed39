"""`kzoo quickstart`: raw text → vocabulary → pretraining → fine-tuning → export → served prediction.

Every step is a plain library call on data embedded in the package, sized for a laptop CPU.
"""

import time
from importlib import resources
from pathlib import Path

import keras
import numpy as np

import kzoo
from kzoo import data, export, text
from kzoo.tasks import CausalLM, Classifier, MaskedLMPretrainer
from kzoo.training import make_optimizer, train

SEQUENCE_LENGTH = 64
REVIEWS = ["a gorgeous , witty , seductive movie .", "the plot is a dull , lifeless mess ."]


def _resource(name) -> Path:
    return Path(str(resources.files("kzoo") / "resources" / name))


def _step(message):
    print(f"\n== {message}", flush=True)


def learn_vocabulary(workdir):
    _step("1. learn a WordPiece vocabulary from raw text (WikiText-2 sample, 400 KB)")
    vocabulary = text.learn_wordpiece_vocabulary(_resource("wikitext2_corpus.txt"), 4000,
                                                 output=workdir / "vocab.txt")
    print(f"{len(vocabulary)} tokens, written to {workdir / 'vocab.txt'}")
    return text.load_wordpiece(vocabulary)


def pretrain_encoder(tokenizer, workdir, steps):
    _step(f"2. pretrain a tiny BERT with masked LM + next-sentence prediction ({steps} steps)")
    documents = data.tokenize_documents(data.read_documents(_resource("wikitext2_corpus.txt")), tokenizer)
    ids = tokenizer.token_to_id
    examples = data.make_nsp_examples(documents, SEQUENCE_LENGTH, ids("[CLS]"), ids("[SEP]"))
    masking = data.MaskingConfig(tokenizer.vocabulary_size(), ids("[MASK]"),
                                 tuple(ids(t) for t in text.SPECIAL_TOKENS), max_predictions=10, whole_word=True)
    batches = data.mlm_nsp_batches(examples, masking, 32, data.continuation_flags(tokenizer.get_vocabulary()))
    encoder = kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=SEQUENCE_LENGTH)
    pretrainer = MaskedLMPretrainer(encoder)
    pretrainer.compile(optimizer=make_optimizer(1e-3, total_steps=steps, warmup_steps=steps // 10))
    history = train(pretrainer, batches, workdir / "pretrain", steps, checkpoint_every=steps // 4,
                    tokens_per_batch=32 * SEQUENCE_LENGTH, verbose=2)
    logs = history.history
    if logs:
        print(f"MLM accuracy {logs['mlm_accuracy'][0]:.3f} → {logs['mlm_accuracy'][-1]:.3f}, "
              f"NSP accuracy {logs['nsp_accuracy'][-1]:.3f}; TensorBoard: tensorboard --logdir {workdir}")
    return encoder


def pretrain_decoder(tokenizer, workdir, steps):
    _step(f"3. pretrain a tiny GPT with causal LM ({steps} steps)")
    documents = data.read_documents(_resource("wikitext2_corpus.txt"))
    windows = data.causal_lm_windows(documents, tokenizer, SEQUENCE_LENGTH, tokenizer.token_to_id("[SEP]"))
    batches = data.causal_lm_batches(windows.cache(), 16).repeat()
    decoder = kzoo.build_decoder("gpt2_small", vocab_size=tokenizer.vocabulary_size(), num_layers=2,
                                 hidden_size=128, num_heads=2, intermediate_size=512, max_positions=128)
    lm = CausalLM(decoder)
    lm.compile(optimizer=make_optimizer(1e-3, total_steps=steps, warmup_steps=steps // 10))
    history = train(lm, batches, workdir / "causal_lm", steps, checkpoint_every=steps // 2,
                    tokens_per_batch=16 * SEQUENCE_LENGTH, verbose=2)
    if history.history:
        print(f"perplexity {history.history['perplexity'][0]:.0f} → {history.history['perplexity'][-1]:.0f}")
    return decoder


def finetune_classifier(encoder, tokenizer, epochs):
    _step(f"4. fine-tune it on SST-2 sentiment (5,000 embedded phrases, {epochs} epochs)")
    train_set, validation = data.split_off(data.read_classification(_resource("sst2_sample.tsv")), 0.1)
    encode = text.TextPairEncoder(tokenizer, SEQUENCE_LENGTH)
    classifier = Classifier(encoder, num_classes=2, label_names=["negative", "positive"])
    classifier.compile(optimizer=make_optimizer(2e-4))
    classifier.fit(data.classification_batches(train_set, encode, 32), epochs=epochs, verbose=2,
                   validation_data=data.classification_batches(validation, encode, 64, shuffle=False))
    return classifier


def export_and_serve(classifier, tokenizer):
    _step("5. export a raw-text SavedModel (TF Serving layout) and query it from a fresh process")
    version_dir = export.export_saved_model(classifier, tokenizer, "saved_models/quickstart_sst2",
                                            sequence_length=SEQUENCE_LENGTH)
    ops = export.check_serving_ops(version_dir)
    print(f"exported {version_dir}: {len(ops)} graph ops, all TensorFlow / TF Text")
    outputs = export.predict_in_fresh_process(version_dir, {"text": REVIEWS})
    for review, label, probs in zip(REVIEWS, outputs["labels"], outputs["probabilities"]):
        print(f"  {label:8s} p={max(probs):.2f}  {review}")


def run_quickstart(workdir="runs/quickstart", pretrain_steps=400, lm_steps=200, finetune_epochs=3):
    """Runs the whole path; a re-run resumes the pretraining runs from their checkpoints."""
    start = time.perf_counter()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    np.set_printoptions(precision=3)
    tokenizer = learn_vocabulary(workdir)
    encoder = pretrain_encoder(tokenizer, workdir, pretrain_steps)
    pretrain_decoder(tokenizer, workdir, lm_steps)
    classifier = finetune_classifier(encoder, tokenizer, finetune_epochs)
    export_and_serve(classifier, tokenizer)
    print(f"\nquickstart finished in {time.perf_counter() - start:.0f} s")
