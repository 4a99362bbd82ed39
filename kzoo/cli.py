"""The `kzoo` command: thin wiring from arguments to library calls."""

import argparse
import errno
import json
import os
import sys


def _quickstart(args):
    from kzoo.quickstart import run_quickstart

    run_quickstart(args.workdir, init_from=args.init_from)


def _presets(args):
    from kzoo.config import PRESETS, parameter_count

    for name, c in PRESETS.items():
        print(
            f"{name:15s} {c.stack:8s} layers={c.num_layers:2d} hidden={c.hidden_size:4d} "
            f"heads={c.num_heads:2d} kv_heads={c.kv_heads:2d} positions={c.position_encoding:8s}"
            f" norm={c.norm:10s} ffn={c.feed_forward}/{c.activation:9s} "
            f"params={parameter_count(c):,}"
        )


def _pretrain(args):
    from kzoo.recipes import load_run_config, run_pretraining
    from kzoo.training.distribution import strategy_of, worker_dir

    run = load_run_config(args.resume or args.config)
    task, _, history = run_pretraining(run, allow_changes=tuple(args.allow_changes))
    _print_metrics(
        {k: v[-1] for k, v in history.history.items()}, worker_dir(run.run_dir, strategy_of(task))
    )


def _finetune(args):
    from kzoo.recipes import load_run_config, run_finetuning

    run = load_run_config(args.config)
    _, _, metrics = run_finetuning(run, allow_changes=tuple(args.allow_changes))
    _print_metrics(metrics, run.run_dir)


def _distill(args):
    from dataclasses import replace

    from kzoo.recipes import load_run_config, run_finetuning

    run = load_run_config(args.config)
    run = replace(run, teacher=args.teacher or run.teacher)
    if run.teacher is None:
        raise ValueError(f"{args.config}: no teacher; pass --teacher RUN_DIR or set teacher:.")
    _, _, metrics = run_finetuning(run, allow_changes=tuple(args.allow_changes))
    _print_metrics(metrics, run.run_dir)


def _evaluate(args):
    from kzoo.recipes import evaluate_run

    _print_metrics(evaluate_run(args.run_dir, args.data, args.target), args.run_dir,
                   "evaluation")


