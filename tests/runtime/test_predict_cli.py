"""`tinyai predict` on real files and sentences, through the installed CLI (a subprocess)."""

import json

import numpy as np
from artifact_cases import artifact
from raw_files import write_png, write_wav

from tinyai.runtime import load_artifact


def _json(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_predict_images_prints_labels_and_scores(tmp_path, run_cli):
    _, task, path = artifact("cnn")
    images = task.dataset("test").images[:3]
    files = [str(write_png(tmp_path / f"{i}.png", img)) for i, img in enumerate(images)]
    results = _json(run_cli("predict", str(path), *files, "--json", "--top-k", "3"))
    expected = load_artifact(path).predict(images, top_k=3)
    assert [r["label"] for r in results] == [e["label"] for e in expected]
    assert [r["input"] for r in results] == files
    for r, e in zip(results, expected, strict=True):
        assert r["label"] in task.label_names and len(r["top"]) == 3
        assert abs(r["score"] - e["score"]) < 1e-6
    plain = run_cli("predict", str(path), files[0])
    assert plain.returncode == 0 and plain.stdout.split("\t")[0] == results[0]["label"]


def test_predict_wav_files(tmp_path, run_cli):
    _, task, path = artifact("kws")
    files = [
        str(write_wav(tmp_path / f"{i}.wav", w))
        for i, w in enumerate(task.dataset("test").waveforms[:2])
    ]
    results = _json(run_cli("predict", str(path), *files, "--json"))
    assert len(results) == 2 and all(r["label"] in task.label_names for r in results)
    assert all(0.0 < r["score"] <= 1.0 for r in results)


def test_predict_sentences_from_arguments_and_stdin(run_cli):
    _, _, path = artifact("minilm-sst2")
    sentences = ["a gripping, funny film", "dull and far too long"]
    from_args = _json(run_cli("predict", str(path), *sentences, "--json"))
    from_stdin = _json(run_cli("predict", str(path), "--json", input="\n".join(sentences) + "\n"))
    assert [r["label"] for r in from_args] == [r["label"] for r in from_stdin]
    assert [r["input"] for r in from_stdin] == sentences
    expected = load_artifact(path).predict(sentences)
    assert np.allclose([r["score"] for r in from_args], [e["score"] for e in expected])


def test_predict_char_lm_completes_the_prompt(run_cli):
    _, _, path = artifact("char-gru")
    results = _json(run_cli("predict", str(path), "ROMEO:", "--json", "--complete", "12"))
    assert results[0]["prompt"] == "ROMEO:" and len(results[0]["completion"]) == 12
    assert results[0]["completion"] == load_artifact(path).complete("ROMEO:", 12)
    sampled = ["--complete", "30", "--temperature", "0.9", "--top-k", "4", "--seed", "2"]
    plain = run_cli("predict", str(path), "ROMEO:", *sampled)
    expected = load_artifact(path).complete("ROMEO:", 30, temperature=0.9, top_k=4, seed=2)
    assert plain.returncode == 0 and plain.stdout == "ROMEO:" + expected + "\n"


def test_predict_char_lm_suggests_word_completions(run_cli):
    _, _, path = artifact("char-gru")
    prefixes = ["to be or not to b", "What is th"]
    results = _json(run_cli("predict", str(path), *prefixes, "--suggest", "3", "--json"))
    predictor = load_artifact(path)
    assert [r["suggestions"] for r in results] == [predictor.suggest(p, k=3) for p in prefixes]
    assert [r["input"] for r in results] == prefixes
    plain = run_cli("predict", str(path), prefixes[0], "--suggest", "2").stdout.strip()
    assert plain.split("\t") == predictor.suggest(prefixes[0], k=2)


def test_suggest_needs_a_character_model(run_cli):
    proc = run_cli("predict", str(artifact("minilm-sst2")[2]), "a film", "--suggest", "3")
    assert proc.returncode == 2 and "character-model artifact" in proc.stderr


def test_predict_reports_bad_input_in_one_line(tmp_path, run_cli):
    _, _, path = artifact("kws")
    proc = run_cli("predict", str(path), str(tmp_path / "nope.wav"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    assert proc.stderr.strip().count("\n") == 0
