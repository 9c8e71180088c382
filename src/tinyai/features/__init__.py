"""Feature extraction shared by training and the torch-free runtime (numpy only).

The training pipeline and the on-device runtime call the very same functions, so the
features a model sees at inference are identical to the ones it was trained on by
construction. Nothing in this package may import torch.
"""

from tinyai.features.audio import (
    KWS_MFCC,
    AudioFeatures,
    audio_features,
    log_mel,
    mel_filterbank,
    mfcc,
)
from tinyai.features.image import (
    FASHION_MNIST_NORMALIZATION,
    ImageNormalization,
    to_pixel_values,
)

__all__ = [
    "FASHION_MNIST_NORMALIZATION",
    "KWS_MFCC",
    "AudioFeatures",
    "ImageNormalization",
    "audio_features",
    "log_mel",
    "mel_filterbank",
    "mfcc",
    "to_pixel_values",
]
