"""The runtime turns raw files into exactly the features the training pipeline computes."""

import numpy as np
import pytest
from artifact_cases import artifact
from raw_files import write_png, write_wav

from tinyai.runtime import load_artifact


def _training_batch(task, split, count):
    data = task.dataset(split).subset(np.arange(count))
    return data, next(task.numpy_batches(data, batch_size=count))


def test_audio_files_give_training_features_exactly(tmp_path):
    _, task, path = artifact("kws")
    data, batch = _training_batch(task, "test", 6)
    files = [write_wav(tmp_path / f"{i}.wav", w) for i, w in enumerate(data.waveforms)]
    predictor = load_artifact(path)
    from_files = predictor.preprocess(files)["features"]
    from_arrays = predictor.preprocess(data.waveforms)["features"]
    assert np.array_equal(from_files, batch["features"])
    assert np.array_equal(from_arrays, batch["features"])


def test_short_audio_is_padded_like_training(tmp_path):
    _, task, path = artifact("kws")
    clip = task.dataset("test").waveforms[0][:8000]
    features = load_artifact(path).preprocess([write_wav(tmp_path / "short.wav", clip)])["features"]
    padded = np.zeros(16000, np.float32)
    padded[:8000] = clip
    from tinyai.features.audio import audio_features

    assert np.array_equal(features[0], audio_features(padded, task.features))


def test_image_files_give_training_pixels_exactly(tmp_path):
    _, task, path = artifact("cnn")
    data, batch = _training_batch(task, "test", 5)
    files = [write_png(tmp_path / f"{i}.png", img) for i, img in enumerate(data.images)]
    predictor = load_artifact(path)
    assert np.array_equal(predictor.preprocess(files)["pixel_values"], batch["pixel_values"])
    assert np.array_equal(predictor.preprocess(data.images)["pixel_values"], batch["pixel_values"])


def test_larger_rgb_images_are_converted_to_the_model_input(tmp_path):
    from PIL import Image

    _, _, path = artifact("cnn")
    Image.new("RGB", (56, 40), (200, 10, 10)).save(tmp_path / "big.png")
    pixels = load_artifact(path).preprocess([tmp_path / "big.png"])["pixel_values"]
    assert pixels.shape == (1, 1, 28, 28) and pixels.dtype == np.float32


@pytest.mark.parametrize("split", ["dev"])
def test_tokenization_matches_the_training_tokenizer(split):
    _, task, path = artifact("minilm-sst2")
    data = task.dataset(split).subset(np.arange(16))
    expected = task.encode(list(data.texts))
    got = load_artifact(path).preprocess(list(data.texts))
    for name in ("input_ids", "attention_mask"):
        assert np.array_equal(got[name], expected[name])


def test_long_text_is_truncated_like_training():
    _, task, path = artifact("minilm-sst2")
    text = ["word " * 400]
    got = load_artifact(path).preprocess(text)["input_ids"]
    assert got.shape[1] == task.max_length
    assert np.array_equal(got, task.encode(text)["input_ids"])
