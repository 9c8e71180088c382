"""A model directory records the task it was fitted to (task.json: name, kind, label names,
input shapes, the user's data spec), keeps it through load -> save, and a one-stage recipe
(export, evaluate) refuses a task whose label names, kind or input shapes differ from it,
even with the same label count (issue #16). A directory without the record keeps the old
checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tinyai.errors import ConfigError
from tinyai.models import FashionCNN, FashionCNNConfig, load_model, save_model
from tinyai.models.dir.carried import fitted_task
from tinyai.recipe.models import fit_to_task
from tinyai.tasks.spec import TaskSpec, build_task

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def image_folders(root: Path, labels: tuple[str, ...] = DIGITS, size: int = 28,
                  rgb: bool = False, per_class: int = 2) -> Path:
    """root/<label>/<i>.png of seeded noise: a user's image-folder task, nothing to learn."""
    from PIL import Image

    rng = np.random.default_rng(0)
    shape = (size, size, 3) if rgb else (size, size)
    for label in labels:
        (root / label).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(
                root / label / f"{i}.png")
    return root


def user_task(root: Path) -> object:
    return build_task(TaskSpec(data={"train": str(root)}))


def cnn() -> FashionCNN:
    return FashionCNN(FashionCNNConfig(channels=(8, 16))).eval()


def test_the_record_is_written_listed_and_kept_through_load_and_save(tmp_path: Path) -> None:
    digits = image_folders(tmp_path / "digits")
    save_model(cnn(), tmp_path / "a", task=user_task(digits))
    record = json.loads((tmp_path / "a" / "task.json").read_text())
    assert record["kind"] == "image-classification"
    assert record["label_names"] == sorted(DIGITS)  # class folders, in sorted order
    assert record["inputs"] == {"pixel_values": [1, 28, 28]}
    assert record["data_spec"]["data"] == {"train": str(digits)}
    structure = json.loads((tmp_path / "a" / "structure.json").read_text())
    assert "task.json" in structure["files"]
    loaded = load_model(tmp_path / "a")
    assert fitted_task(loaded) == record
    save_model(loaded, tmp_path / "b")  # no task=: the one it was loaded with is kept
    assert json.loads((tmp_path / "b" / "task.json").read_text()) == record
    save_model(loaded, tmp_path / "c", task="fashion-mnist")  # a given task replaces it
    builtin = json.loads((tmp_path / "c" / "task.json").read_text())
    assert builtin["name"] == "fashion-mnist" and builtin["data_spec"] is None
    assert builtin["label_names"][0] == "t-shirt/top"


def test_other_label_names_with_the_same_count_are_refused(tmp_path: Path) -> None:
    digits = image_folders(tmp_path / "digits")
    save_model(cnn(), tmp_path / "m", task=user_task(digits))
    model = load_model(tmp_path / "m")
    with pytest.raises(ConfigError) as refused:
        fit_to_task(model, "m", build_task(TaskSpec(name="fashion-mnist")), adapt=False)
    message = str(refused.value)
    assert "\n" not in message
    assert "labels [eight, five, four, nine, ... (10 in all)]" in message
    assert "the task fashion-mnist has labels [t-shirt/top" in message
    assert f"give --data train={digits}, or fine-tune it on this task first" in message
    # the same labels from other files of the same shape: the model fits
    again = image_folders(tmp_path / "more-digits")
    assert fit_to_task(model, "m", user_task(again), adapt=False) is model


def test_other_image_size_or_channels_are_refused(tmp_path: Path) -> None:
    save_model(cnn(), tmp_path / "m", task=user_task(image_folders(tmp_path / "gray28")))
    model = load_model(tmp_path / "m")
    colour = user_task(image_folders(tmp_path / "rgb32", size=32, rgb=True))
    with pytest.raises(ConfigError, match=r"whose pixel_values is \[1, 28, 28\], and the task "
                                          r"your data train=\S+rgb32 gives \[3, 32, 32\]"):
        fit_to_task(model, "m", colour, adapt=False)


def test_a_text_model_fitted_to_neg_pos_refuses_sst2(tmp_path: Path) -> None:
    from user_archs import save_neg_pos_text_model

    saved, table = save_neg_pos_text_model(tmp_path)
    model = load_model(saved)
    assert fitted_task(model)["inputs"]["input_ids"] == [None]  # any text length fits
    with pytest.raises(ConfigError, match=r"labels \[neg, pos\] and the task sst2 has labels "
                                          r"\[negative, positive\]; give --data train="):
        fit_to_task(model, "m", build_task(TaskSpec(name="sst2")), adapt=False)
    same = build_task(TaskSpec(data={"train": str(table)}, max_length=16))
    assert fit_to_task(model, "m", same, adapt=False) is model


def test_a_directory_without_the_record_keeps_the_label_count_check(tmp_path: Path) -> None:
    save_model(cnn(), tmp_path / "old")
    assert not (tmp_path / "old" / "task.json").exists()
    model = load_model(tmp_path / "old")
    assert fitted_task(model) is None
    fashion = build_task(TaskSpec(name="fashion-mnist"))
    assert fit_to_task(model, "old", fashion, adapt=False) is model  # 10 classes: as before
    three = user_task(image_folders(tmp_path / "three", DIGITS[:3]))
    with pytest.raises(ConfigError, match="outputs 10 classes and the task"):
        fit_to_task(model, "old", three, adapt=False)
