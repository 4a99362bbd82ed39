"""Every failure a user can cause reaches them as one line, `kzoo <command>: error: …`, naming
the problem and the fix; `--debug` shows the traceback instead."""

import errno
import shutil
from pathlib import Path

import pytest

from kzoo import cli

DATA = Path(__file__).parent / "data"


def _one_error_line(capsys, command) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith(f"kzoo {command}: error: ")
    return err


@pytest.mark.parametrize(
    "raised, expected",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "runs/x/ckpt-9.data"),
            "runs/x/ckpt-9.data: the disk is full: free space",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "corpus"),
            "corpus: it is a directory where a file is expected",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/saved_models"),
            "/saved_models: permission denied",
        ),
        (
            RuntimeError("boom\nsecond line"),
            "unexpected RuntimeError: boom second line (rerun with --debug",
        ),
    ],
)
def test_system_and_unexpected_errors_become_one_line(monkeypatch, capsys, raised, expected):
    def fail(args):
        raise raised

    monkeypatch.setattr(cli, "_presets", fail)
    assert cli.main(["presets"]) == 2
    assert expected in _one_error_line(capsys, "presets")
    with pytest.raises(type(raised)):
        cli.main(["presets", "--debug"])


def test_a_yaml_syntax_error_names_line_and_column(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("data:\n  files: [corpus.txt\ntraining: {steps: 3}\n")
    assert cli.main(["pretrain", "--config", str(config)]) == 2
    assert f"{config}, line 3, column 9: YAML syntax error" in _one_error_line(capsys, "pretrain")


def test_a_directory_given_as_a_data_file(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(f"data: {{files: [{tmp_path}]}}\nrun_dir: {tmp_path / 'run'}\n")
    assert cli.main(["pretrain", "--config", str(config)]) == 2
    assert f"{tmp_path}: is a directory" in _one_error_line(capsys, "pretrain")


def test_a_damaged_safetensors_header(tmp_path, capsys):
    source = tmp_path / "llama"
    shutil.copytree(DATA / "hf_tiny_llama", source)
    weights = source / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:8] + b"{not json" + bytes(64))
    assert cli.main(["convert", str(source), "--output", str(tmp_path / "out")]) == 2
    assert "model.safetensors" in _one_error_line(capsys, "convert")


def test_an_unreachable_server_is_named_by_its_url(capsys):
    url = "http://127.0.0.1:9"  # the discard port: nothing serves there
    assert cli.main(["predict", "--server", url, "--model", "sst2", "a film"]) == 2
    err = _one_error_line(capsys, "predict")
    assert f"{url}/v1/models/sst2:predict: cannot reach TF Serving" in err


def test_a_missing_run_directory(tmp_path, capsys):
    assert cli.main(["generate", "--model", str(tmp_path / "nope"), "--prompt", "hi"]) == 2
    err = _one_error_line(capsys, "generate")
    assert "no model.keras; pass a directory written by kzoo" in err


def test_help_shows_defaults_and_the_version(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("kzoo ")
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "sample among the k likeliest (0: all) (default: 0)" in out
    assert "tokens to add (default: 32)" in out


def test_generate_on_an_encoder_run_is_one_line(tmp_path, capsys):
    import kzoo
    from kzoo.tasks import Classifier
    from kzoo.text import learn_wordpiece_vocabulary, load_wordpiece, save_tokenizer

    tokenizer = load_wordpiece(learn_wordpiece_vocabulary(DATA / "wikitext2_sample.txt", 200))
    Classifier(kzoo.build_encoder("bert_tiny", vocab_size=tokenizer.vocabulary_size()), 2).save(
        tmp_path / "model.keras"
    )
    save_tokenizer(tokenizer, tmp_path)
    assert cli.main(["generate", "--model", str(tmp_path), "--prompt", "hi"]) == 2
    assert "is a Classifier on an encoder; kzoo generate needs a causal_lm or encoder-decoder run" in _one_error_line(
        capsys, "generate"
    )
