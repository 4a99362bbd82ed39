"""Translation from raw parallel text: readers, seq2seq batches, text-to-text generation and
sacreBLEU / ROUGE scores, on real Multi30k pairs (tests/data/multi30k_sample.*)."""

import json
from pathlib import Path

import numpy as np
import pytest

import kzoo
from kzoo.data.parallel import Seq2SeqFormat, read_parallel, read_parallel_table, seq2seq_batches
from kzoo.evaluation import summarization_scores, translation_scores

DATA = Path(__file__).parent / "data"
FORM = Seq2SeqFormat(max_source_length=24, max_target_length=20, start_id=0, end_id=3)


@pytest.fixture(scope="module")
def pairs():
    return read_parallel(DATA / "multi30k_sample.de", DATA / "multi30k_sample.en")


@pytest.fixture(scope="module")
def spm(pairs, tmp_path_factory):
    """A 1,000-piece SentencePiece vocabulary of both sides. Seeded first: seeding TensorFlow
    clears its kernel cache, and with it the model of a SentencePiece tokenizer made before (so
    the test that calls `run_finetuning`, which seeds, comes last)."""
    import keras

    from kzoo.text import learn_sentencepiece, load_sentencepiece

    keras.utils.set_random_seed(0)  # the `trained` model's initial weights
    directory = tmp_path_factory.mktemp("spm")
    corpus = directory / "both.txt"
    corpus.write_text("\n".join(pairs.source + pairs.target), encoding="utf-8")
    return load_sentencepiece(learn_sentencepiece([corpus], 1000, directory / "spm.model"))


def test_misaligned_files_and_empty_sides_are_refused(tmp_path):
    (tmp_path / "a.de").write_text("Ein Hund.\nZwei Katzen.\n", encoding="utf-8")
    (tmp_path / "a.en").write_text("A dog.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"a.de has 2 lines but .*a.en has 1; .*aligned"):
        read_parallel(tmp_path / "a.de", tmp_path / "a.en")
    (tmp_path / "a.en").write_text("A dog.\n \n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"a.en, line 2: empty text"):
        read_parallel(tmp_path / "a.de", tmp_path / "a.en")


def test_table_columns_read_as_pairs(tmp_path):
    rows = [{"document": "Ein langer Text.", "summary": "Kurz."}, {"document": "B", "summary": ""}]
    path = tmp_path / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows[:1]), encoding="utf-8")
    pairs = read_parallel_table(path, "document", "summary")
    assert (pairs.source, pairs.target) == (["Ein langer Text."], ["Kurz."])
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    with pytest.raises(ValueError, match=r"pairs.jsonl \(summary\), line 2: empty text"):
        read_parallel_table(path, "document", "summary")


def test_batches_shift_labels_truncate_with_the_end_token_and_weight_no_padding(pairs, spm):
    batches = list(seq2seq_batches(pairs.take(range(300)), spm, FORM, 16, shuffle=False))
    assert sum(len(labels) for _, labels, _ in batches) == 300
    for inputs, labels, weights in batches:
        mask = inputs["decoder_padding_mask"].numpy()
        labels, weights = labels.numpy(), weights.numpy()
        np.testing.assert_array_equal(weights, mask)
        assert labels.shape[1] <= FORM.max_target_length
        assert inputs["encoder_token_ids"].shape[1] <= FORM.max_source_length
        decoder = inputs["decoder_token_ids"].numpy()
        np.testing.assert_array_equal(decoder[:, 0], FORM.start_id)
        np.testing.assert_array_equal(decoder[:, 1:][mask[:, 1:] > 0],
                                      labels[:, :-1][mask[:, 1:] > 0])
        lengths = mask.sum(1)
        np.testing.assert_array_equal(labels[np.arange(len(labels)), lengths - 1], FORM.end_id)
        assert (labels[mask == 0] == FORM.pad_id).all()
        source_mask = inputs["encoder_padding_mask"].numpy()
        assert source_mask[:, 0].all() and (source_mask.sum(1) > 0).all()


def test_scores_follow_sacrebleu_and_rouge_conventions():
    references = ["A dog runs on the beach.", "Two men are talking."]
    assert translation_scores(references, references)["bleu"] == 100.0
    partial = translation_scores(["A dog runs.", "Two men talk."], references)
    assert 0 < partial["bleu"] < 100 and 0 < partial["chrf"] < 100
    assert "tok:13a" in partial["bleu_signature"]
    # ROUGE-1 of "the cat" against "the cat sat": precision 1, recall 2/3, F 0.8.
    assert summarization_scores(["the cat"], ["the cat sat"])["rouge1"] == 80.0
    with pytest.raises(ValueError, match="2 hypotheses for 1 references"):
        translation_scores(references, references[:1])


