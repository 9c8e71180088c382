"""`tinyai listen`: keywords found at the right times in a 20-second recording.

The recording is built from held-out material only: test-speaker keyword clips placed at
known times, with stretches of digital silence and of real background noise between them
(the `_silence_` clips of the test split: one-second cuts of Speech Commands' background-noise
recordings; the dataset here ships no `_background_noise_` folder). The model is the small
DS-CNN of trained_cases.py. Each clip is the one of its keyword that model is surest of on its
own (score >= 0.9): this tests finding keywords in a stream, not the classifier's accuracy.
"""

import json

import numpy as np
import pytest
from raw_files import write_wav
from trained_cases import kws

from tinyai.data.scene import PLACED, SAMPLE_RATE, keyword_scene
from tinyai.errors import ConfigError, DataError
from tinyai.runtime import load_artifact
from tinyai.runtime.stream import ListenConfig, detect, listen


def _recognised_clip(predictor, keyword: str, candidates: np.ndarray) -> np.ndarray:
    """The test clip of `keyword` the model is surest of (it must be sure: score >= 0.9)."""
    scores = [r["score"] if r["label"] == keyword else 0.0 for r in predictor.predict(candidates)]
    if max(scores) < 0.9:
        pytest.fail(f"the test model recognises no test clip of {keyword!r} with score >= 0.9")
    return candidates[int(np.argmax(scores))]


@pytest.fixture(scope="module")
def scene():
    _, task, path = kws()
    predictor = load_artifact(path)
    wave = keyword_scene(task.dataset("test"),
                         lambda keyword, clips: _recognised_clip(predictor, keyword, clips))
    return predictor, path, wave


def test_detects_each_keyword_once_near_its_time(scene):
    predictor, _, wave = scene
    found = listen(predictor, wave)
    assert [d.keyword for d in found] == [k for _, k in PLACED], found
    for detection, (start, _) in zip(found, PLACED, strict=True):
        assert abs(detection.time - start) <= 0.5, detection
        assert 0.7 <= detection.score <= 1.0


def test_cli_prints_the_same_detections(scene, tmp_path, run_cli):
    predictor, path, wave = scene
    wav = write_wav(tmp_path / "long.wav", wave)
    proc = run_cli("listen", str(path), str(wav), "--json")
    assert proc.returncode == 0, proc.stderr
    expected = [d.to_dict() for d in listen(predictor, wav)]
    assert json.loads(proc.stdout) == expected
    plain = run_cli("listen", str(path), str(wav)).stdout.splitlines()
    assert [line.split("\t")[1] for line in plain] == [k for _, k in PLACED]


def test_smoothing_threshold_and_refractory_on_known_posteriors():
    labels = ["_silence_", "_unknown_", "yes", "no"]
    posteriors = np.zeros((12, 4))
    posteriors[:, 0] = 1.0
    posteriors[2:5] = [0.0, 0.0, 0.9, 0.1]  # "yes" in windows 2-4
    posteriors[6] = [0.0, 0.0, 0.0, 1.0]  # one stray "no" window
    posteriors[9] = [0.0, 1.0, 0.0, 0.0]  # "_unknown_" is never reported
    config = ListenConfig(hop=0.1, smooth=3, threshold=0.55, refractory=1.0)
    found = detect(posteriors, labels, 0.1, config)
    # the 3-window mean of "yes" is 0.3, 0.6, 0.9, 0.6, 0.3 at windows 2-6: the run 3-5 is one
    # detection, centred on window 4, minus the average's lag of 1: window 3, the raw centre
    assert [(d.keyword, d.time) for d in found] == [("yes", 0.3)]
    assert found[0].score == pytest.approx(0.9)
    # the mean dilutes the stray "no" window below the threshold; unsmoothed, it counts,
    # unless it comes within the refractory period after "yes" (whose run ended at 0.4 s)
    raw = detect(posteriors, labels, 0.1, ListenConfig(smooth=1, refractory=0.1))
    assert [(d.keyword, d.time) for d in raw] == [("yes", 0.3), ("no", 0.6)]
    assert [d.score for d in raw] == pytest.approx([0.9, 1.0])
    quiet = detect(posteriors, labels, 0.1, ListenConfig(smooth=1, refractory=0.3))
    assert [d.keyword for d in quiet] == ["yes"]


@pytest.mark.parametrize(
    ("options", "message"),
    [({"hop": 0.5}, "hop must be"), ({"smooth": 0}, "smooth"), ({"threshold": 0}, "threshold")],
)
def test_bad_settings_are_one_line_errors(options, message):
    with pytest.raises(ConfigError, match=message):
        ListenConfig(**options)


def test_listen_refuses_other_artifacts_and_missing_files(scene, tmp_path, run_cli):
    from artifact_cases import artifact

    with pytest.raises(DataError, match="keyword-spotting artifact"):
        listen(load_artifact(artifact("char-gru")[2]), np.zeros(SAMPLE_RATE, np.float32))
    proc = run_cli("listen", str(scene[1]), str(tmp_path / "nope.wav"))
    assert proc.returncode == 2 and "does not exist" in proc.stderr
    proc = run_cli("listen", str(scene[1]), str(tmp_path / "nope.wav"), "--hop", "0.5")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
