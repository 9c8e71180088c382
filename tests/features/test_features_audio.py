"""Log-mel features checked against independent computations (scipy STFT, np.interp filters)."""

import numpy as np
import pytest
from scipy import signal

from tinyai.features.audio import (
    AudioFeatures,
    hz_to_mel,
    log_mel,
    mel_filterbank,
    mel_to_hz,
    power_spectrogram,
)

CFG = AudioFeatures()


def _reference_filterbank(cfg: AudioFeatures) -> np.ndarray:
    """Each triangle drawn with np.interp through (lower, 0), (centre, 1), (upper, 0)."""
    mels = np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2)
    edges = mel_to_hz(mels)
    freqs = np.fft.rfftfreq(cfg.n_fft, d=1 / cfg.sample_rate)
    fb = np.zeros((len(freqs), cfg.n_mels))
    for j in range(cfg.n_mels):
        fb[:, j] = np.interp(freqs, edges[j : j + 3], [0.0, 1.0, 0.0], left=0.0, right=0.0)
    return fb


def _noise(n: int, samples: int = 16000, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((n, samples)) * 0.1).astype(np.float32)


def test_mel_scale_round_trips_and_matches_htk_at_1khz():
    assert hz_to_mel(1000.0) == pytest.approx(1000.0, abs=0.1)  # HTK: 1 kHz ~ 1000 mel
    hz = np.array([0.0, 20.0, 440.0, 7600.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, atol=1e-6)


def test_filterbank_matches_independent_construction():
    fb = mel_filterbank(CFG)
    assert fb.shape == (CFG.n_fft // 2 + 1, CFG.n_mels)
    np.testing.assert_allclose(fb, _reference_filterbank(CFG), atol=1e-6)
    assert (fb.sum(axis=0) > 0).all(), "every mel band must cover at least one FFT bin"


def test_power_spectrogram_matches_scipy_stft():
    x = _noise(2)
    ours = power_spectrogram(x, CFG)
    _, _, z = signal.stft(
        x,
        fs=CFG.sample_rate,
        window="hann",
        nperseg=CFG.win_length,
        noverlap=CFG.win_length - CFG.hop_length,
        nfft=CFG.n_fft,
        boundary=None,
        padded=False,
        detrend=False,
        scaling="spectrum",
        axis=-1,
    )
    win_sum = signal.get_window("hann", CFG.win_length).sum()  # undo scipy's 1/sum(window)
    ref = (np.abs(z * win_sum) ** 2).transpose(0, 2, 1)
    assert ours.shape == ref.shape == (2, 98, 257)
    np.testing.assert_allclose(ours, ref, rtol=1e-3, atol=1e-4 * ref.max())


def test_log_mel_matches_slow_per_frame_loop():
    x = _noise(1, seed=3)[0]
    fb = _reference_filterbank(CFG)
    window = signal.get_window("hann", CFG.win_length)
    expected = []
    for start in range(0, len(x) - CFG.win_length + 1, CFG.hop_length):
        frame = x[start : start + CFG.win_length].astype(np.float64) * window
        power = np.abs(np.fft.rfft(frame, n=CFG.n_fft)) ** 2
        expected.append(np.log(power @ fb + CFG.log_eps))
    np.testing.assert_allclose(log_mel(x, CFG), np.array(expected), atol=2e-3)


def test_shapes_leading_dims_and_chunking():
    x = _noise(300, samples=2000)  # more clips than one internal chunk
    feats = log_mel(x, CFG)
    assert feats.shape == (300, CFG.num_frames(2000), 40) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[257], log_mel(x[257], CFG), rtol=1e-5, atol=1e-5)
    assert log_mel(x[:6].reshape(2, 3, 2000), CFG).shape == (2, 3, CFG.num_frames(2000), 40)
    assert CFG.num_frames(16000) == 98


def test_tone_lights_up_the_band_around_its_frequency():
    t = np.arange(16000) / 16000
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    band = int(log_mel(tone, CFG).mean(axis=0).argmax())
    centres = mel_to_hz(np.linspace(hz_to_mel(CFG.fmin), hz_to_mel(CFG.fmax), CFG.n_mels + 2))[1:-1]
    assert abs(centres[band] - 1000) < 80


def test_silence_is_finite_at_log_eps():
    feats = log_mel(np.zeros((1, 16000), np.float32), CFG)
    np.testing.assert_allclose(feats, np.log(CFG.log_eps), rtol=1e-5)


def test_config_round_trip_and_validation():
    cfg = AudioFeatures(n_mels=64, hop_length=128)
    assert AudioFeatures.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="win_length"):
        AudioFeatures(win_length=1024, n_fft=512)
    with pytest.raises(ValueError, match="fmax"):
        AudioFeatures(fmax=9000)
    with pytest.raises(ValueError, match="unknown"):
        AudioFeatures.from_dict({"n_mels": 40, "bogus": 1})
    with pytest.raises(ValueError, match="at least"):
        log_mel(np.zeros(100, np.float32), cfg)


def test_mfcc_is_the_orthonormal_dct_of_the_log_mel():
    from scipy.fft import dct

    from tinyai.features.audio import KWS_MFCC, audio_features, mfcc

    x = _noise(3, seed=5)
    expected = dct(log_mel(x, KWS_MFCC).astype(np.float64), type=2, norm="ortho", axis=-1)
    ours = mfcc(x, KWS_MFCC)
    assert ours.shape == (3, 49, 10) and ours.dtype == np.float32  # MLPerf Tiny's 49 x 10
    np.testing.assert_allclose(ours, expected[..., :10], rtol=1e-4, atol=1e-3)
    assert np.array_equal(audio_features(x, KWS_MFCC), ours)
    assert np.array_equal(audio_features(x, CFG), log_mel(x, CFG))


def test_mlperf_tiny_front_end_settings():
    from tinyai.features.audio import KWS_MFCC

    # 40 ms windows every 20 ms at 16 kHz, 40 mel bands 20-4000 Hz, 10 coefficients
    assert (KWS_MFCC.win_length, KWS_MFCC.hop_length, KWS_MFCC.sample_rate) == (640, 320, 16000)
    assert (KWS_MFCC.n_mels, KWS_MFCC.fmin, KWS_MFCC.fmax, KWS_MFCC.n_mfcc) == (40, 20, 4000, 10)
    assert KWS_MFCC.num_frames(16000) == 49 and KWS_MFCC.num_features == 10
    assert KWS_MFCC.to_dict()["type"] == "mfcc" and CFG.to_dict()["type"] == "log_mel"
    assert AudioFeatures.from_dict(KWS_MFCC.to_dict()) == KWS_MFCC
    with pytest.raises(ValueError, match="n_mfcc"):
        AudioFeatures(n_mfcc=41)
