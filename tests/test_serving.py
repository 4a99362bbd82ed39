"""TF Serving's own loader: every export kind restores in a `tf.compat.v1` Session (the C++
`LoadSavedModel` path) and answers like the in-process Keras model; warmup replays there; bad
requests are refused in the graph and the process lives on; seeds are per request; names and
layout are safe for a server."""

import http.server
import re
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kzoo
from kzoo import cli
from kzoo.export import call_in_fresh_process, check_model_name, export_saved_model, serving_length
from kzoo.export.fresh_process import warmup_calls
from kzoo.generation import GenerationConfig, left_pad, sample_or_greedy
from kzoo.recipes import RunConfig
from kzoo.recipes.run_config import DataSection
from kzoo.serving import ServingError, rest_predict
from kzoo.tasks import CausalLM, Classifier, Embedder, MaskedLMPretrainer
from kzoo.text import TextPairEncoder, learn_wordpiece_vocabulary, load_wordpiece
from kzoo.training.adapters import enable_lora
from kzoo.training.optimizer import make_optimizer
from tf_examples import serialized_examples

DATA = Path(__file__).parent / "data"
ROOT = Path(__file__).parent.parent
LENGTH = 32
TEXTS = ["a charming and affecting journey", "a dull , lifeless movie", ""]
PAIRS = ["it was great", "it was not", "nothing"]


@pytest.fixture(scope="module")
def tokenizer():
    return load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 800))


def _encoder(tokenizer):
    keras.utils.set_random_seed(0)
    return kzoo.build_encoder(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=LENGTH
    )


def _decoder(tokenizer):
    keras.utils.set_random_seed(0)
    return kzoo.build_decoder(
        "gpt2_small",
        vocab_size=tokenizer.vocabulary_size(),
        num_layers=2,
        hidden_size=32,
        num_heads=2,
        intermediate_size=64,
        max_positions=LENGTH,
    )


def _encode(tokenizer, texts, pairs=None):
    return TextPairEncoder(tokenizer, LENGTH)(
        tf.constant(texts), None if pairs is None else tf.constant(pairs)
    )


def _probabilities(model, tokenizer, texts, pairs=None):
    return tf.nn.softmax(model(_encode(tokenizer, texts, pairs))).numpy()


@dataclass
class Case:
    """One export kind: the model, how it is exported, requests, and the outputs Keras expects."""

    task: object
    options: dict
    calls: list
    expected: list  # per call: {output name: array}, compared within `atol`
    atol: float = 1e-5
    end_token: int | None = None
    extra: dict = field(default_factory=dict)


def _call(signature, path=None, **inputs):
    return {"signature": signature, "inputs": inputs, **({"path": path} if path else {})}


def _classifier_case(tokenizer, precision="float32", jit_compile=False, atol=1e-5):
    model = Classifier(_encoder(tokenizer), num_classes=3, label_names=["neg", "neutral", "pos"])
    probabilities = _probabilities(model, tokenizer, TEXTS)
    return Case(
        model,
        dict(precision=precision, jit_compile=jit_compile),
        [_call("serving_default", text=TEXTS), _call("classify", inputs=serialized_examples(text=TEXTS))],
        [{"probabilities": probabilities}, {"scores": probabilities}],
        atol,
    )


def _variant_case(tokenizer, **options):
    """The classifier exported another way; only `serving_default` is written (fewer to load)."""
    case = _classifier_case(tokenizer, **options)
    case.options["signatures"] = ("serving_default",)
    case.calls, case.expected = case.calls[:1], case.expected[:1]
    return case


def _pair_case(tokenizer, num_classes=2):
    """A pair classifier on `serving_default` and `classify`; with one class, a regressor on
    `serving_default` and `regress`."""
    model = Classifier(_encoder(tokenizer), num_classes=num_classes)
    logits = model(_encode(tokenizer, TEXTS, PAIRS)).numpy()
    if num_classes == 1:
        api, expected = "regress", [{"score": logits[:, 0]}, {"outputs": logits[:, 0]}]
    else:
        probabilities = tf.nn.softmax(logits).numpy()
        api, expected = "classify", [{"probabilities": probabilities}, {"scores": probabilities}]
    calls = [
        _call("serving_default", text=TEXTS, text_pair=PAIRS),
        _call(api, inputs=serialized_examples(text=TEXTS, text_pair=PAIRS)),
    ]
    return Case(model, dict(pair=True), calls, expected)


