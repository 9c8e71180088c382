"""Tasks over the user's own data (small files written here)."""

import wave

import numpy as np
import pytest
import torch
from PIL import Image

from tinyai.errors import ConfigError, DataError
from tinyai.tasks import get_task
from tinyai.tasks.text import load_tokenizer


def test_text_classification_from_tables(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\ngood film,pos\nbad film,neg\nfine,pos\n")
    (tmp_path / "test.csv").write_text("text,label\nawful,neg\n")
    task = get_task(
        "text-classification",
        data={"train": str(tmp_path / "train.csv"), "test": tmp_path / "test.csv"},
        tokenizer=load_tokenizer(),
        max_length=32,
    )
    assert task.label_names == ["neg", "pos"] and task.splits == ("train", "test")
    assert task.eval_split == "test" and task.kind == "text-classification"
    batch = next(task.batches("train", 8))
    assert batch["input_ids"].shape[0] == 3 and batch["labels"].tolist() == [1, 0, 1]
    assert task.preprocessing()["text_pair"] is False


def test_text_regression_pairs(tmp_path):
    (tmp_path / "train.tsv").write_text("a\tb\tscore\nx y\tx z\t0.5\nq\tr\t1.5\n")
    task = get_task(
        "text-regression",
        data={"train": tmp_path / "train.tsv"},
        table={"text_column": "a", "text_b_column": "b", "label_column": "score"},
        tokenizer=load_tokenizer(),
    )
    batch = next(task.batches("train", 2))
    assert batch["labels"].dtype == torch.float32 and task.pair and task.eval_split == "train"


def test_image_classification_from_folders(tmp_path):
    for split in ("train", "val"):
        for cls, value in (("dark", 20), ("light", 230)):
            (tmp_path / split / cls).mkdir(parents=True)
            Image.new("RGB", (10, 8), (value,) * 3).save(tmp_path / split / cls / "a.png")
    task = get_task(
        "image-classification",
        data={"train": tmp_path / "train", "val": tmp_path / "val"},
    )
    assert task.label_names == ["dark", "light"] and task.eval_split == "val"
    batch = next(task.batches("val", 4))
    assert batch["pixel_values"].shape == (2, 3, 8, 10)
    # normalised with the train split's statistics: the two classes land at -1 and +1
    np.testing.assert_allclose(batch["pixel_values"].mean(dim=(1, 2, 3)), [-1, 1], atol=1e-5)
    assert task.example_inputs(2)["pixel_values"].shape == (2, 3, 8, 10)
    pre = task.preprocessing()
    assert (pre["height"], pre["width"], pre["channels"]) == (8, 10, 3)


def test_mismatched_classes_and_unknown_kind(tmp_path):
    for split, cls in (("train", "a"), ("test", "b")):
        (tmp_path / split / cls).mkdir(parents=True)
        Image.new("L", (4, 4)).save(tmp_path / split / cls / "x.png")
    with pytest.raises(DataError, match="different classes"):
        get_task(
            "image-classification", data={"train": tmp_path / "train", "test": tmp_path / "test"}
        )
    with pytest.raises(ConfigError, match="unknown task kind"):
        get_task("video-classification", data={"train": tmp_path})


def test_audio_classification_from_folders(tmp_path):
    for cls in ("off", "on"):
        (tmp_path / cls).mkdir()
        with wave.open(str(tmp_path / cls / "s1_nohash_0.wav"), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(np.zeros(16000, "<i2").tobytes())
    task = get_task("audio-classification", data={"train": tmp_path})
    batch = next(task.batches("train", 4))
    assert batch["features"].shape == (2, 49, 10) and task.label_names == ["off", "on"]
