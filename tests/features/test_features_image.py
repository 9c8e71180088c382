import numpy as np
import pytest

from tinyai.features.image import FASHION_MNIST_NORMALIZATION, ImageNormalization, to_pixel_values


def test_grayscale_batch_to_nchw_with_known_values():
    images = np.array([[[0, 255], [128, 64]]], dtype=np.uint8)
    out = to_pixel_values(images, FASHION_MNIST_NORMALIZATION)
    assert out.shape == (1, 1, 2, 2) and out.dtype == np.float32
    expected = (images / 255.0 - 0.2860) / 0.3530
    np.testing.assert_allclose(out[:, 0], expected, rtol=1e-5)


def test_rgb_channels_are_normalised_separately():
    cfg = ImageNormalization(mean=(0.5, 0.0, 1.0), std=(0.5, 1.0, 0.25), channels=3)
    images = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    images[..., 1] = 255
    out = to_pixel_values(images, cfg)
    assert out.shape == (2, 3, 4, 5)
    np.testing.assert_allclose(out[:, 0], -1.0)
    np.testing.assert_allclose(out[:, 1], 1.0)
    np.testing.assert_allclose(out[:, 2], -4.0)
    assert to_pixel_values(images[0], cfg).shape == (1, 3, 4, 5)  # one image without N


def test_bad_inputs_and_config_round_trip():
    with pytest.raises(ValueError, match="uint8"):
        to_pixel_values(np.zeros((1, 2, 2), np.float32), FASHION_MNIST_NORMALIZATION)
    with pytest.raises(ValueError, match="one value per channel"):
        ImageNormalization(mean=(0.1,), std=(0.2,), channels=3)
    cfg = FASHION_MNIST_NORMALIZATION
    assert ImageNormalization.from_dict(cfg.to_dict()) == cfg
