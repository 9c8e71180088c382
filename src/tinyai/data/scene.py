"""A long test recording for keyword spotting, built from held-out Speech Commands material.

One-second keyword clips are placed at known times, with stretches of real background noise
(the `_silence_` clips of the split: one-second cuts of the dataset's background-noise
recordings) and of digital silence between them. The listen test and benchmarks/kws.py
build their recordings here, so both score the detector on the same kind of scene.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
# (seconds, keyword) where each one-second clip starts; noise fills NOISY_GAPS, the rest of
# the 20 seconds stays silent.
PLACED = ((1.0, "yes"), (4.5, "right"), (8.0, "off"), (11.5, "stop"), (15.0, "left"))
NOISY_GAPS = ((0.0, 1.0), (2.0, 4.5), (9.0, 11.5), (16.0, 20.0))
SECONDS = 20.0


def keyword_scene(
    data: Any,
    pick: Callable[[str, np.ndarray], np.ndarray],
    placed: Sequence[tuple[float, str]] = PLACED,
    noisy_gaps: Sequence[tuple[float, float]] = NOISY_GAPS,
    seconds: float = SECONDS,
    seed: int = 0,
) -> np.ndarray:
    """float32 samples of the scene. `data` is an AudioDataset (waveforms, labels,
    label_names); `pick(keyword, clips)` chooses the clip of each placed keyword among that
    keyword's clips in `data`."""
    noise = data.waveforms[data.labels == data.label_names.index("_silence_")]
    rng = np.random.default_rng(seed)
    wave = np.zeros(round(seconds * SAMPLE_RATE), np.float32)
    for start, end in noisy_gaps:
        for second in np.arange(start, end, 1.0):
            piece = noise[rng.integers(len(noise))]
            span = round(min(1.0, end - second) * SAMPLE_RATE)
            at = int(second * SAMPLE_RATE)
            wave[at : at + span] = piece[:span]
    for start, keyword in placed:
        clips = data.waveforms[data.labels == data.label_names.index(keyword)]
        at = int(start * SAMPLE_RATE)
        wave[at : at + SAMPLE_RATE] = pick(keyword, clips)
    return wave
