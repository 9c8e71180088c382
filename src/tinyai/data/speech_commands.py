"""Speech Commands v0.02, the official 12-class test set, as a keyword-spotting dataset.

Clips are read straight from the per-class ``<class>.tar.xz`` archives under
<data root>/speech_commands_test_v0.02 (tarfile + the wave module: 16 kHz mono 16-bit,
exactly 16,000 samples), 4,890 clips from 239 speakers.

Classes, in this fixed order (label id = position): ``_silence_, _unknown_, yes, no, up,
down, left, right, on, off, stop, go`` (the TensorFlow KWS order).

Splits: only the test set is available, so it is split by speaker: a clip goes to
``train`` / ``val`` / ``test`` when sha1(speaker id) mod 100 falls in [0, 80) / [80, 90) /
[90, 100). No speaker is ever in two splits, and the split never changes between runs or
machines. The speaker id is the hash in the file name (``<spk>_nohash_N.wav``, or
``<word>_<spk>_nohash_N.wav.wav`` in ``_unknown_``); ``_silence_`` clips have no speaker,
so each is keyed by its file name.

Decoded clips are cached as int16 .npz per class in tinyai.paths.cache_dir("speech_commands"),
keyed by the archive's size and mtime, so a changed archive is decoded again.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import tarfile
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from tinyai.data._files import RESTORE_HINT, decode_wav
from tinyai.data.datasets import AudioDataset
from tinyai.errors import DataError
from tinyai.paths import cache_dir, data_file

FOLDER = "speech_commands_test_v0.02"
CLASSES = (
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
SPLITS = ("train", "val", "test")
SPLIT_BOUNDS = {"train": (0, 80), "val": (80, 90), "test": (90, 100)}
SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
_CACHE_FORMAT = 1  # bump when the cached arrays change meaning


def speaker_of(member_name: str) -> str:
    """Speaker id from a clip's path; ``_silence_`` clips are keyed by their own name."""
    base = os.path.basename(member_name)
    if "_nohash_" not in base:
        return "noise:" + base.split(".")[0]
    return base.split("_nohash_")[0].rsplit("_", 1)[-1]


def split_of(speaker: str) -> str:
    bucket = int.from_bytes(hashlib.sha1(speaker.encode()).digest()[:8], "big") % 100
    return next(s for s, (lo, hi) in SPLIT_BOUNDS.items() if lo <= bucket < hi)


def _fit(samples: np.ndarray) -> np.ndarray:
    """Pad with silence or cut to exactly one second."""
    if len(samples) >= CLIP_SAMPLES:
        return samples[:CLIP_SAMPLES]
    return np.pad(samples, (0, CLIP_SAMPLES - len(samples)))


def _decode_archive(path: Path) -> tuple[list[str], np.ndarray]:
    names: list[str] = []
    clips: list[np.ndarray] = []
    try:
        with tarfile.open(path, "r:xz") as tar:
            for member in tar:
                if not member.isfile() or ".wav" not in member.name:
                    continue
                handle = tar.extractfile(member)
                data = handle.read() if handle else b""
                clips.append(_fit(decode_wav(data, f"{path}:{member.name}")))
                names.append(member.name)
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        raise DataError(f"{path} is damaged or truncated ({exc}); {RESTORE_HINT}") from None
    if not clips:
        raise DataError(f"{path} holds no .wav clips; {RESTORE_HINT}")
    return names, np.stack(clips).astype(np.int16)


def _load_class(name: str) -> tuple[list[str], np.ndarray]:
    """(member names, int16 [n, 16000]) for one class, from the cache when it is current."""
    path = data_file(FOLDER, f"{name}.tar.xz")
    stat = path.stat()
    key = f"{_CACHE_FORMAT}:{stat.st_size}:{stat.st_mtime_ns}"
    cached = cache_dir("speech_commands") / f"{name}.npz"
    names, audio = _load_cached(str(path), str(cached), key)
    return list(names), audio


# Kept in memory too: loading train, val and test one after another reads each class once.
@lru_cache(maxsize=len(CLASSES))
def _load_cached(archive: str, cache_file: str, key: str) -> tuple[tuple[str, ...], np.ndarray]:
    names, audio = _read_or_decode(Path(archive), Path(cache_file), key)
    audio.flags.writeable = False  # shared between callers
    return tuple(names), audio


def _read_or_decode(path: Path, cached: Path, key: str) -> tuple[list[str], np.ndarray]:
    if cached.is_file():
        try:
            with np.load(cached, allow_pickle=False) as npz:
                if str(npz["key"]) == key:
                    return [str(n) for n in npz["names"]], npz["audio"]
        except (OSError, ValueError, KeyError):
            pass  # an unreadable cache is simply rebuilt
    names, audio = _decode_archive(path)
    # Write to a private temp name, then rename: other processes may read the cache meanwhile.
    tmp = cached.with_name(f"{cached.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, key=np.array(key), names=np.array(names), audio=audio)
    os.replace(tmp, cached)
    return names, audio


def load_speech_commands(split: str, classes: Sequence[str] | None = None) -> AudioDataset:
    """One speaker-disjoint split; `classes` restricts to some of CLASSES (labels index into it)."""
    if split not in SPLITS:
        raise DataError(
            f"unknown split {split!r} for speech-commands; choose one of {', '.join(SPLITS)}"
        )
    chosen = list(CLASSES if classes is None else classes)
    unknown = [c for c in chosen if c not in CLASSES]
    if unknown or not chosen:
        raise DataError(
            f"unknown speech-commands class(es) {unknown}; choose from {', '.join(CLASSES)}"
        )
    waves, labels, speakers = [], [], []
    for label, name in enumerate(chosen):
        names, audio = _load_class(name)
        spk = [speaker_of(n) for n in names]
        keep = np.array([split_of(s) == split for s in spk], dtype=bool)
        waves.append(audio[keep])
        labels.append(np.full(int(keep.sum()), label, dtype=np.int64))
        speakers += [s for s, k in zip(spk, keep, strict=True) if k]
    waveforms = np.concatenate(waves).astype(np.float32) / np.float32(32768.0)
    return AudioDataset(
        f"speech-commands-{split}", waveforms, np.concatenate(labels), chosen, speakers, SAMPLE_RATE
    )
