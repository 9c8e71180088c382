"""docs/your_own_model.md and the README's "Your own model" section: their code blocks, run
exactly as written (the doc's second continues its first, as a reader does), on a small image
folder."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

DOC = Path(__file__).resolve().parents[1] / "docs" / "your_own_model.md"
README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 2, "the section holds the verbs' example and the recipe's"
    return blocks


def _photos(root, split: str, count: int, seed: int) -> None:
    """Two classes a small net can tell apart: a bright top half (cat), bottom half (dog)."""
    rng = np.random.default_rng(seed)
    for label, rows in (("cat", slice(0, 8)), ("dog", slice(8, 16))):
        folder = root / "photos" / split / label
        folder.mkdir(parents=True)
        for i in range(count):
            image = rng.integers(0, 60, (16, 16))
            image[rows] += 180
            Image.fromarray(image.astype(np.uint8)).save(folder / f"{i}.png")


def test_the_your_own_model_example_runs_as_written(tmp_path, monkeypatch, capsys) -> None:
    verbs, recipe = _blocks()
    assert len(verbs.strip().splitlines()) <= 30 and len(recipe.strip().splitlines()) <= 15
    _photos(tmp_path, "train", 48, seed=0)
    _photos(tmp_path, "test", 8, seed=1)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)  # the example's initialisation, for a repeatable test
    namespace = {"__name__": "__doc_example__"}
    exec(compile(verbs, str(DOC), "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("{'accuracy': ")
    accuracy = float(printed[0].split(":")[1].split("}")[0])
    assert accuracy >= 0.75  # the two classes are easy: the pipeline learned something
    assert "'label': 'cat'" in printed[1]
    assert (tmp_path / "out" / "photos" / "manifest.json").is_file()

    exec(compile(recipe, str(DOC), "exec"), namespace)
    assert 0.5 <= float(capsys.readouterr().out.strip()) <= 1.0  # two classes: above chance
    assert (tmp_path / "runs" / "photos" / "artifact" / "manifest.json").is_file()
    trained = namespace["trained"]  # the final stage, loaded into an instance of Net
    assert type(trained) is namespace["Net"]
    assert any("Int8" in type(m).__name__ or "Quantized" in type(m).__name__
               for m in trained.modules())


def _readme_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Your own model"):]
    section = section[:section.index("\n## ", 5)]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 1, "the README section holds one example"
    return blocks[0]


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch, capsys) -> None:
    """Issue #14 item 7: a plain nn.Module trained on an image folder, pruned, quantized,
    exported and run, in the README itself."""
    code = _readme_block()
    body = [line for line in code.strip().splitlines() if not line.startswith(("import", "from"))]
    assert len(body) <= 16  # the model and the pipeline: fifteen-odd lines
    _photos(tmp_path, "train", 48, seed=0)
    _photos(tmp_path, "test", 8, seed=1)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    exec(compile(code, str(README), "exec"), {"__name__": "__readme_example__"})
    printed = capsys.readouterr().out
    assert "'label': 'cat'" in printed  # the bright-top image, as the quantized artifact sees it
    manifest = tmp_path / "out" / "photos" / "manifest.json"
    assert manifest.is_file() and "int8" in manifest.read_text().lower()
