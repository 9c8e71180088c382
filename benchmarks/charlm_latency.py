"""Per-character latency of a character-model artifact: carrying its state vs re-running the window.

    python benchmarks/charlm_latency.py ARTIFACT [ARTIFACT ...] [--chars 200] [--rounds 7]
    python benchmarks/charlm_latency.py --build DIR   # export untrained reference models there

Generating `--chars` characters greedily after a full-window prompt, through the torch-free
runtime on 1 thread: "stateful" reads one character per model call (tinyai.runtime.charlm),
"windowed" re-runs the last seq_len characters for each one. The two modes alternate within
each round (interleaved, so machine load hits both alike); the report gives the median over
rounds of milliseconds per character and their ratio. Latency does not depend on the weights,
so `--build` exports untrained models of the shipped sizes (GRU 2x256, nanoGPT 4x128).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

PROMPT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"


def measure(artifact: str | Path, chars: int = 200, rounds: int = 7) -> dict[str, Any]:
    from tinyai.runtime import load_artifact

    predictor = load_artifact(artifact, threads=1)
    seq_len = predictor.inputs.seq_len
    prompt = (PROMPT * (seq_len // len(PROMPT) + 1))[:seq_len]
    times: dict[str, list[float]] = {"stateful": [], "windowed": []}
    for mode in times:  # warm-up, and the two modes must agree while inside the window
        predictor.complete(prompt[-8:], 8, stateful=mode == "stateful")
    for _ in range(rounds):
        for mode in times:
            start = time.perf_counter()
            predictor.complete(prompt, chars, stateful=mode == "stateful")
            times[mode].append((time.perf_counter() - start) * 1000.0 / chars)
    medians = {mode: float(np.median(t)) for mode, t in times.items()}
    return {
        "artifact": str(artifact),
        "inputs": [spec["name"] for spec in predictor.manifest["inputs"]],
        "seq_len": seq_len,
        "chars": chars,
        "rounds": rounds,
        "ms_per_char": {mode: round(v, 4) for mode, v in medians.items()},
        "windowed_over_stateful": round(medians["windowed"] / medians["stateful"], 2),
    }


def build(out: Path) -> list[Path]:
    import torch

    import tinyai
    from tinyai.models import CharLM, CharLMConfig, CharTransformer, CharTransformerConfig

    torch.manual_seed(0)
    models = {
        "gru-2x256": CharLM(CharLMConfig()),
        "gpt-4x128": CharTransformer(CharTransformerConfig()),
    }
    return [tinyai.export(m.eval(), out / name, task="shakespeare") for name, m in models.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("artifacts", nargs="*")
    parser.add_argument("--build", type=Path, help="export untrained reference models here first")
    parser.add_argument("--chars", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    paths = [*args.artifacts, *(build(args.build) if args.build else [])]
    results = [measure(p, args.chars, args.rounds) for p in paths]
    print(
        json.dumps(
            {"machine": platform.processor() or platform.machine(), "results": results}, indent=2
        )
    )


if __name__ == "__main__":
    main()
