"""Run configs, the pretrain → finetune → export recipes, and the `kzoo` command."""

import json
import warnings
from pathlib import Path

import pytest

from kzoo.cli import main
from kzoo.recipes import load_run_config, run_config_from_dict

DATA = Path(__file__).parent / "data"


def _pretrain_yaml(tmp_path, **training):
    settings = {
        "steps": 6,
        "batch_size": 8,
        "learning_rate": "1e-3",  # written unquoted: PyYAML alone reads that as a string
        "checkpoint_every": 3,
        **training,
    }
    training_yaml = ", ".join(f"{key}: {value}" for key, value in settings.items())
    text = (
        f"model: {{preset: bert_tiny, overrides: {{num_layers: 1, max_positions: 32}}}}\n"
        f"data: {{task: mlm_nsp, files: [{DATA / 'wikitext2_sample.txt'}], vocab_size: 600, "
        f"sequence_length: 32, max_predictions: 5}}\n"
        f"training: {{{training_yaml}}}\nrun_dir: {tmp_path / 'bert'}\n"
    )
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_run_config_errors_name_the_setting():
    with pytest.raises(
        ValueError, match=r"run config: training: unknown setting 'step'. Did you mean 'steps'\?"
    ):
        run_config_from_dict({"data": {"files": ["x.txt"]}, "training": {"step": 3}})
    with pytest.raises(
        ValueError,
        match=r"training.learning_rate='fast' is invalid: expected a value of type float",
    ):
        run_config_from_dict({"data": {"files": ["x.txt"]}, "training": {"learning_rate": "fast"}})
    with pytest.raises(ValueError, match="data.files is empty"):
        run_config_from_dict({})
    with pytest.raises(
        ValueError, match=r"training.checkpoint_every=0 is invalid: expected an integer >= 1"
    ):
        run_config_from_dict({"data": {"files": ["x.txt"]}, "training": {"checkpoint_every": 0}})
    with pytest.raises(
        ValueError, match=r"training.warmup_ratio=1.5 is invalid: expected a rate in \[0, 1\)"
    ):
        run_config_from_dict({"data": {"files": ["x.txt"]}, "training": {"warmup_ratio": 1.5}})
    with pytest.raises(ValueError, match=r"Unknown ModelConfig field 'layers'"):
        run_config_from_dict({"data": {"files": ["x.txt"]}, "model": {"overrides": {"layers": 2}}})


def test_yaml_numbers_get_their_declared_types(tmp_path):
    run = load_run_config(_pretrain_yaml(tmp_path))
    assert run.training.learning_rate == 1e-3 and isinstance(run.data.files, tuple)


