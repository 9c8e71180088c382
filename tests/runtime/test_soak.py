"""The runtime under load: many predictions through one loaded artifact of each task kind
keep memory flat and never fail, and 4 threads sharing one predictor get exactly the serial
answers.

Each soak runs in its own process that imports only the torch-free runtime
(soak_driver.py), on real inputs: SST-2 and STS-B sentences, Fashion-MNIST images as PNG
files, wav files, Tiny Shakespeare prompts, rows of numbers for a user's MLP. Memory: the
resident set after 200 warm-up predictions and at the end may differ by at most
RSS_GROWTH_LIMIT. CI runs 1,000
predictions per kind; the 10,000-prediction soak is marked slow (about 3 minutes on 2
shared cores; see the report for the measured growth).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from tiny_artifacts import ARRAY_FEATURES, KINDS, tiny_artifact  # noqa: E402

RSS_GROWTH_LIMIT = 8 * 1024 * 1024  # bytes, from after the warm-up to the last prediction


def _inputs(kind: str, folder: Path) -> list[Any]:
    """A few dozen real inputs of the kind (the soak cycles through them)."""
    folder.mkdir(parents=True, exist_ok=True)
    if kind in ("text-classification", "sentence-embedding"):
        from tinyai.data.glue import load_glue

        return list(load_glue("sst2", "dev").texts[:64])
    if kind == "text-regression":
        from tinyai.data.glue import load_glue

        data = load_glue("stsb", "dev")
        return [[a, b] for a, b in zip(data.texts[:32], data.texts_b[:32], strict=True)]
    if kind == "image-classification":
        from PIL import Image

        from tinyai.data.fashion_mnist import load_fashion_mnist

        images = load_fashion_mnist("test").images[:16]
        for i, image in enumerate(images):
            Image.fromarray(image).save(folder / f"{i}.png")
        return [str(folder / f"{i}.png") for i in range(len(images))]
    if kind == "audio-classification":
        rng = np.random.default_rng(0)
        paths = []
        for i in range(8):  # a tone in noise, 0.5-1 s long (the model pads to 1 s)
            n = 8000 + 1000 * i
            wave_ = 0.3 * np.sin(np.arange(n) * (0.02 + 0.01 * i)) + 0.05 * rng.standard_normal(n)
            path = folder / f"{i}.wav"
            with wave.open(str(path), "wb") as out:
                out.setnchannels(1)
                out.setsampwidth(2)
                out.setframerate(16000)
                out.writeframes((wave_ * 32767).astype("<i2").tobytes())
            paths.append(str(path))
        return paths
    if kind.startswith("array-"):
        rows = np.random.default_rng(0).standard_normal((32, ARRAY_FEATURES))
        return rows.astype(np.float32).tolist()
    from tinyai.data.shakespeare import load_shakespeare

    lines = [line for line in load_shakespeare("val").splitlines() if len(line) > 8]
    return lines[:64]


def _soak(kind: str, count: int, tmp_path: Path) -> dict[str, Any]:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps(_inputs(kind, tmp_path / "files")))
    proc = subprocess.run([sys.executable, str(HERE / "soak_driver.py"), str(tiny_artifact(kind)),
                           str(inputs), str(count)], capture_output=True, text=True,
                          timeout=1800, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    growth = result["rss_end"] - result["rss_after_warmup"]
    print(f"{kind}: {count} predictions in {result['seconds']:.1f} s, RSS "
          f"{result['rss_after_warmup'] / 2**20:.1f} -> {result['rss_end'] / 2**20:.1f} MiB "
          f"({growth / 2**20:+.2f} MiB)")
    assert result["error_count"] == 0, result["errors"]
    assert result["same_answer"] and not result["torch_loaded"]
    assert growth <= RSS_GROWTH_LIMIT, result
    return result


@pytest.mark.parametrize("kind", KINDS)
def test_a_thousand_predictions_keep_memory_flat(kind: str, tmp_path: Path) -> None:
    _soak(kind, 1_000, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_ten_thousand_predictions_keep_memory_flat(kind: str, tmp_path: Path) -> None:
    _soak(kind, 10_000, tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_four_threads_on_one_predictor_get_the_serial_answers(kind: str, tmp_path: Path) -> None:
    from tinyai.runtime import load_artifact

    predictor = load_artifact(tiny_artifact(kind))
    options = {"n": 4} if kind == "char-lm" else {"top_k": 3}
    items = [tuple(x) if isinstance(x, list) else x for x in _inputs(kind, tmp_path)][:24]
    serial = [predictor.predict([item], **options) for item in items]
    answers: dict[int, list[tuple[int, Any]]] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(worker: int) -> None:
        try:
            barrier.wait()
            order = list(range(len(items)))[worker:] + list(range(len(items)))[:worker]
            answers[worker] = [(i, predictor.predict([items[i]], **options))
                               for i in order * 3]
        except BaseException as exc:  # reported below, with the worker's answers missing
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert sorted(answers) == [0, 1, 2, 3]
    for worker in range(4):
        assert len(answers[worker]) == 3 * len(items)
        assert all(result == serial[i] for i, result in answers[worker])
