"""Log-mel and MFCC features for keyword spotting, in numpy.

Written by hand because the runtime must not import torch (so no torchaudio, which also
has no CPU build here) and librosa is not a dependency; an STFT plus a triangular mel
filterbank is a few lines of numpy. Framing follows the usual KWS front end: Hann windows,
no centre padding, each frame zero-padded to `n_fft`, power spectrum, HTK mel scale,
natural log; MFCCs are the orthonormal DCT-II of that log-mel, first `n_mfcc` kept.
`audio_features` is the one entry point: training (tinyai.tasks) and the runtime call it.

Two settings are named here:

* ``AudioFeatures()``: log-mel, 30 ms windows every 10 ms, 40 bands 20-7600 Hz. A 1 s clip
  gives 1 + (16000 - 480) // 160 = 98 frames x 40 = 3,920 values.
* ``KWS_MFCC``: MLPerf Tiny's keyword-spotting input, 10 MFCCs of 40 bands 20-4000 Hz
  from 40 ms windows (640 samples, 1024-point FFT) every 20 ms (320 samples): 49 x 10 =
  490 values, 8x fewer, so the DS-CNN's first layers do 8x less work. As MLPerf Tiny's
  ``get_dataset.py`` (tf.signal: periodic Hann, HTK mel, log(mel + 1e-6),
  ``mfccs_from_log_mel_spectrograms``) except that tinyai's mel bands sum the *power*
  spectrum where MLPerf sums the magnitude, and the DCT is the orthonormal one (TF scales
  coefficient 0 by sqrt(2) more); the shape, windows, bands and coefficient count match.
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
    n_mfcc: int = 0  # 0: log-mel features; k > 0: the first k MFCCs of the log-mel

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
        if not 0 <= self.n_mfcc <= self.n_mels:
            raise ValueError(f"n_mfcc must be in [0, n_mels={self.n_mels}], got {self.n_mfcc}")

    @property
    def kind(self) -> str:
        return "mfcc" if self.n_mfcc else "log_mel"

    @property
    def num_features(self) -> int:
        """Values per frame: n_mfcc for MFCCs, else n_mels."""
        return self.n_mfcc or self.n_mels

    def num_frames(self, num_samples: int) -> int:
        """Frames produced for a clip of `num_samples` samples."""
        if num_samples < self.win_length:
            raise ValueError(f"a clip needs at least {self.win_length} samples, got {num_samples}")
        return 1 + (num_samples - self.win_length) // self.hop_length

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.kind, **dataclasses.asdict(self)}

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


@lru_cache(maxsize=8)
def _dct_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """Orthonormal DCT-II basis, float32 [n_mels, n_mfcc] (scipy.fft.dct(norm="ortho"))."""
    n = np.arange(n_mels)[:, None] + 0.5
    k = np.arange(n_mfcc)[None, :]
    basis = np.cos(np.pi * n * k / n_mels) * np.sqrt(2.0 / n_mels)
    basis[:, 0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def mfcc(waveforms: np.ndarray, cfg: AudioFeatures) -> np.ndarray:
    """MFCCs: float32 [..., samples] -> float32 [..., frames, n_mfcc] (needs cfg.n_mfcc > 0)."""
    if not cfg.n_mfcc:
        raise ValueError("mfcc() needs AudioFeatures.n_mfcc > 0")
    return log_mel(waveforms, cfg) @ _dct_matrix(cfg.n_mels, cfg.n_mfcc)


def audio_features(waveforms: np.ndarray, cfg: AudioFeatures | None = None) -> np.ndarray:
    """The features `cfg` describes: [..., samples] -> [..., frames, cfg.num_features]."""
    cfg = cfg or AudioFeatures()
    return mfcc(waveforms, cfg) if cfg.n_mfcc else log_mel(waveforms, cfg)


KWS_MFCC = AudioFeatures(
    n_fft=1024, win_length=640, hop_length=320, n_mels=40, fmin=20.0, fmax=4000.0, n_mfcc=10
)
