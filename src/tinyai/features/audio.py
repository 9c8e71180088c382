"""Log-mel features for keyword spotting, in numpy.

Written by hand because the runtime must not import torch (so no torchaudio, which also
has no CPU build here) and librosa is not a dependency; an STFT plus a triangular mel
filterbank is a few lines of numpy. Framing follows the usual KWS front end (TF
micro_speech style): 30 ms Hann windows every 10 ms, no centre padding, each frame
zero-padded to `n_fft`, power spectrum, HTK mel scale, natural log. A 1 s clip at 16 kHz
gives 1 + (16000 - 480) // 160 = 98 frames.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

# Clips per chunk: bounds the temporary frame/FFT arrays to ~100 MB whatever the batch size.
_CHUNK = 256


@dataclass(frozen=True)
class AudioFeatures:
    """How waveforms become log-mel features; stored in artifact manifests via to_dict()."""

    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 480
    hop_length: int = 160
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 7600.0
    log_eps: float = 1e-6

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "win_length", "hop_length", "n_mels"):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f"AudioFeatures.{name} must be a positive integer")
        if self.win_length > self.n_fft:
            raise ValueError(f"win_length ({self.win_length}) must be <= n_fft ({self.n_fft})")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate/2, got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.log_eps <= 0:
            raise ValueError("AudioFeatures.log_eps must be > 0 (it keeps log() finite)")

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of `num_samples` samples."""
        if num_samples < self.win_length:
            raise ValueError(f"a clip needs at least {self.win_length} samples, got {num_samples}")
        return 1 + (num_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return {"type": "log_mel", **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioFeatures:
        data = {k: v for k, v in data.items() if k != "type"}
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown AudioFeatures key(s): {', '.join(unknown)}")
        return cls(**data)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


def mel_filterbank(cfg: AudioFeatures) -> np.ndarray:
    """Triangular HTK-mel filters, float32 [n_fft // 2 + 1, n_mels] (unnormalised peaks of 1)."""
    return _filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax).copy()


@lru_cache(maxsize=8)
def _filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    bin_hz = np.arange(n_fft // 2 + 1) * sr / n_fft
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_hz[:, None] - lower) / (centre - lower)
    falling = (upper - bin_hz[:, None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)


@lru_cache(maxsize=8)
def _window(win_length: int) -> np.ndarray:
    # Periodic Hann (as torch.hann_window / scipy.signal.get_window default): overlapping
    # frames then sum to a constant, which the symmetric variant does not.
    n = np.arange(win_length)
    return (0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)).astype(np.float32)


def power_spectrogram(waveforms: np.ndarray, cfg: AudioFeatures) -> np.ndarray:
    """|STFT|^2 of float32 [M, samples] -> float32 [M, frames, n_fft // 2 + 1]."""
    frames = np.lib.stride_tricks.sliding_window_view(waveforms, cfg.win_length, axis=-1)
    frames = frames[:, :: cfg.hop_length] * _window(cfg.win_length)
    spec = np.fft.rfft(frames, n=cfg.n_fft, axis=-1)  # float32 in -> complex64 (numpy >= 2)
    return (spec.real**2 + spec.imag**2).astype(np.float32, copy=False)


def log_mel(waveforms: np.ndarray, cfg: AudioFeatures | None = None) -> np.ndarray:
    """Log-mel features: float32 [..., samples] in [-1, 1] -> float32 [..., frames, n_mels]."""
    cfg = cfg or AudioFeatures()
    x = np.asarray(waveforms, dtype=np.float32)
    if x.ndim == 0:
        raise ValueError("log_mel needs waveforms shaped [..., samples]")
    lead, samples = x.shape[:-1], x.shape[-1]
    n_frames = cfg.num_frames(samples)
    flat = x.reshape(-1, samples)
    fbank = _filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    out = np.empty((flat.shape[0], n_frames, cfg.n_mels), dtype=np.float32)
    for start in range(0, flat.shape[0], _CHUNK):
        power = power_spectrogram(flat[start : start + _CHUNK], cfg)
        np.log(power @ fbank + np.float32(cfg.log_eps), out=out[start : start + _CHUNK])
    return out.reshape(*lead, n_frames, cfg.n_mels)
