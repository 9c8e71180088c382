"""Speech Commands: real archives, speaker-disjoint splits, cache, damaged archives."""

import csv
import io
import tarfile
import wave
from pathlib import Path

import numpy as np
import pytest

from tinyai.data import SPEECH_COMMANDS_CLASSES, load_speech_commands
from tinyai.data.speech_commands import FOLDER, speaker_of, split_of
from tinyai.errors import DataError

PER_CLASS = {  # PROVENANCE.md
    "_silence_": 408,
    "_unknown_": 408,
    "down": 406,
    "go": 402,
    "left": 412,
    "no": 405,
    "off": 402,
    "on": 396,
    "right": 396,
    "stop": 411,
    "up": 425,
    "yes": 419,
}


def test_class_order_is_fixed():
    assert SPEECH_COMMANDS_CLASSES == (
        "_silence_",
        "_unknown_",
        "yes",
        "no",
        "up",
        "down",
        "left",
        "right",
        "on",
        "off",
        "stop",
        "go",
    )


def test_speaker_ids_match_the_manifest(real_root):
    with open(real_root / FOLDER / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4890
    for row in rows:
        if row["speaker_id"]:
            assert speaker_of(row["path"]) == row["speaker_id"], row["path"]
    speakers = {r["speaker_id"] for r in rows if r["speaker_id"]}
    assert len(speakers) == 239
    shares = np.bincount([("train", "val", "test").index(split_of(s)) for s in speakers]) / 239
    assert 0.7 < shares[0] < 0.9 and 0.04 < shares[1] < 0.16 and 0.04 < shares[2] < 0.16


@pytest.fixture(scope="module")
def splits():
    # Uses the user's cache (shared between runs): the first run decodes all 12 archives.
    return {s: load_speech_commands(s) for s in ("train", "val", "test")}


def test_all_clips_split_by_speaker(splits):
    total = sum(len(d) for d in splits.values())
    assert total == 4890
    counts = sum(np.bincount(d.labels, minlength=12) for d in splits.values())
    assert dict(zip(SPEECH_COMMANDS_CLASSES, counts.tolist(), strict=True)) == PER_CLASS
    speaker_sets = [set(d.speakers) for d in splits.values()]
    assert not (
        speaker_sets[0] & speaker_sets[1]
        or speaker_sets[0] & speaker_sets[2]
        or speaker_sets[1] & speaker_sets[2]
    )
    assert 0.75 < len(splits["train"]) / total < 0.88
    for d in splits.values():
        assert d.waveforms.shape == (len(d), 16000) and d.waveforms.dtype == np.float32
        assert np.abs(d.waveforms).max() <= 1.0 and d.sample_rate == 16000
        assert d.label_names == list(SPEECH_COMMANDS_CLASSES)


def test_splits_are_deterministic_and_class_subset_relabels(splits):
    sub = load_speech_commands("val", classes=["yes", "no"])
    full = splits["val"]
    keep = np.isin(full.labels, [2, 3])
    np.testing.assert_array_equal(sub.waveforms, full.waveforms[keep])
    np.testing.assert_array_equal(sub.labels, full.labels[keep] - 2)
    assert sub.label_names == ["yes", "no"]
    with pytest.raises(DataError, match="unknown speech-commands class"):
        load_speech_commands("val", classes=["maybe"])


def _wav_bytes(samples: np.ndarray, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype("<i2").tobytes())
    return buf.getvalue()


def _write_archive(path: Path, clips: dict[str, bytes]) -> None:
    with tarfile.open(path, "w:xz", preset=0) as tar:
        for name, data in clips.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _clips(n: int, rate: int = 16000) -> dict[str, bytes]:
    rng = np.random.default_rng(n)
    return {
        f"yes/spk{i:05d}_nohash_0.wav": _wav_bytes(rng.integers(-999, 999, 16000), rate)
        for i in range(n)
    }


def test_cache_is_written_and_invalidated_when_archive_changes(fake_root):
    folder = fake_root / FOLDER
    folder.mkdir()
    _write_archive(folder / "yes.tar.xz", _clips(40))
    first = sum(len(load_speech_commands(s, ["yes"])) for s in ("train", "val", "test"))
    assert first == 40
    cached = fake_root.parent / "cache" / "speech_commands" / "yes.npz"
    assert cached.is_file()
    _write_archive(folder / "yes.tar.xz", _clips(25))
    second = sum(len(load_speech_commands(s, ["yes"])) for s in ("train", "val", "test"))
    assert second == 25


def test_truncated_archive_is_a_data_error(fake_root, real_root):
    folder = fake_root / FOLDER
    folder.mkdir()
    data = (real_root / FOLDER / "go.tar.xz").read_bytes()
    (folder / "go.tar.xz").write_bytes(data[: len(data) // 50])
    with pytest.raises(DataError, match=r"go\.tar\.xz is damaged or truncated"):
        load_speech_commands("train", ["go"])


def test_wrong_sample_rate_inside_archive_is_a_data_error(fake_root):
    folder = fake_root / FOLDER
    folder.mkdir()
    _write_archive(folder / "yes.tar.xz", _clips(2, rate=8000))
    with pytest.raises(DataError, match=r"yes\.tar\.xz:yes/spk00000_nohash_0\.wav is 8000 Hz"):
        load_speech_commands("train", ["yes"])
