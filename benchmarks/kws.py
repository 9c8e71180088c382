"""Keyword-spotting benchmark: recipes/kws.yaml (teacher, distilled DS-CNN, int8 QAT), plus
what a recipe cannot say: latency per one-second clip including feature extraction, and the
streaming detector on a test recording.

    python benchmarks/kws.py            # run the recipe (cached, resumed) + measure
    python benchmarks/kws.py --quick    # the same on slices, a few steps (checks the script)

The run goes to tinyai.paths.cache_dir("bench")/kws (kws_quick); its metrics.json holds the
accuracies on the held-out speakers and the artifact bytes, measured on the artifacts. The
training data is the 4,890-clip test release split by speaker (tinyai.data.speech_commands),
so absolute accuracy is not comparable with models trained on the full 105k clips; the
student-teacher ratios are. Results to benchmarks/results/kws.json (kws-quick.json).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recipe_runs import load, stage
from tinyai.paths import cache_dir

RESULTS = Path(__file__).parent / "results"
MLPERF_TINY_DSCNN_BYTES = 53_936  # MLPerf Tiny v1.0 KWS reference, int8 TFLite (published)


def run(quick: bool) -> tuple[Any, Path]:
    from tinyai.recipe.runner import RECIPE_FILE, run_recipe

    folder = cache_dir("bench") / ("kws_quick" if quick else "kws")
    resume = (folder / RECIPE_FILE).is_file()
    print(f"kws: {'resuming' if resume else 'running'} in {folder}", flush=True)
    return run_recipe(load("kws", quick), folder, resume=resume, say=print), folder


def clip_latency(artifacts: dict[str, Path], clips: np.ndarray,
                 rounds: int) -> dict[str, dict[str, float]]:
    """Median ms per one-second clip, raw samples in: MFCCs (numpy) + the model, 1 thread.
    The artifacts take turns clip by clip (interleaved), so load from other processes hits
    them alike."""
    from tinyai.runtime import load_artifact

    predictors = {k: load_artifact(p, threads=1) for k, p in artifacts.items()}
    times: dict[str, list[float]] = {k: [] for k in artifacts}
    for clip in clips[:10]:  # warm-up
        for predictor in predictors.values():
            predictor.predict([clip])
    for _ in range(rounds):
        for clip in clips:
            for name, predictor in predictors.items():
                start = time.perf_counter()
                predictor.predict([clip])
                times[name].append((time.perf_counter() - start) * 1000.0)
    return {k: {"median_ms": float(np.median(t)), "min_ms": float(np.min(t)),
                "clips_timed": len(t)} for k, t in times.items()}


def streaming(artifact: Path, data: Any, scenes: int) -> dict[str, Any]:
    """The detector (`tinyai listen`'s defaults) on `scenes` 20-second recordings of held-out
    clips (tinyai.data.scene; each keyword's clip drawn at random, seeded): a hit is the
    right keyword within 0.5 s of its start; anything else is a false alarm."""
    from tinyai.data.scene import PLACED, SECONDS, keyword_scene
    from tinyai.runtime import load_artifact
    from tinyai.runtime.stream import listen

    predictor = load_artifact(artifact, threads=1)
    hits = false_alarms = 0
    for seed in range(scenes):
        rng = np.random.default_rng(seed)

        def pick(_: str, clips: np.ndarray, rng: Any = rng) -> np.ndarray:
            return clips[rng.integers(len(clips))]

        wave = keyword_scene(data, pick, seed=seed)
        found = listen(predictor, wave)
        matched = set()
        for d in found:
            near = [i for i, (t, k) in enumerate(PLACED)
                    if k == d.keyword and abs(d.time - t) <= 0.5 and i not in matched]
            if near:
                matched.add(near[0])
            else:
                false_alarms += 1
        hits += len(matched)
    hours = scenes * SECONDS / 3600
    return {"scenes": scenes, "seconds_each": SECONDS, "keywords": scenes * len(PLACED),
            "hits": hits, "hit_rate": hits / (scenes * len(PLACED)),
            "false_alarms": false_alarms, "false_alarms_per_hour": false_alarms / hours}


def measure(metrics: Any, folder: Path, quick: bool) -> dict[str, Any]:
    from tinyai.tasks.spec import build_task

    teacher, student, final = (stage(metrics, n) for n in ("teacher", "student", "int8"))
    from tinyai.tasks import get_task

    task = build_task(load("kws", quick).task)
    data = task.dataset("test")
    # The scenes draw from every held-out clip (a --quick slice lacks most keywords).
    scene_data = get_task("speech-commands").dataset("test")
    artifacts = {n: folder / str(s.artifact) for n, s in
                 (("teacher", teacher), ("student", student), ("int8", final))}
    rows = {n: {"accuracy": s.measure.metric, "artifact_bytes": s.measure.bytes,
                "params": s.measure.params}
            for n, s in (("teacher", teacher), ("student", student), ("int8", final))}
    clips = data.waveforms[:20 if quick else 100]
    latency = clip_latency(artifacts, clips, 1 if quick else 5)
    for name in artifacts:
        rows[name]["latency_per_clip"] = latency[name]
    t, s = rows["teacher"]["accuracy"], rows["int8"]["accuracy"]
    return {
        "recipe": "recipes/kws.yaml", "quick": quick, "held_out_clips": len(data),
        "rows": rows,
        "student_minus_teacher_points": 100 * (s - t),
        "targets": {"max_bytes": 50_000, "bytes": rows["int8"]["artifact_bytes"],
                    "bytes_met": rows["int8"]["artifact_bytes"] <= 50_000,
                    "within_1_point_met": 100 * (t - s) <= 1.0},
        "mlperf_tiny_dscnn_int8_bytes_published": MLPERF_TINY_DSCNN_BYTES,
        "streaming": streaming(artifacts["int8"], scene_data, 2 if quick else 30),
        "features": task.features.to_dict(),
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
    out = args.results / ("kws-quick.json" if args.quick else "kws.json")
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps({k: result[k] for k in ("rows", "student_minus_teacher_points",
                                             "targets", "streaming")}, indent=1))


if __name__ == "__main__":
    main()