def _embed_case(tokenizer):
    encoder = _encoder(tokenizer)
    pooled = encoder(_encode(tokenizer, TEXTS))["pooled_output"].numpy()
    return Case(encoder, {}, [_call("embed", text=TEXTS)], [{"pooled": pooled}])


def _embedder_case(tokenizer):
    model = Embedder(_encoder(tokenizer))
    return Case(
        model,
        {},
        [_call("serving_default", text=TEXTS)],
        [{"mean": model(_encode(tokenizer, TEXTS)).numpy()}],
    )


def _fill_mask_case(tokenizer):
    model = MaskedLMPretrainer(_encoder(tokenizer))
    texts = ["the [MASK] is blue", "a [MASK] of the game"]
    inputs = _encode(tokenizer, texts)
    position = np.argmax(inputs["token_ids"].numpy() == tokenizer.token_to_id("[MASK]"), axis=1)
    logits = model({**inputs, "mask_positions": tf.constant(position[:, None], tf.int32)})["mlm"][
        :, 0
    ]
    probabilities = tf.nn.softmax(logits).numpy()
    top = np.argsort(-probabilities, axis=1)[:, :5]
    return Case(
        model,
        {},
        [_call("fill_mask", text=texts)],
        [{"token_ids": top, "scores": np.take_along_axis(probabilities, top, 1)}],
    )


def _generator_case(tokenizer):
    model = CausalLM(_decoder(tokenizer))
    end = tokenizer.token_to_id("[SEP]")
    prompts = ["the film is", "a"]
    ids, mask = left_pad(tokenizer(tf.constant(prompts)))
    config = GenerationConfig(max_new_tokens=6, end_token_id=end, pad_token_id=end)
    new = np.asarray(sample_or_greedy(model.backbone, ids, mask, config))[:, ids.shape[1] :]
    request = dict(
        prompt=prompts,
        max_new_tokens=6,
        method="greedy",
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        seed=0,
    )
    expected = [list(row[: list(row).index(end)] if end in row else row) for row in new]
    width = max(map(len, expected))
    padded = np.array([row + [end] * (width - len(row)) for row in expected])
    return Case(
        model,
        dict(end_token_id=end),
        [_call("serving_default", **request)],
        [{"token_ids": padded}],
    )


def _lora_case(tokenizer):
    case = _variant_case(tokenizer)
    enable_lora(case.task, rank=2)
    for variable in case.task.weights:
        if (
            "lora_kernel_b" in variable.path
        ):  # zero at start; give the adapters an effect to export
            variable.assign(np.full(variable.shape, 0.05, "float32"))
    case.expected = [{"probabilities": _probabilities(case.task, tokenizer, TEXTS)}]
    return case


def _ema_case(tokenizer):
    case = _variant_case(tokenizer)
    case.task.compile(optimizer=make_optimizer(1e-3, ema_momentum=0.5))
    inputs = {k: v.numpy() for k, v in _encode(tokenizer, TEXTS * 4).items()}
    case.task.fit(inputs, np.arange(12) % 3, batch_size=4, epochs=1, verbose=0)
    case.expected = [{"probabilities": _probabilities(case.task, tokenizer, TEXTS)}]
    return case


CASES = {
    "classifier": _classifier_case,
    "pair": _pair_case,
    "regression": lambda tok: _pair_case(tok, num_classes=1),
    "embed": _embed_case,
    "embedder": _embedder_case,
    "fill_mask": _fill_mask_case,
    "generator": _generator_case,
    "lora": _lora_case,
    "ema": _ema_case,
    "xla": lambda tok: _variant_case(tok, jit_compile=True),
    "bfloat16": lambda tok: _variant_case(tok, precision="bfloat16", atol=2e-2),
    "mixed_float16": lambda tok: _variant_case(tok, precision="mixed_float16", atol=5e-3),
}


@pytest.fixture(scope="module")
def exports(tokenizer, tmp_path_factory):
    """Each kind built and exported once, on first use: {kind: (Case, version dir)}."""
    made = {}

    def get(kind):
        if kind not in made:
            case = CASES[kind](tokenizer)
            made[kind] = (
                case,
                export_saved_model(
                    case.task, tokenizer, tmp_path_factory.mktemp(kind) / kind, **case.options
                ),
            )
        return made[kind]

    return get


