"""Text-prediction benchmark: recipes/charlm.yaml (a nanoGPT-style teacher, a distilled
student a tenth of its size, int8), plus what a recipe cannot say: top-1/top-3, keystroke
savings of the suggestion strip, per-character latency with and without the carried state,
and nanoGPT's published CPU configuration beside it.

    python benchmarks/charlm.py            # run the recipe (cached, resumed) + measure
    python benchmarks/charlm.py --quick    # the same on slices, a few steps (checks the script)

The run goes to tinyai.paths.cache_dir("bench")/charlm (charlm_quick). Validation is the
last 10% of Tiny Shakespeare by position; loss is in nats per character (the recipe's
metric, bits per character, times ln 2). Keystroke savings are measured on the first
KEYSTROKE_CHARS characters of the validation text (a strip of three word completions).
Per-character latency is benchmarks/charlm_latency.py's measurement. Results to
benchmarks/results/charlm.json (charlm-quick.json).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.charlm_latency import measure as char_latency
from benchmarks.recipe_runs import load, stage
from tinyai.paths import cache_dir

RESULTS = Path(__file__).parent / "results"
KEYSTROKE_CHARS = 1000
# karpathy/nanoGPT README, "I only have a macbook": n_layer=4, n_head=4, n_embd=128,
# block_size=64, 2000 iterations of batch 12 -> validation loss 1.88 (published, not rerun).
NANOGPT_CPU = {"params_published": "~0.8M", "val_loss_nats": 1.88,
               "config": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64,
                          "batch_size": 12, "max_iters": 2000},
               "source": "karpathy/nanoGPT README (published, not reproduced here)"}
TARGET_NATS = 1.60


def run(quick: bool) -> tuple[Any, Path]:
    from tinyai.recipe.runner import RECIPE_FILE, run_recipe

    folder = cache_dir("bench") / ("charlm_quick" if quick else "charlm")
    resume = (folder / RECIPE_FILE).is_file()
    print(f"charlm: {'resuming' if resume else 'running'} in {folder}", flush=True)
    return run_recipe(load("charlm", quick), folder, resume=resume, say=print), folder


def row(artifact: Path, task: Any, record: Any, chars: int, quick: bool) -> dict[str, Any]:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime import load_artifact

    scores = evaluate(artifact, task)["metrics"]
    savings = task.keystroke_savings(load_artifact(artifact, threads=1), characters=chars)
    latency = char_latency(artifact, chars=20 if quick else 200, rounds=1 if quick else 7)
    return {"val_nats_per_char": scores["loss"], "bits_per_char": scores["bits_per_char"],
            "top1": scores["accuracy"], "top3": scores["top3_accuracy"],
            "keystroke_savings": savings, "artifact_bytes": record.measure.bytes,
            "params": record.measure.params, "ms_per_char": latency["ms_per_char"],
            "windowed_over_stateful": latency["windowed_over_stateful"],
            "train_losses_every_100": record.train_losses[::100]}


def measure(metrics: Any, folder: Path, quick: bool) -> dict[str, Any]:
    from tinyai.tasks.spec import build_task

    task = build_task(load("charlm", quick).task)
    chars = 200 if quick else KEYSTROKE_CHARS
    rows = {}
    for name in ("teacher", "student", "int8"):
        record = stage(metrics, name)
        rows[name] = row(folder / str(record.artifact), task, record, chars, quick)
    teacher, final = rows["teacher"], rows["int8"]
    size_ratio = final["artifact_bytes"] / teacher["artifact_bytes"]
    gap = final["val_nats_per_char"] - teacher["val_nats_per_char"]
    return {
        "recipe": "recipes/charlm.yaml", "quick": quick, "keystroke_chars": chars,
        "val_windows": len(task.dataset("val")), "rows": rows,
        "student_over_teacher_bytes": size_ratio, "student_minus_teacher_nats": gap,
        "targets": {
            "teacher_nats_max": TARGET_NATS,
            "teacher_met": teacher["val_nats_per_char"] <= TARGET_NATS,
            "student_bytes_tenth_met": size_ratio <= 0.1,
            "student_within_0.10_nats_met": gap <= 0.10,
        },
        "nanogpt_cpu_published": NANOGPT_CPU,
        "nats_per_bit": math.log(2),
        "machine": vars(metrics.machine),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small slices, to check the script")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    metrics, folder = run(args.quick)
    result = measure(metrics, folder, args.quick)
    args.results.mkdir(parents=True, exist_ok=True)
    out = args.results / ("charlm-quick.json" if args.quick else "charlm.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("rows", "student_over_teacher_bytes",
                                             "student_minus_teacher_nats", "targets")}, indent=1))


if __name__ == "__main__":
    main()