@pytest.fixture(scope="module")
def trained(pairs, spm):
    """German → English on 1,100 real pairs, 10 epochs of a bart_tiny-shaped model: the model,
    the 100 held-out pairs, and the validation loss before and after."""
    from kzoo.tasks import Seq2SeqLM
    from kzoo.training.optimizer import make_optimizer

    train, val = pairs.split_off(100, seed=0)
    config = kzoo.resolve_config("bart_tiny").replace(
        vocab_size=1000, dropout=0.0, decoder_start_token_id=FORM.start_id)
    model = Seq2SeqLM(kzoo.build_encoder_decoder(config))
    batches = seq2seq_batches(train, spm, FORM, 32, seed=0)
    val_batches = seq2seq_batches(val, spm, FORM, 50, shuffle=False)
    model.compile(optimizer=make_optimizer(3e-3, total_steps=10 * len(batches), warmup_steps=30))
    before = model.evaluate(val_batches, verbose=0, return_dict=True)["loss"]
    model.fit(batches, epochs=10, verbose=0, shuffle=False)
    after = model.evaluate(val_batches, verbose=0, return_dict=True)["loss"]
    return model, val, before, after


def _translator(model, spm):
    from kzoo.generation.seq2seq import Seq2SeqGenerator

    return Seq2SeqGenerator(model, spm, max_source_length=FORM.max_source_length,
                            end_token_id=FORM.end_id)


def test_a_tiny_translation_run_learns_to_beat_copying_the_source(trained, spm):
    """The validation loss falls, and beam search's BLEU on the held-out pairs beats copying
    the German source."""
    model, val, before, after = trained
    assert after < before - 3.0
    hypotheses = _translator(model, spm)(val.source, method="beam", num_beams=3,
                                         max_new_tokens=20)
    bleu = translation_scores(hypotheses, val.target)["bleu"]
    assert bleu > translation_scores(val.source, val.target)["bleu"] + 1.0, (bleu, hypotheses[:3])


def test_the_text_to_text_export_serves_in_a_fresh_process(trained, spm, tmp_path):
    """Source text in, translation out, through TF Serving's loader in a process without kzoo,
    equal to the in-process translation; bad requests get answers or one-line refusals."""
    from kzoo.export import check_serving_ops, export_saved_model
    from kzoo.export.fresh_process import replay_warmup_in_fresh_process, warmup_calls

    model, val, _, _ = trained
    version = export_saved_model(model, spm, tmp_path / "de_en", end_token_id=FORM.end_id,
                                 sequence_length=FORM.max_source_length)
    check_serving_ops(version)
    sources = val.source[:4]
    expected = _translator(model, spm)(sources, max_new_tokens=12)
    settings = {"max_new_tokens": 12, "method": "greedy", "temperature": 1.0, "top_k": 0,
                "top_p": 1.0, "seed": 0}

    def call(source, **changes):
        return {"signature": "serving_default",
                "inputs": {"source": source, **settings, **changes}}

    long_source = " ".join(val.source[:20])
    calls = [call(sources), call(["", long_source]), call({"b64": ["/w=="]}), call([]),
             call(sources[:1], max_new_tokens=0), call(sources[:1], method="beam")]
    # The warmup requests replay first, as TF Serving replays them on loading; they must pass.
    replies = replay_warmup_in_fresh_process(version, extra_calls=calls)["session"]
    replies = replies[len(warmup_calls(version)):]
    assert replies[0]["outputs"]["text"] == expected
    assert len(replies[1]["outputs"]["text"]) == 2  # empty and over-long sources get answers
    assert len(replies[2]["outputs"]["text"]) == 1  # invalid UTF-8 is read with U+FFFD
    assert replies[3]["outputs"]["text"] == []
    assert "max_new_tokens must be >= 1" in replies[4]["error"]
    assert "method must be greedy or sample" in replies[5]["error"]


def test_streamed_translation_equals_the_whole_one(trained, spm):
    model, val, _, _ = trained
    translate = _translator(model, spm)
    for source in val.source[:3]:
        (whole,) = translate([source], max_new_tokens=16)
        assert "".join(translate.stream(source, max_new_tokens=16)) == whole
    ((begin, step, _),) = translate._streaming.values()
    traces = (begin.experimental_get_tracing_count(), step.experimental_get_tracing_count())
    assert traces == (1, 1)


def test_kzoo_finetune_translates_and_evaluate_reproduces_its_scores(pairs, spm, tmp_path):
    """`data.task: translation` on aligned files: fine-tuning writes a run whose sacreBLEU and
    chrF `kzoo evaluate` gets again from the saved model."""
    from kzoo.recipes import evaluate_run, run_config_from_dict, run_finetuning

    run = run_config_from_dict({
        "data": {"task": "translation", "files": [str(DATA / "multi30k_sample.de")],
                 "target_file": str(DATA / "multi30k_sample.en"), "sequence_length": 24,
                 "max_target_length": 20, "validation_fraction": 0.05},
        "training": {"epochs": 1, "batch_size": 32, "learning_rate": 3e-3},
        "run_dir": str(tmp_path / "de_en")})
    backbone = kzoo.build_encoder_decoder("bart_tiny", vocab_size=1000, dropout=0.0)
    _, _, metrics = run_finetuning(run, backbone, spm, verbose=0)
    assert set(metrics) == {"bleu", "chrf"}  # (how well it learns: the tiny run above)
    _, held_out = pairs.split_off(round(len(pairs) * 0.05), seed=0)
    held = tmp_path / "held"
    (held.with_suffix(".de")).write_text("\n".join(held_out.source), encoding="utf-8")
    (held.with_suffix(".en")).write_text("\n".join(held_out.target), encoding="utf-8")
    again = evaluate_run(tmp_path / "de_en", held.with_suffix(".de"), held.with_suffix(".en"))
    assert again == metrics