def _assert_outputs(reply, expected, atol):
    assert "outputs" in reply, reply
    for name, value in expected.items():
        np.testing.assert_allclose(
            np.asarray(reply["outputs"][name], "float64"), value, atol=atol, err_msg=name
        )


BAD_PAIR_REQUESTS = [  # (request, what the refusal says)
    (
        _call("serving_default", text=["a", "b", "c"], text_pair=["x"]),
        "text_pair must have one entry per text",
    ),
    (_call("serving_default", text=["a"], text_pair=[]), "text_pair must have one entry per text"),
    (
        _call("serving_default", text=["a", "b"], text_pair=["x", "y", "z"]),
        "text_pair must have one entry per text",
    ),
    (_call("classify", inputs=serialized_examples(text=["only one feature"])), "text_pair"),
    (_call("classify", inputs=[b"\xff\x00 not a tf.Example"]), "Could not parse example input"),
]


# TF2's object loader (tf.saved_model.load) re-checks the kinds that had fresh-process checks
# before the session loader was tested; the session loader checks every kind.
OBJECT_LOADER_KINDS = (
    "classifier",
    "pair",
    "regression",
    "fill_mask",
    "generator",
    "xla",
    "bfloat16",
)


def _plan(exports, kinds):
    """(key, call) pairs: each kind's warmup records and requests; for the pair classifier and the
    generator, bad requests and then a good one."""
    plan = []
    for kind in kinds:
        case, version = exports(kind)
        plan += [((kind, "warmup"), call) for call in warmup_calls(version)]
        plan += [((kind, "requests"), {**call, "path": version}) for call in case.calls]
    pair, generator = exports("pair"), exports("generator")
    plan += [(("pair", "bad"), {**call, "path": pair[1]}) for call, _ in BAD_PAIR_REQUESTS]
    plan += [(("pair", "after bad"), {**pair[0].calls[0], "path": pair[1]})]
    infinite = {**generator[0].calls[0]["inputs"], "temperature": float("inf")}
    plan += [(("generator", "bad"), _call("serving_default", path=generator[1], **infinite))]
    plan += [(("generator", "after bad"), {**generator[0].calls[0], "path": generator[1]})]
    return plan


@pytest.fixture(scope="module")
def served(exports):
    """The plans answered in fresh processes (TF starts once per loader; both run at once):
    {loader: {(kind, group): [replies]}}."""
    plans = {"session": _plan(exports, CASES), "object": _plan(exports, OBJECT_LOADER_KINDS)}

    def serve(loader):
        return call_in_fresh_process(None, [call for _, call in plans[loader]], loaders=(loader,))[
            loader
        ]

    with ThreadPoolExecutor(2) as pool:
        replies = dict(zip(plans, pool.map(serve, plans)))
    grouped = {}
    for loader, answers in replies.items():
        for (key, _), reply in zip(plans[loader], answers, strict=True):
            grouped.setdefault(loader, {}).setdefault(key, []).append(reply)
    return grouped


@pytest.mark.parametrize("kind", list(CASES))
def test_every_export_restores_in_the_session_loader_and_answers_like_keras(kind, exports, served):
    case, _ = exports(kind)
    for loader in ("session", "object") if kind in OBJECT_LOADER_KINDS else ("session",):
        warmup = served[loader][kind, "warmup"]
        assert warmup and all("outputs" in reply for reply in warmup), (
            warmup
        )  # replays as TF Serving does
        for reply, expected in zip(served[loader][kind, "requests"], case.expected, strict=True):
            _assert_outputs(reply, expected, case.atol)


def test_bad_requests_are_refused_in_the_graph_and_the_process_lives_on(served):
    for loader in ("session", "object"):
        replies = served[loader]["pair", "bad"]
        for reply, (_, rule) in zip(replies, BAD_PAIR_REQUESTS, strict=True):
            assert rule in reply["error"], reply
        assert all("InvalidArgument" in reply["error"] for reply in replies[:4])
        assert (
            len(served[loader]["pair", "after bad"][0]["outputs"]["probabilities"]) == 3
        )  # still serving


def test_generation_refusals_leave_a_fresh_session_process_serving(exports, served):
    case, _ = exports("generator")
    (refused,), (answered,) = (
        served["session"]["generator", "bad"],
        served["session"]["generator", "after bad"],
    )
    assert (
        "InvalidArgument" in refused["error"] and "temperature must be finite" in refused["error"]
    )
    np.testing.assert_array_equal(answered["outputs"]["token_ids"], case.expected[0]["token_ids"])