def test_cli_pretrain_finetune_evaluate_export(tmp_path, capsys):
    assert main(["pretrain", "--config", str(_pretrain_yaml(tmp_path))]) == 0
    bert = tmp_path / "bert"
    assert {"run.json", "vocab.txt", "model.keras", "checkpoints", "logs"} <= {
        p.name for p in bert.iterdir()
    }
    assert load_run_config(bert) == load_run_config(
        tmp_path / "run.yaml"
    )  # the run dir alone reproduces it
    finetune = tmp_path / "ft.yaml"
    finetune.write_text(
        f"init_from: {bert}\ndata: {{task: classification, files: [{DATA / 'sst2_sample.tsv'}], "
        f"sequence_length: 32}}\ntraining: {{epochs: 1, batch_size: 16}}\n"
        f"run_dir: {tmp_path / 'sst2'}\n"
    )
    assert main(["finetune", "--config", str(finetune)]) == 0
    metrics = json.loads((tmp_path / "sst2" / "metrics.json").read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert main(["evaluate", str(tmp_path / "sst2"), "--data", str(DATA / "sst2_sample.tsv")]) == 0
    assert "accuracy" in json.loads((tmp_path / "sst2" / "evaluation.json").read_text())
    assert (
        main(
            [
                "export",
                str(tmp_path / "sst2"),
                "--name",
                "sst2",
                "--saved-models",
                str(tmp_path / "sm"),
                "--sequence-length",
                "32",
            ]
        )
        == 0
    )
    assert (tmp_path / "sm" / "sst2" / "1" / "saved_model.pb").exists()
    assert "accuracy" in capsys.readouterr().out


def test_cli_resume_continues_a_run(tmp_path, capsys):
    config = _pretrain_yaml(tmp_path)
    assert main(["pretrain", "--config", str(config)]) == 0
    run = json.loads((tmp_path / "bert" / "run.json").read_text())
    run["training"]["steps"] = 9
    (tmp_path / "bert" / "run.json").write_text(json.dumps(run))
    capsys.readouterr()
    assert main(["pretrain", "--resume", str(tmp_path / "bert")]) == 0
    assert "resumed from step 6 of 9 (checkpoint " in capsys.readouterr().out
    from kzoo.training.checkpoints import checkpoint_steps

    assert checkpoint_steps(tmp_path / "bert" / "checkpoints")[-1] == 9


def test_cli_reports_bad_input_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {preset: bert_tiny, overides: {}}\n")
    assert main(["pretrain", "--config", str(bad)]) == 2
    assert "unknown setting 'overides'. Did you mean 'overrides'?" in capsys.readouterr().err


@pytest.mark.parametrize("preset,heads", [("gpt2_small", {}), ("llama_tiny", {"num_kv_heads": 1})])
def test_causal_lm_recipe_logs_text_samples_and_mfu(tmp_path, preset, heads):
    import tensorflow as tf

    from kzoo.recipes import run_pretraining

    run = run_config_from_dict(
        {
            "model": {
                "preset": preset,
                "overrides": {
                    "num_layers": 1,
                    "hidden_size": 32,
                    "num_heads": 2,
                    "intermediate_size": 64,
                    "max_positions": 32,
                    **heads,
                },
            },
            "data": {
                "task": "causal_lm",
                "files": [str(DATA / "wikitext2_sample.txt")],
                "vocab_size": 600,
                "sequence_length": 32,
            },
            "training": {"steps": 4, "batch_size": 4, "checkpoint_every": 2},
            "run_dir": str(tmp_path / "gpt"),
        }
    )
    run_pretraining(run, verbose=0)
    texts, tags, mfu = [], set(), []
    for path in (tmp_path / "gpt" / "logs").rglob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                tags.add(value.tag)
                if value.tag == "samples":
                    texts += [t.decode() for t in tf.make_ndarray(value.tensor)]
                if value.tag == "mfu":
                    mfu.append(float(tf.make_ndarray(value.tensor)))
    assert mfu and all(0 < m < 1 for m in mfu)  # against the best measured peak
    prompt = " ".join((DATA / "wikitext2_sample.txt").read_text().split("\n \n")[0].split()[:4])
    assert len(texts) == 4 and all(t.startswith(f"**{prompt}** → ") for t in texts[::2])


def test_finetune_recipe_applies_dropout_overrides_and_class_weights(tmp_path):
    import keras
    import numpy as np

    import kzoo
    from kzoo.recipes import load_run, run_finetuning
    from kzoo.text import TextPairEncoder, learn_wordpiece_vocabulary, load_wordpiece

    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "sst2_sample.tsv", 600))
    keras.utils.set_random_seed(0)
    encoder = kzoo.build_encoder(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(), num_layers=1, max_positions=32
    )
    run = run_config_from_dict(
        {
            "model": {"overrides": {"dropout": 0.3, "attention_dropout": 0.2}},
            "data": {
                "task": "classification",
                "files": [str(DATA / "sst2_sample.tsv")],
                "sequence_length": 32,
            },
            "training": {
                "epochs": 1,
                "batch_size": 16,
                "learning_rate": 1e-3,
                "head_dropout": 0.25,
                "class_weights": {0: 0.0, 1: 1.0},
            },  # only positive examples count
            "run_dir": str(tmp_path / "ft"),
        }
    )
    classifier, _, _ = run_finetuning(run, encoder, tokenizer, verbose=0)
    loaded, _ = load_run(tmp_path / "ft")
    assert (
        loaded.backbone.config.dropout == 0.3 and loaded.backbone.config.attention_dropout == 0.2
    )
    assert loaded.head_config["dropout"] == 0.25
    validation = json.loads((tmp_path / "ft" / "run.json").read_text())["training"][
        "class_weights"
    ]
    assert validation == {
        "0": 0.0,
        "1": 1.0,
    }  # saved; JSON keys are strings and are read back as indices
    texts = ["a charming film", "a dull mess", "it is bad", "wonderful"]
    encode = TextPairEncoder(tokenizer, 32)
    assert (np.argmax(classifier.predict(encode(np.array(texts)), verbose=0), -1) == 1).all()
    with pytest.raises(ValueError, match=r"class_weights names label indices \[2\]"):
        run_finetuning(
            run_config_from_dict(
                {
                    **json.loads((tmp_path / "ft" / "run.json").read_text()),
                    "training": {"class_weights": {2: 1.0}},
                    "run_dir": str(tmp_path / "ft2"),
                }
            ),
            encoder,
            tokenizer,
        )