def _print_metrics(metrics, run_dir, name="metrics"):
    metrics = {k: round(float(v), 4) for k, v in metrics.items()}
    width = max(map(len, metrics), default=0)
    for key, value in metrics.items():
        print(f"{key:{width}s}  {value}")
    path = os.path.join(run_dir, f"{name}.json")
    with open(path, "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"written to {path}")


def _generate(args):
    from kzoo.recipes import load_run
    from kzoo.text import end_of_text_id, kind_of

    lm, tokenizer = load_run(args.model)
    if lm.backbone.config.stack == "encoder":
        raise ValueError(
            f"{args.model} is a {type(lm).__name__} on an encoder; kzoo generate "
            f"needs a causal_lm or encoder-decoder run (kzoo pretrain with data.task: causal_lm, "
            f"span_corruption or denoising; or kzoo convert --task causal_lm / seq2seq_lm)."
        )
    options = dict(
        max_new_tokens=args.max_new_tokens,
        method=args.method,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        num_beams=args.beams,
        seed=args.seed,
        repetition_penalty=args.repetition_penalty,
        end_token_id=end_of_text_id(tokenizer),
    )
    from kzoo.generation import Generator

    shown = kind_of(tokenizer).stream_piece
    if lm.backbone.config.stack == "encoder_decoder":  # the prompt is the source text
        from kzoo.generation.seq2seq import Seq2SeqGenerator

        generator = Seq2SeqGenerator(lm, tokenizer)
        if args.method == "beam":
            print(generator([args.prompt], **options)[0])
            return
        for piece in generator.stream(args.prompt, **options):  # pieces of the final text
            print(piece, end="", flush=True)
        print()
        return
    if args.method == "beam":
        k = args.num_return_sequences
        for beam in Generator(lm.backbone, tokenizer).beams(
            [args.prompt], num_return_sequences=k, **options
        )[0]:
            print(f"{beam.score:.4f}\t{beam.text}" if k > 1 else beam.text)
        return

    print(args.prompt, end="", flush=True)
    for piece in Generator(lm.backbone, tokenizer).stream(args.prompt, **options):
        print(shown(piece), end="", flush=True)
    print()


def _export(args):
    from kzoo import export
    from kzoo.recipes import load_run, load_run_config
    from kzoo.recipes.run_config import RUN_FILE
    from kzoo.text import end_of_text_id

    export.check_model_name(args.name)
    task, tokenizer = load_run(args.run_dir)
    run_file = os.path.join(args.run_dir, RUN_FILE)
    pair = os.path.exists(run_file) and bool(load_run_config(run_file).data.pair_column)
    version = export.export_saved_model(
        task,
        tokenizer,
        os.path.join(args.saved_models, args.name),
        sequence_length=args.sequence_length,
        pair=pair,
        end_token_id=end_of_text_id(tokenizer),
        precision=args.precision,
        jit_compile=args.xla,
    )
    inputs = "text, text_pair" if pair else "the model's text inputs"
    length = export.serving_length(task, args.sequence_length)
    print(
        f"exported {version} ({len(export.check_serving_ops(version))} ops, all TF / TF Text; "
        f"serving_default takes {inputs}; sequence length {length})"
    )


def _convert(args):
    from kzoo.convert import load_google_bert, load_huggingface
    from kzoo.text import save_tokenizer
    from kzoo.training.model_file import save_model_file

    google = any(
        name == "bert_config.json" or name.endswith(".index") for name in os.listdir(args.source)
    )
    model, tokenizer = (load_google_bert if google else load_huggingface)(
        args.source, task=args.task
    )
    os.makedirs(args.output, exist_ok=True)
    save_model_file(model, args.output)
    if tokenizer is not None:
        save_tokenizer(tokenizer, args.output)
    print(f"converted {args.source} → {args.output} ({model.count_params():,} parameters)")


def _predict(args):
    from kzoo.serving import rest_predict

    inputs = {"text": args.text, **({"text_pair": args.text_pair} if args.text_pair else {})}
    outputs = rest_predict(args.server, args.model, inputs, args.signature, args.version)
    print(json.dumps(outputs, ensure_ascii=False))


def _embed(args):
    import numpy as np
    import tensorflow as tf

    from kzoo.recipes import load_backbone
    from kzoo.tasks import Embedder
    from kzoo.text import TextPairEncoder

    encoder, tokenizer = load_backbone(args.model)  # a kzoo run or a Hugging Face checkpoint
    if encoder.config.stack != "encoder":
        raise ValueError(
            f"{args.model} holds a {encoder.config.stack}; kzoo embed needs an "
            f"encoder (a BERT-style run or checkpoint, e.g. all-MiniLM-L6-v2)."
        )
    vectors = np.asarray(
        Embedder(encoder)(TextPairEncoder(tokenizer, args.sequence_length)(tf.constant(args.text)))
    )
    for sentence, vector in zip(args.text, vectors):
        print(json.dumps({"text": sentence, "embedding": [round(float(x), 6) for x in vector]}))


class _HelpWithDefaults(argparse.HelpFormatter):
    """Each option's help ends with its default, where it has one."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.option_strings and not any(
            action.default is unset for unset in (None, False, argparse.SUPPRESS)
        ):
            text += " (default: %(default)s)"
        return text


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kzoo")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _quantize(args):
    from kzoo.recipes.compress import QUANTIZATION_FILE, quantize_run

    report = quantize_run(args.run_dir, args.output, args.mode, args.block_size)
    print(
        f"{args.output}: {report['quantized_layers']} layers in {args.mode} "
        f"({report['description']}); weights {report['weight_bytes'] / 1e6:.1f} MB, "
        f"{report['size_ratio']:.0%} of {report['source_weight_bytes'] / 1e6:.1f} MB "
        f"(details in {QUANTIZATION_FILE})"
    )


def _prune(args):
    from kzoo.recipes.compress import PRUNING_FILE, prune_run

    report = prune_run(args.run_dir, args.output, args.heads, args.neurons)
    print(
        f"{args.output}: {report['num_heads']} heads and {report['intermediate_size']} "
        f"feed-forward neurons per block; weights {report['weight_bytes'] / 1e6:.1f} MB, "
        f"{report['size_ratio']:.0%} of {report['source_weight_bytes'] / 1e6:.1f} MB "
        f"(details in {PRUNING_FILE})"
    )


def build_parser() -> argparse.ArgumentParser:
    from kzoo.compression.modes import DEFAULT_BLOCK_SIZE, MODES  # no Keras import

    parser = argparse.ArgumentParser(prog="kzoo", description=__doc__)
    parser.add_argument("--version", action="version", version=f"kzoo {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="on a failure, show the Python traceback"
    )

    def command(name, func, help):
        sub = commands.add_parser(
            name,
            help=help,
            parents=[common],
            formatter_class=_HelpWithDefaults,
        )
        sub.set_defaults(func=func)
        return sub

    quickstart = command(
        "quickstart", _quickstart, "raw text to served predictions, on embedded data"
    )
    quickstart.add_argument(
        "--workdir", default="runs/quickstart", help="where its runs and exports go"
    )
    quickstart.add_argument(
        "--init-from",
        help="start the encoder from this checkpoint (Hugging Face, Google "
        "BERT or kzoo run dir) instead of pretraining it",
    )
    command("presets", _presets, "list the model presets and their sizes")
    pretrain = command("pretrain", _pretrain, "MLM+NSP or causal-LM pretraining from a run config")
    source = pretrain.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", help="run.yaml or run.json")
    source.add_argument("--resume", help="a run directory to continue")
    finetune = command(
        "finetune",
        _finetune,
        "fine-tune a task head (classification, regression, ner, qa) from a run config",
    )
    finetune.add_argument("--config", required=True, help="run.yaml or run.json")
    distill = command(
        "distill",
        _distill,
        "fine-tune a smaller student to match a fine-tuned teacher run (soft targets + labels)",
    )
    distill.add_argument(
        "--config", required=True, help="the student's fine-tuning run.yaml (model, data, ...)"
    )
    distill.add_argument(
        "--teacher", help="the fine-tuned teacher run dir (or teacher: in config)"
    )
    for sub in (pretrain, finetune, distill):
        sub.add_argument(
            "--allow-changes",
            action="append",
            default=[],
            metavar="FIELD",
            help="let --config differ from the run directory's run.json in FIELD, "
            "e.g. training.learning_rate (repeatable; recorded in history.jsonl)",
        )
    evaluate = command("evaluate", _evaluate, "evaluate a fine-tuned run on a labelled file")
    evaluate.add_argument("run_dir", help="a fine-tuned run directory")
    evaluate.add_argument("--data", required=True, help="a labelled file in the task's format")
    evaluate.add_argument("--target", help="translation / summarization: the target file "
                          "aligned with --data (default: --data is a two-column table)")
    generate = command("generate", _generate, "continue a prompt with a causal-LM run")
    generate.add_argument("--model", required=True, help="a causal_lm run directory")
    generate.add_argument("--prompt", required=True, help="the text to continue")
    generate.add_argument(
        "--method",
        default="greedy",
        choices=["greedy", "sample", "beam"],
        help="decoding method (greedy and sample stream)",
    )
    generate.add_argument("--max-new-tokens", type=int, default=32, help="tokens to add")
    generate.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    generate.add_argument(
        "--top-k", type=int, default=0, help="sample among the k likeliest (0: all)"
    )
    generate.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass")
    generate.add_argument("--beams", type=int, default=4, help="beam width for --method beam")
    generate.add_argument(
        "--num-return-sequences",
        type=int,
        default=1,
        help="with --method beam: print this many best beams, each after its score",
    )
    generate.add_argument("--repetition-penalty", type=float, default=1.0, help="1 = off")
    generate.add_argument("--seed", type=int, help="sampling seed (default: a fresh one)")
    export = command("export", _export, "write a raw-text SavedModel version for TF Serving")
    export.add_argument("run_dir", help="a kzoo run directory")
    export.add_argument("--name", required=True, help="the served model's name")
    export.add_argument("--saved-models", default="saved_models", help="TF Serving's base dir")
    export.add_argument(
        "--sequence-length",
        type=int,
        help="tokens per input (default: the model's max_positions); for a "
        "causal LM, tokens per prompt (default: half of max_positions, the "
        "rest is room for new tokens)",
    )
    export.add_argument(
        "--precision",
        default="float32",
        help="a Keras dtype policy for the exported copy: bfloat16, mixed_float16, ...",
    )
    export.add_argument(
        "--xla", action="store_true", help="compile the model part of each signature with XLA"
    )
    quantize = command(
        "quantize", _quantize, "post-training quantization of a run, into a new run directory"
    )
    quantize.add_argument("run_dir", help="a kzoo run directory (fine-tuned, causal LM, ...)")
    quantize.add_argument("--output", required=True, help="the quantized run directory to write")
    quantize.add_argument(
        "--mode",
        required=True,
        choices=list(MODES),
        help="int8: weights and activations; int8_weights / int4_weights: weights only, "
        "for generation",
    )
    quantize.add_argument(
        "--block-size",
        type=int,
        default=DEFAULT_BLOCK_SIZE,
        help="int4_weights: input elements per scale; must divide each layer's input size",
    )
    prune = command(
        "prune", _prune, "remove the least important heads and neurons: a smaller, faster run"
    )
    prune.add_argument("run_dir", help="a kzoo run directory")
    prune.add_argument("--output", required=True, help="the pruned run directory to write")
    prune.add_argument("--heads", type=int, default=0, help="query heads to remove per block")
    prune.add_argument(
        "--neurons", type=int, default=0, help="feed-forward neurons to remove per block"
    )
    convert = command(
        "convert",
        _convert,
        "import a Hugging Face, Google BERT TF1 or TF Model Garden checkpoint as a kzoo model",
    )
    convert.add_argument(
        "source", help="a Hugging Face, Google BERT or Model Garden checkpoint dir"
    )
    convert.add_argument("--output", required=True, help="the kzoo run directory to write")
    convert.add_argument(
        "--task",
        choices=["pretraining", "causal_lm"],
        help="keep the MLM+NSP or LM heads (default: the bare backbone)",
    )
    predict = command("predict", _predict, "ask a running TF Serving for predictions (REST)")
    predict.add_argument("--server", default="http://localhost:8501", help="its REST address")
    predict.add_argument("--model", required=True, help="the served model's name")
    predict.add_argument("--signature", default="serving_default", help="the signature to call")
    predict.add_argument("--version", type=int, help="a model version (default: the latest)")
    predict.add_argument("--text-pair", nargs="+", help="second texts, for pair models")
    predict.add_argument("text", nargs="+", help="texts to send")
    embed = command("embed", _embed, "sentence embeddings (mean pooling + L2) from a checkpoint")
    embed.add_argument(
        "--model",
        required=True,
        help="a kzoo run directory or a Hugging Face checkpoint dir, e.g. all-MiniLM-L6-v2",
    )
    embed.add_argument("--sequence-length", type=int, default=256, help="tokens per text")
    embed.add_argument("text", nargs="+", help="sentences to embed")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except KeyboardInterrupt:
        print(
            f"kzoo {args.command}: interrupted; a run resumes from its last checkpoint "
            f"(kzoo pretrain --resume RUN_DIR).",
            file=sys.stderr,
        )
        return 130
    except Exception as error:  # every failure reaches the user as one line; --debug shows why
        if args.debug:
            raise
        print(f"kzoo {args.command}: error: {describe_error(error)}", file=sys.stderr)
        return 2
    return 0


def describe_error(error: BaseException) -> str:
    """One line that names the problem and the fix: kzoo's own errors say both already; system
    errors get the path and the usual remedy; anything else says it is unexpected."""
    for kind, describe in _error_lines().items():
        if isinstance(error, kind):
            return " ".join(describe(error).split())
    return " ".join(
        f"unexpected {type(error).__name__}: {str(error).strip()[:300]} (rerun with --debug "
        f"for the traceback, and report it)".split()
    )


def _os_error(error: OSError) -> str:
    path = error.filename or "a file"
    remedies = {
        errno.ENOSPC: "the disk is full: free space (old checkpoints, exports) or point the "
        "run directory at a larger disk, then run again (runs resume from their checkpoints)",
        errno.EISDIR: "it is a directory where a file is expected; give a file's path",
        errno.ENOTDIR: "a file stands where a directory is expected; give a directory",
        errno.EACCES: "permission denied; choose a path you can write, or fix its permissions",
        errno.EROFS: "the file system is read-only; choose a writable path",
        errno.ENOENT: "no such file or directory; check the path",
    }
    return f"{path}: {remedies.get(error.errno, error.strerror or str(error))}."


def _tf_error(error) -> str:
    first = (error.message or str(error)).strip().splitlines()[0][:300]
    return f"TensorFlow refused the operation ({type(error).__name__}: {first})."


def _error_lines() -> dict:
    """Error kinds → their one-line description, most specific first."""
    from kzoo.serving import ServingError

    lines = {ServingError: str, ValueError: str, FloatingPointError: str}
    lines[FileNotFoundError] = lambda e: _os_error(e) if e.filename else str(e)
    lines[OSError] = _os_error
    tf = sys.modules.get("tensorflow")  # an OpError needs TensorFlow loaded; never load it here
    if tf is not None:
        lines[tf.errors.OpError] = _tf_error
    return lines


if __name__ == "__main__":
    sys.exit(main())
