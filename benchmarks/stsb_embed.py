"""STS-B: all-MiniLM-L6-v2 distilled without labels into a small sentence encoder, through
the shipped recipe, timed side by side with the teacher on STS-B dev sentences.

    python benchmarks/stsb_embed.py [--phase train|measure|all] [--quick]

train: recipes/stsb_embed.yaml (the run directory is cached under
tinyai.paths.cache_dir("bench") and resumed). The recipe's records give both Spearman
figures (STS-B dev, measured on each artifact) and the bytes (without the tokenizer, as a
model file is counted). measure adds what a recipe cannot say: batch-1, one-thread latency
of the teacher's and the student's artifacts interleaved in one process on STS-B dev
sentences at their real lengths (benchmarks/sst2_distill.py's timing), and the published
anchor model2vec potion-base-8M, which is cited, not measured: its weights come only from a
model hub, which tinyai never downloads from.
Results: benchmarks/results/stsb_embed[-quick].json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "stsb_embed.yaml"
RESULTS = Path(__file__).resolve().parent / "results"
# Published, not reproduced here (model2vec's README, MTEB STS average): potion-base-8M keeps
# about 93% of all-MiniLM-L6-v2's STS score with 7.5M parameters of static embeddings.
ANCHOR = {"name": "model2vec potion-base-8M (published, not measured)",
          "teacher_fraction": 0.93, "params": 7_500_000}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load(quick: bool) -> Any:
    import yaml

    from tinyai.recipe.schema import parse_recipe

    data = yaml.safe_load(RECIPE.read_text())
    if quick:  # slices and a few steps: validates the script
        data["task"]["limit"] = {"train": 256, "eval": 100}
        data["stages"][0]["distill"]["corpus_size"] = 512
        data["stages"][0]["train"] = {**data["stages"][0]["train"], "steps": 4,
                                      "batch_size": 16}
        data["measure"] = {"latency": False, "every_stage": False}
    return parse_recipe(data, base=RECIPE.parent)


def run_dir(quick: bool) -> Path:
    from tinyai.paths import cache_dir

    return cache_dir("bench", *(["quick"] if quick else [])) / "stsb-embed"


def measure(quick: bool, sentences: int, rounds: int) -> dict[str, Any]:
    from benchmarks.sst2_distill import Row, Timed, interleaved_latency
    from tinyai.data import load_glue
    from tinyai.recipe.records import cpu_model, read_metrics
    from tinyai.runtime.size import artifact_bytes

    folder = run_dir(quick)
    metrics = read_metrics(folder)
    teacher, final = metrics.teacher(), metrics.final()
    assert teacher is not None and final is not None and teacher.measure and final.measure
    rows = []
    for name, record in (("teacher: all-MiniLM-L6-v2, fp32", teacher), ("student", final)):
        artifact = folder / str(record.artifact)
        rows.append(Row(name, "tinyai", artifact, artifact_bytes(artifact, tokenizer=False),
                        record.measure.metric if record.measure else None))
    dev = load_glue("stsb", "dev")
    texts = list(dev.texts[:sentences])
    log(f"timing on {len(texts)} STS-B dev sentences, {rounds} interleaved rounds")
    latency = interleaved_latency({r.name: Timed(r, texts) for r in rows}, rounds)
    base, student = rows
    return {
        "cpu": cpu_model(), "sentences": len(texts), "rounds": rounds,
        "rows": [{"name": r.name, "spearman": r.accuracy, "bytes": r.bytes,
                  "latency_ms": latency[r.name]} for r in rows],
        "x_smaller": base.bytes / student.bytes,
        "x_faster": latency[base.name] / latency[student.name],
        "teacher_fraction": (student.accuracy or 0) / (base.accuracy or 1),
        "anchor": ANCHOR,
    }


def table(result: dict[str, Any]) -> str:
    lines = ["| model | STS-B dev Spearman | bytes (no tokenizer) | latency b=1 ms |",
             "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['name']} | {100 * r['spearman']:.2f} | {r['bytes']:,} | "
                     f"{r['latency_ms']:.3f} |")
    a = result["anchor"]
    lines.append(f"| {a['name']} | {100 * a['teacher_fraction']:.0f}% of MiniLM | "
                 f"{a['params'] / 1e6:.1f}M params | |")
    lines.append(f"\n{result['x_smaller']:.1f}x smaller, {result['x_faster']:.1f}x faster, "
                 f"{100 * result['teacher_fraction']:.1f}% of the teacher's Spearman; "
                 f"{result['cpu']}, {result['sentences']} sentences, {result['rounds']} rounds.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "measure", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="slices: validates the script")
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.phase in ("train", "all"):
        from tinyai.recipe.runner import run_recipe

        folder = run_dir(args.quick)
        run_recipe(load(args.quick), folder, resume=(folder / "recipe.yaml").is_file(), say=log)
    if args.phase == "train":
        return None
    result = measure(args.quick, 32 if args.quick else args.sentences,
                     2 if args.quick else args.rounds)
    RESULTS.mkdir(exist_ok=True)
    name = "stsb_embed-quick.json" if args.quick else "stsb_embed.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