def _tiny_run(tmp_path, task, file, **data):
    """A one-layer bert_tiny with a vocabulary learned from `file`, and a run config for `task`."""
    import keras

    import kzoo
    from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

    corpus = tmp_path / "corpus.txt"
    corpus.write_text(
        Path(file).read_text()
        if task != "qa"
        else "\n".join(
            p["context"] + " " + q["question"]
            for a in json.loads(Path(file).read_text())["data"]
            for p in a["paragraphs"]
            for q in p["qas"]
        )
    )
    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(corpus, 1500, lowercase=task != "ner"))
    keras.utils.set_random_seed(0)
    encoder = kzoo.build_encoder(
        "bert_tiny", vocab_size=tokenizer.vocabulary_size(), max_positions=128
    )
    run = run_config_from_dict(
        {
            "data": {"task": task, "files": [str(file)], **data},
            "training": {"epochs": 15, "batch_size": 16, "learning_rate": 5e-4},
            "run_dir": str(tmp_path / task),
        }
    )
    return run, encoder, tokenizer


def test_finetune_recipe_trains_and_scores_ner_and_evaluate_reproduces_it(tmp_path):
    from kzoo.recipes import run_finetuning

    conll = DATA / "conll2003_sample.txt"
    run, encoder, tokenizer = _tiny_run(
        tmp_path, "ner", conll, validation_file=str(conll), sequence_length=48
    )
    _, _, metrics = run_finetuning(run, encoder, tokenizer, verbose=0)
    assert set(metrics) == {"precision", "recall", "f1"}
    assert (
        metrics["f1"] > 0.3
    )  # entities found on the data it was fitted to; the all-"O" baseline scores 0
    assert (
        main(["evaluate", str(tmp_path / "ner"), "--data", str(conll)]) == 0
    )  # from the run dir alone
    evaluation = json.loads((tmp_path / "ner" / "evaluation.json").read_text())
    assert evaluation == pytest.approx({k: round(v, 4) for k, v in metrics.items()}, abs=1e-4)


def test_finetune_recipe_splits_squad_by_article_and_reports_em_f1(tmp_path):
    from kzoo.recipes import run_finetuning
    from kzoo.recipes.finetune_tasks import ExtractiveQA

    squad = DATA / "squad11_sample.json"
    run, encoder, tokenizer = _tiny_run(
        tmp_path, "qa", squad, validation_fraction=0.25, sequence_length=128, doc_stride=48
    )
    train, validation = ExtractiveQA().split(ExtractiveQA().read(squad, run.data), 0.25, 0)
    assert {e["article"] for e in train} == {0, 1, 2} and {e["article"] for e in validation} == {3}
    assert len(validation) == 70
    _, _, metrics = run_finetuning(run, encoder, tokenizer, verbose=0)
    assert (
        set(metrics) == {"exact_match", "f1"}
        and 0.0 <= metrics["exact_match"] <= metrics["f1"] <= 1.0
    )
    assert (
        metrics["f1"] > 0.0
    )  # overlapping words on unseen articles; an empty answer would score 0


def test_classification_recipe_scores_three_labels_with_macro_f1():
    import numpy as np

    from kzoo.recipes.finetune_tasks import Classification
    from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece

    class FixedPredictions:  # stands in for a trained classifier
        input = {"token_ids": None, "segment_ids": None, "padding_mask": None}

        def predict(self, batches, verbose=0):
            return np.eye(3)[[0, 2, 2, 2]]

    run = run_config_from_dict(
        {
            "data": {
                "task": "classification",
                "files": ["x.tsv"],
                "label_names": ["a", "b", "c"],
                "sequence_length": 16,
            }
        }
    )
    examples = {"text": ["w x", "y", "z", "x y"], "label": np.array([0, 1, 2, 2])}
    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "sst2_sample.tsv", 600))
    metrics = Classification().metrics(FixedPredictions(), examples, tokenizer, run)
    # per-class F1 by hand: a 1.0, b 0.0 (never predicted), c 2·(2/3)·1/(2/3+1) = 0.8
    assert metrics == pytest.approx({"accuracy": 0.75, "macro_f1": 0.6})