def _saved_model_cli(version, inputs_expression, signature="serving_default"):
    """The README's command form: tools/saved_model_cli.py is TF's tool after TF Text's ops."""
    command = [
        sys.executable,
        str(ROOT / "tools" / "saved_model_cli.py"),
        "run",
        "--dir",
        str(version),
        "--tag_set",
        "serve",
        "--signature_def",
        signature,
        "--input_exprs",
        inputs_expression,
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize(
    "kind,expression",
    [
        ("classifier", 'text=["a charming film"]'),
        (
            "generator",
            'prompt=["the film is"];max_new_tokens=3;method="greedy";temperature=1.0;top_k=0;'
            "top_p=1.0;seed=0",
        ),
    ],
)
def test_saved_model_cli_runs_the_readme_command(kind, expression, exports, tokenizer):
    case, version = exports(kind)
    output = _saved_model_cli(version, expression)
    assert "Result for output key" in output
    if kind == "classifier":
        expected = _probabilities(case.task, tokenizer, ["a charming film"])[0]
        printed = (
            output.split("Result for output key probabilities:")[1].split("]]")[0].strip(" \n[")
        )
        np.testing.assert_allclose(np.array(printed.split(), float), expected, atol=1e-5)


def test_bfloat16_export_stores_the_encoder_in_bfloat16(exports):
    _, version = exports("bfloat16")
    reader = tf.train.load_checkpoint(str(version / "variables" / "variables"))
    shapes, dtypes = reader.get_variable_to_shape_map(), reader.get_variable_to_dtype_map()
    weights = {k: v for k, v in dtypes.items() if v.is_floating}
    size = {k: int(np.prod(shapes[k])) for k in weights}
    in_bfloat16 = sum(size[k] for k, v in weights.items() if v == tf.bfloat16)
    assert (
        in_bfloat16 / sum(size.values()) > 0.98
    )  # all but the float32 head: half the bytes to serve


@pytest.mark.parametrize(
    "setting,value,rule",
    [
        ("temperature", float("inf"), "temperature must be finite and > 0"),
        ("temperature", 0.0, "temperature must be finite and > 0"),
        ("top_p", float("nan"), "top_p must be in (0, 1]"),
        ("top_p", 1.5, "top_p must be in (0, 1]"),
        ("top_k", -1, "top_k must be >= 0 (0 = off)"),
        ("max_new_tokens", 0, "max_new_tokens must be >= 1"),
        ("max_new_tokens", 17, "max_new_tokens must be <= 16"),
        ("method", "beam", "method must be greedy or sample"),
    ("top_k", 100000, "top_k must be <= "),
    ],
)
def test_generation_parameters_out_of_range_are_refused(setting, value, rule, exports, tokenizer):
    case, version = exports("generator")
    request = {**case.calls[0]["inputs"], setting: value}
    generate = _loaded(version).signatures["serving_default"]
    specs = generate.structured_input_signature[1]
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(rule)):
        generate(**{k: tf.constant(v, specs[k].dtype) for k, v in request.items()})


_LOADED = {}


def _loaded(version):
    if version not in _LOADED:
        _LOADED[version] = tf.saved_model.load(str(version))
    return _LOADED[version]


def test_seeded_sampling_does_not_depend_on_concurrent_requests(exports):
    case, version = exports("generator")
    generate = _loaded(version).signatures["serving_default"]

    def sample(seed):
        request = {
            **case.calls[0]["inputs"],
            "method": "sample",
            "temperature": 2.0,
            "seed": seed,
            "max_new_tokens": 12,
        }
        specs = generate.structured_input_signature[1]
        return generate(**{k: tf.constant(v, specs[k].dtype) for k, v in request.items()})[
            "token_ids"
        ].numpy()

    alone = {seed: sample(seed) for seed in range(4)}
    assert len({a.tobytes() for a in alone.values()}) > 1  # seeds matter
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(sample, [seed for _ in range(5) for seed in range(4)]))
    assert all(np.array_equal(out, alone[i % 4]) for i, out in enumerate(together))


def test_export_writes_the_chosen_signatures_only(exports, tokenizer, tmp_path):
    _, version = exports("xla")
    assert set(_loaded(version).signatures) == {"serving_default"}
    with pytest.raises(
        ValueError, match=r"this task exports \['classify', 'embed', 'serving_default'\]"
    ):
        export_saved_model(
            exports("classifier")[0].task, tokenizer, tmp_path / "x", signatures=("generate",)
        )


