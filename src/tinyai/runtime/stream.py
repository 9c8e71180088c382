"""Keyword spotting on a long recording: what an assistant does while it waits for a command.

numpy + onnxruntime only. A one-second window (the clip length the model was trained on)
slides over the recording every `hop` seconds; the model gives each window a posterior over
its classes; the posteriors are smoothed by a moving average over the last `smooth`
windows (causal: a live detector only has the past); a keyword is detected where its
smoothed posterior reaches `threshold`, after which nothing is detected for `refractory`
seconds (one utterance lights up several overlapping windows). "_silence_" and "_unknown_"
(`ignore`) are never reported.

The features of overlapping windows are computed once for the whole recording and sliced, as
a device computes each new frame once: the hop is rounded to a whole number of feature
frames, so every window's features are exactly those of its one-second clip.

A detection's ``time`` is where the one-second stretch around the keyword starts: the start of
the middle window of its run, moved back by the moving average's lag. A live detector knows it
when the run ends, a few hops after the keyword; its ``score`` is the run's highest smoothed
posterior.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyai.errors import ConfigError, DataError
from tinyai.features.audio import audio_features
from tinyai.runtime.predictor import softmax

NOT_KEYWORDS = ("_silence_", "_unknown_")


@dataclass(frozen=True)
class ListenConfig:
    hop: float = 0.1  # seconds between windows
    smooth: int = 3  # windows in the moving average
    threshold: float = 0.7
    refractory: float = 1.0  # seconds without detections after one
    ignore: tuple[str, ...] = NOT_KEYWORDS

    def __post_init__(self) -> None:
        if not 0 < self.hop <= 0.25:
            raise ConfigError(f"hop must be in (0, 0.25] seconds, got {self.hop}; try --hop 0.1")
        if self.smooth < 1:
            raise ConfigError(f"smooth must be >= 1 window, got {self.smooth}")
        if not 0 < self.threshold <= 1:
            raise ConfigError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.refractory < 0:
            raise ConfigError(f"refractory must be >= 0 seconds, got {self.refractory}")


@dataclass(frozen=True)
class Detection:
    keyword: str
    time: float  # seconds from the start of the recording
    score: float  # the smoothed posterior that fired

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def window_posteriors(
    predictor: Any, recording: str | Path | np.ndarray, hop: float, batch_size: int = 64
) -> tuple[np.ndarray, float]:
    """Class posteriors [windows, classes] of one-second windows every ~`hop` seconds over a
    wav file or float32 samples in [-1, 1], and the hop actually used (whole feature frames)."""
    if predictor.kind != "audio-classification":
        raise DataError(
            f"listen needs a keyword-spotting artifact, not one of kind {predictor.kind}; "
            "pass an audio-classification artifact"
        )
    cfg, clip = predictor.inputs.features, predictor.inputs.num_samples
    frames_per_hop = max(1, round(hop * cfg.sample_rate / cfg.hop_length))
    if isinstance(recording, str | Path):
        recording = predictor.inputs.load(recording)
    wave = np.asarray(recording, dtype=np.float32).reshape(-1)
    if len(wave) < clip:  # shorter than one window: pad with silence, as predict does
        wave = np.pad(wave, (0, clip - len(wave)))
    feats = audio_features(wave, cfg)  # [all frames, n]
    window = cfg.num_frames(clip)
    starts = np.arange(0, len(feats) - window + 1, frames_per_hop)
    posteriors = []
    for i in range(0, len(starts), batch_size):
        batch = np.stack([feats[s : s + window] for s in starts[i : i + batch_size]])
        posteriors.append(softmax(predictor.run({"features": batch}).astype(np.float64)))
    return np.concatenate(posteriors), frames_per_hop * cfg.hop_length / cfg.sample_rate


def detect(
    posteriors: np.ndarray, labels: list[str], hop: float, config: ListenConfig
) -> list[Detection]:
    """Detections from window posteriors [windows, classes] (see the module docstring)."""
    smoothed, lag = _moving_average(posteriors, config.smooth)
    keywords = [i for i, name in enumerate(labels) if name not in config.ignore]
    winners = [max(keywords, key=lambda c: row[c]) if keywords else -1 for row in smoothed]
    detections: list[Detection] = []
    quiet_until, i = -np.inf, 0
    while i < len(smoothed):
        best = winners[i]
        if best < 0 or smoothed[i, best] < config.threshold:
            i += 1
            continue
        end = i  # the run of windows where this keyword stays on top and above threshold
        while end + 1 < len(smoothed) and winners[end + 1] == best and (
            smoothed[end + 1, best] >= config.threshold
        ):
            end += 1
        if i * hop >= quiet_until:
            middle = (i + end) / 2 - lag[(i + end) // 2]
            time = round(float(max(0.0, middle) * hop), 3)
            score = float(smoothed[i : end + 1, best].max())
            detections.append(Detection(labels[best], time, score))
            quiet_until = end * hop + config.refractory
        i = end + 1
    return detections


def _moving_average(posteriors: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean of each window and the (up to) width - 1 before it, and each mean's lag in windows
    (how far its centre lies behind the window it is reported at)."""
    cumulative = np.cumsum(np.vstack([np.zeros(posteriors.shape[1]), posteriors]), axis=0)
    ends = np.arange(1, len(posteriors) + 1)
    counts = np.minimum(ends, width)
    smoothed = (cumulative[ends] - cumulative[ends - counts]) / counts[:, None]
    return smoothed, (counts - 1) / 2


def listen(
    predictor: Any, recording: str | Path | np.ndarray, config: ListenConfig | None = None
) -> list[Detection]:
    """Keywords heard in a wav file or in float32 samples in [-1, 1] at the model's rate."""
    config = config or ListenConfig()
    posteriors, hop = window_posteriors(predictor, recording, config.hop)
    labels = predictor.label_names or [str(i) for i in range(posteriors.shape[1])]
    return detect(posteriors, labels, hop, config)