def test_regression_recipe_reports_correlations(tmp_path):
    from kzoo.recipes import run_finetuning

    scores = tmp_path / "scores.tsv"  # SST-2 phrases with their labels as float scores
    lines = (DATA / "sst2_sample.tsv").read_text().splitlines()
    scores.write_text(
        "\n".join(
            [lines[0]]
            + [
                f"{t}\t{float(label):.1f}"
                for t, label in (line.rsplit("\t", 1) for line in lines[1:600])
            ]
        )
        + "\n"
    )
    run, encoder, tokenizer = _tiny_run(
        tmp_path, "regression", scores, validation_file=str(scores), sequence_length=32
    )
    _, _, metrics = run_finetuning(run, encoder, tokenizer, verbose=0)
    assert set(metrics) == {"pearson", "spearman"}
    assert (
        metrics["pearson"] > 0.5
    )  # on the phrases it was fitted to; an untrained head's are uncorrelated


def test_class_weights_outside_classification_are_refused():
    from kzoo.recipes.finetune_tasks import FINETUNE_TASKS
    from kzoo.recipes.run_config import FINETUNING_TASKS

    assert set(FINETUNE_TASKS) == set(
        FINETUNING_TASKS
    )  # every task the config accepts has a recipe
    for task in ("regression", "ner", "qa"):
        run = run_config_from_dict(
            {"data": {"task": task, "files": ["x"]}, "training": {"class_weights": {0: 2.0}}}
        )
        with pytest.raises(
            ValueError, match=f"class_weights applies to data.task classification, not '{task}'"
        ):
            FINETUNE_TASKS[task].class_weight(run)


def test_validation_metrics_add_up(tmp_path):
    """val_loss = val_mlm_loss + val_nsp_loss and val_mlm_perplexity = exp(val_mlm_loss): the
    validation batches tell Keras their count, so no empty step past the end is averaged in."""
    import math

    from kzoo.recipes.pretrain import (
        _optimizer,
        build_pretraining_task,
        pretraining_batches,
        run_tokenizer,
    )

    run = run_config_from_dict(
        {
            "model": {"preset": "bert_tiny", "overrides": {"num_layers": 1}},
            "data": {
                "task": "mlm_nsp",
                "files": [str(DATA / "wikitext2_sample.txt")],
                "vocab_size": 500,
                "sequence_length": 32,
                "max_predictions": 5,
            },
            "training": {"batch_size": 8},
            "run_dir": str(tmp_path),
        }
    )
    tokenizer = run_tokenizer(run, tmp_path)
    task = build_pretraining_task(run, tokenizer.vocabulary_size())
    task.compile(optimizer=_optimizer(run.training))
    _, validation = pretraining_batches(run, tokenizer)
    assert int(validation.cardinality()) > 1
    logs = task.evaluate(validation, return_dict=True, verbose=0)
    assert logs["loss"] == pytest.approx(logs["mlm_loss"] + logs["nsp_loss"], rel=1e-5)
    assert logs["mlm_perplexity"] == pytest.approx(math.exp(logs["mlm_loss"]), rel=1e-3)


def test_a_classifier_that_predicts_one_class_is_named():
    from types import SimpleNamespace

    import numpy as np

    from kzoo.recipes.finetune_tasks import _warn_if_one_class

    run = SimpleNamespace(data=SimpleNamespace(label_names=("negative", "positive")))
    with pytest.warns(
        UserWarning,
        match=r"every validation prediction is class 'positive'.*"
        r"class_weights.*learning_rate",
    ):
        _warn_if_one_class(np.array([1, 1, 1]), np.array([0, 1, 1]), run)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _warn_if_one_class(np.array([0, 1, 1]), np.array([0, 1, 1]), run)  # no warning
