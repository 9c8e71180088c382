"""Pruning benchmark: the Fashion-MNIST LeNet-5 recipes side by side, a LeNet-300-100 lottery
ticket, the teacher's per-layer sensitivity, and head/FFN pruning of a MiniLM SST-2 classifier.

    python benchmarks/fashion_prune.py                    # train (cached) + measure
    python benchmarks/fashion_prune.py --phase measure    # re-measure the cached runs only
    python benchmarks/fashion_prune.py --quick            # whole script on small slices
    python benchmarks/fashion_prune.py --part fashion     # or minilm: one half only

The LeNet-5 rows are the shipped recipes (recipes/lenet5_prune_unstructured.yaml,
lenet5_prune_structured.yaml, lenet5_int8.yaml), run by the same runner as
`tinyai compress` into tinyai.paths.cache_dir("bench", "fashion_prune"); each run's
metrics.json holds what its stages measured on their artifacts (accuracy on the 10,000
test images through the torch-free runtime, bytes, parameters). This script adds what a
recipe cannot say: the artifacts' batch-1 latency timed side by side in one process,
interleaved (tinyai.runtime.bench.compare); the lottery ticket (not a registered technique),
scored on exported artifacts; the sensitivity study; the MiniLM half
(benchmarks/prune_minilm.py).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch import nn

# The repository root, so `benchmarks.*` imports work when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recipe_runs import (
    QUICK_LIMIT,
    QUICK_STEPS,
    finished_run,
    run_cached,
    side_by_side,
    stage,
)
from tinyai.paths import cache_dir
from tinyai.prune import copy_model, make_permanent

RESULTS = Path(__file__).parent / "results"
BENCH = "fashion_prune"
# Result row -> (recipe, stage whose artifact it is); the teacher is every recipe's stage 1.
ROWS = {
    "teacher": ("lenet5_prune_unstructured", "teacher"),
    "unstructured90": ("lenet5_prune_unstructured", "unstructured90"),
    "structured50": ("lenet5_prune_structured", "structured50"),
    "int8-static": ("lenet5_int8", "int8-static"),
}
RECIPES = tuple(dict.fromkeys(recipe for recipe, _ in ROWS.values()))


def export_artifact(model: nn.Module, out: Path, task: Any, history: list[dict]) -> Path:
    """`model` exported with its held pruning masks made permanent (benchmarks/prune_minilm.py
    uses it too)."""
    from tinyai.export import export

    return export(make_permanent(copy_model(model)), out, task, history=history)


def fashion_task(quick: bool) -> Any:
    from tinyai.tasks.spec import TaskSpec, build_task

    return build_task(TaskSpec(name="fashion-mnist", limit=dict(QUICK_LIMIT) if quick else {}))


# ----------------------------------------------------------------------------- train phase
def train_phase(quick: bool) -> None:
    for name in RECIPES:
        run_cached(name, BENCH, quick)
    lottery_file = cache_dir("bench", _bench(quick)) / "lottery.json"
    if not lottery_file.is_file():
        lottery_file.write_text(json.dumps(run_lottery(quick), indent=1))


def _bench(quick: bool) -> str:
    return f"{BENCH}_quick" if quick else BENCH


def run_lottery(quick: bool) -> dict[str, Any]:
    """Iterative magnitude pruning of LeNet-300-100, 20% of the remaining weights per round,
    late rewinding to step 200; each round and the random re-init control are scored on
    their exported artifacts."""
    from tinyai.distill import FinetuneConfig, finetune
    from tinyai.measure.evaluate import evaluate
    from tinyai.models import LeNet300100
    from tinyai.prune import LotteryConfig, lottery_ticket, sparsity
    from tinyai.prune.lottery import random_reinit
    from tinyai.train import TrainConfig, TrainHooks

    task = fashion_task(quick)
    folder = cache_dir("bench", _bench(quick), "lottery")
    train = TrainConfig(epochs=2, batch_size=128, lr=1.2e-3, warmup=0.05, decay="cosine",
                        weight_decay=1e-4, log_every=100, steps=QUICK_STEPS if quick else 0)
    config = LotteryConfig(rounds=1 if quick else 8, prune_per_round=0.2,
                           rewind_step=2 if quick else 200, exclude=())
    trained = [0]

    def train_fn(model: nn.Module, on_step: Any) -> float:
        hooks = TrainHooks(after_step=lambda step, loss: on_step(step))
        finetune(model, task, FinetuneConfig(train=train), hooks=hooks, label="lottery")
        trained[0] += 1
        artifact = export_artifact(model, folder / f"train-{trained[0]}", task,
                                   [{"technique": "lottery-ticket", "round": trained[0] - 1}])
        return float(evaluate(artifact, task)["metrics"]["accuracy"])

    torch.manual_seed(0)
    result = lottery_ticket(LeNet300100, train_fn, config)
    control = random_reinit(LeNet300100, result.masks, seed=1234)
    return {
        "rounds": [vars(r) for r in result.rounds],
        "ticket_weights_left": 1 - sparsity(result.model)["__total__"],
        "random_reinit_accuracy": train_fn(control, lambda step: None),
        "rewind_step": config.rewind_step,
        "epochs_per_round": train.epochs,
    }


# ----------------------------------------------------------------------------- measure phase
def measure_phase(quick: bool) -> dict[str, Any]:
    from tinyai.models import load_model

    runs = {name: finished_run(name, BENCH, quick) for name in RECIPES}
    artifacts = {}
    rows: dict[str, dict[str, Any]] = {}
    for row, (recipe, stage_name) in ROWS.items():
        metrics, folder = runs[recipe]
        record = stage(metrics, stage_name)
        m = record.measure
        assert m is not None and record.artifact is not None
        artifacts[row] = folder / record.artifact
        rows[row] = {"recipe": f"recipes/{recipe}.yaml", "stage": stage_name,
                     "params": m.params, "nonzero_params": m.nonzero_params,
                     "artifact_bytes": m.bytes, "accuracy": m.metric, "examples": m.examples}
    latency = side_by_side(artifacts, rounds=5 if quick else 200)
    dense = rows["teacher"]
    for name, row in rows.items():
        row["latency_ms"], row["latency_min_ms"] = latency[name]["median"], latency[name]["min"]
        row["size_ratio"] = dense["artifact_bytes"] / row["artifact_bytes"]
        row["speedup"] = dense["latency_ms"] / row["latency_ms"]
        row["speedup_min"] = dense["latency_min_ms"] / row["latency_min_ms"]
        row["accuracy_drop_pt"] = 100 * (dense["accuracy"] - row["accuracy"])
    task = fashion_task(quick)
    teacher_metrics, teacher_folder = runs[ROWS["teacher"][0]]
    teacher_model = load_model(teacher_folder / str(stage(teacher_metrics, "teacher").model_dir))
    return {
        "fashion": rows,
        "teachers": teachers(runs),
        "lottery": json.loads((cache_dir("bench", _bench(quick)) / "lottery.json").read_text()),
        "sensitivity": sensitivity_study(teacher_model, task, 200 if quick else 2000),
        "machine": vars(teacher_metrics.machine),
    }


def teachers(runs: dict[str, Any]) -> dict[str, Any]:
    """Every recipe trains the same seeded teacher: its figures in each run, and whether
    they agree."""
    from tinyai.runtime import read_manifest

    figures = {}
    for name, (metrics, folder) in runs.items():
        record = stage(metrics, "teacher")
        assert record.measure is not None
        files = read_manifest(folder / str(record.artifact))["files"]
        figures[name] = {"accuracy": record.measure.metric, "artifact_bytes": record.measure.bytes,
                         "model_sha256": files["model.onnx"]["sha256"]}
    # Same weights and accuracy; the bytes may differ by a few: the manifest's history
    # records each stage's wall time.
    same = {(f["accuracy"], f["model_sha256"]) for f in figures.values()}
    return {"runs": figures, "agree": len(same) == 1}


def torch_accuracy(model: nn.Module, task: Any, n_test: int) -> float:
    """PyTorch accuracy on the first `n_test` test images; leaves the model in eval mode."""
    from tinyai.measure.evaluate import evaluate

    model.eval()
    return evaluate(model, task, limit=n_test, batch_size=1000)["metrics"]["accuracy"]


def sensitivity_study(teacher: nn.Module, task: Any, n_eval: int) -> dict[str, Any]:
    """Per-layer sensitivity of the teacher, then one-shot 80% pruning (no fine-tuning) with
    a uniform per-layer target, global ranking, and the sensitivity-based allocation
    (PyTorch accuracy on the first `n_eval` test images)."""
    from tinyai.prune import MagnitudePruning, allocate_sparsity, prune_, sensitivity, sparsity

    table = sensitivity(
        teacher, lambda m: torch_accuracy(m, task, n_eval), sparsities=(0.5, 0.7, 0.8, 0.9, 0.95)
    )
    target = 0.8
    allocation = allocate_sparsity(table, target)
    one_shot = {}
    for name, config in {
        "uniform per layer": MagnitudePruning(sparsity=target),
        "global ranking": MagnitudePruning(sparsity=target, scope="global"),
        "sensitivity allocation": MagnitudePruning(sparsity=target, layer_sparsity=allocation),
    }.items():
        model = copy_model(teacher)
        prune_(model, config)
        one_shot[name] = {
            "accuracy": torch_accuracy(model, task, n_eval),
            "sparsity": sparsity(model)["__total__"],
        }
    return {
        "baseline": table.baseline,
        "table": table.to_markdown(),
        "curves": dataclasses.asdict(table),
        "target": target,
        "allocation": allocation,
        "one_shot": one_shot,
        "eval_examples": n_eval,
    }


def markdown(results: dict[str, Any]) -> str:
    lines: list[str] = []
    if "fashion" in results:
        lines += [
            "| model | params (nonzero) | artifact bytes | size ratio | accuracy | drop (pt) "
            "| latency ms (b=1, 1 thr) | speedup (median / min) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in results["fashion"].items():
            lines.append(
                f"| {name} | {r['params']:,} ({r['nonzero_params']:,}) | "
                f"{r['artifact_bytes']:,} | {r['size_ratio']:.2f}x | "
                f"{r['accuracy']:.4f} | {r['accuracy_drop_pt']:+.2f} | "
                f"{r['latency_ms']:.3f} | {r['speedup']:.2f}x / {r['speedup_min']:.2f}x |"
            )
        agree = results["teachers"]["agree"]
        lines.append(f"\nThe teacher of every recipe: {'identical' if agree else 'DIFFERENT'} "
                     f"figures ({json.dumps(results['teachers']['runs'])})")
        lot = results["lottery"]
        lines += ["", "| lottery round | weights left | test accuracy |", "|---|---|---|"]
        lines += [
            f"| {r['round']} | {1 - r['sparsity']:.3f} | {r['metric']:.4f} |" for r in lot["rounds"]
        ]
        lines.append(
            f"| random re-init of the last mask | {lot['ticket_weights_left']:.3f} | "
            f"{lot['random_reinit_accuracy']:.4f} |"
        )
        sens = results["sensitivity"]
        lines += [
            "",
            f"Sensitivity (test accuracy on {sens['eval_examples']} images, one layer "
            "pruned at a time, no fine-tuning):",
            "",
            sens["table"],
            "",
            f"| one-shot {sens['target']:.0%} (no fine-tuning) | sparsity | accuracy |",
            "|---|---|---|",
        ]
        lines += [
            f"| {k} | {v['sparsity']:.3f} | {v['accuracy']:.4f} |"
            for k, v in sens["one_shot"].items()
        ]
    if "minilm" in results:
        from benchmarks.prune_minilm import minilm_markdown

        lines += ["", minilm_markdown(results["minilm"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "measure", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="small slices, to validate the script")
    parser.add_argument("--part", choices=("all", "fashion", "minilm"), default="all")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    args = parser.parse_args()
    fashion = args.part in ("all", "fashion")
    text = args.part in ("all", "minilm")
    from benchmarks.prune_minilm import minilm_measure_phase, minilm_train_phase

    if args.phase in ("train", "all"):
        if fashion:
            train_phase(args.quick)
        if text:
            minilm_train_phase(quick=args.quick)
    if args.phase in ("measure", "all"):
        args.results.mkdir(parents=True, exist_ok=True)
        out = args.results / ("fashion_prune_quick.json" if args.quick else "fashion_prune.json")
        results = measure_phase(args.quick) if fashion else {}
        if text:
            results["minilm"] = minilm_measure_phase(quick=args.quick)
        results["quick"] = args.quick
        if out.is_file() and args.part != "all":  # measuring one part keeps the other's numbers
            results = {**json.loads(out.read_text()), **results}
        out.write_text(json.dumps(results, indent=1) + "\n")
        print(markdown(results))


if __name__ == "__main__":
    main()