def test_export_refuses_lengths_that_fail_every_request(tokenizer, tmp_path):
    classifier = Classifier(_encoder(tokenizer), num_classes=2)
    assert serving_length(classifier) == LENGTH  # the default comes from the model
    with pytest.raises(ValueError, match=r"the model has 32 positions .* must be in \[2, 32\]"):
        export_saved_model(classifier, tokenizer, tmp_path / "clf", sequence_length=128)
    lm = CausalLM(_decoder(tokenizer))
    assert serving_length(lm) == LENGTH // 2  # half the positions are room for new tokens
    with pytest.raises(ValueError, match="leaving room for new tokens"):
        export_saved_model(lm, tokenizer, tmp_path / "gpt", sequence_length=LENGTH, end_token_id=1)
    assert not (tmp_path / "clf").exists() and not (tmp_path / "gpt").exists()  # nothing written


def _pair_run(tokenizer, run_dir):
    model = Classifier(_encoder(tokenizer), num_classes=2)
    RunConfig(
        data=DataSection(task="classification", files=("pairs.tsv",), pair_column="sentence2"),
        run_dir=str(run_dir),
    ).save(run_dir)
    model.save(run_dir / "model.keras")
    (run_dir / "vocab.txt").write_text("\n".join(tokenizer.get_vocabulary()) + "\n")
    return model


def test_cli_export_keeps_the_pair_input_and_refuses_unsafe_names(tokenizer, tmp_path, capsys):
    model = _pair_run(tokenizer, tmp_path / "run")
    for name in ("../x", "/abs", "", ".hidden"):
        assert (
            cli.main(
                [
                    "export",
                    str(tmp_path / "run"),
                    "--name",
                    name,
                    "--saved-models",
                    str(tmp_path / "models"),
                ]
            )
            == 2
        )
        assert "model name" in capsys.readouterr().err
    assert not (tmp_path / "models").exists() and not (tmp_path / "x").exists()
    assert (
        cli.main(
            [
                "export",
                str(tmp_path / "run"),
                "--name",
                "mrpc",
                "--saved-models",
                str(tmp_path / "models"),
            ]
        )
        == 0
    )
    version = tmp_path / "models" / "mrpc" / "1"
    loaded = tf.saved_model.load(str(version))
    out = loaded.signatures["serving_default"](
        text=tf.constant(TEXTS), text_pair=tf.constant(PAIRS)
    )
    np.testing.assert_allclose(
        out["probabilities"], _probabilities(model, tokenizer, TEXTS, PAIRS), atol=1e-5
    )
    classified = loaded.signatures["classify"](
        inputs=tf.constant(serialized_examples(text=TEXTS, text_pair=PAIRS))
    )
    np.testing.assert_allclose(classified["scores"], out["probabilities"], atol=1e-6)
    modes = {
        p.relative_to(version): p.stat().st_mode & 0o777 for p in [version, *version.rglob("*")]
    }
    assert (
        set(modes.values()) <= {0o755, 0o644} and modes[Path(".")] == 0o755
    )  # readable by the server


def test_model_names_are_one_safe_path_segment():
    assert check_model_name("sst2-v1.2_b") == "sst2-v1.2_b"
    for name in ("../x", "a/b", "/abs", "", ".", "..", "a b", None):
        with pytest.raises(ValueError, match="one path segment"):
            check_model_name(name)


class _Refusing(http.server.BaseHTTPRequestHandler):
    paths = []

    def do_POST(self):  # noqa: N802 (http.server's name)
        _Refusing.paths.append(self.path)
        self.send_response(404)
        self.end_headers()
        self.wfile.write(b'{"error": "Servable not found"}')

    def log_message(self, *args):
        pass


def test_rest_client_encodes_names_and_names_the_url_in_errors():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(
            ServingError, match=r"v1/models/a%20b%2Fc:predict: model 'a b/c' answered HTTP 404"
        ):
            rest_predict(base, "a b/c", {"text": ["hi"]})
        assert _Refusing.paths == ["/v1/models/a%20b%2Fc:predict"]
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(
        ServingError, match=rf"{base}/v1/models/sst2:predict: cannot reach TF Serving"
    ):
        rest_predict(base, "sst2", {"text": ["hi"]}, timeout=5)
