"""Pruning benchmark: Fashion-MNIST LeNet-5 (unstructured 90% + AGP, structured 50% channels,
next to static int8 of the same teacher), a LeNet-300-100 lottery ticket, and head/FFN pruning
of a MiniLM SST-2 classifier.

    python benchmarks/fashion_prune.py --phase all        # train (cached) + measure
    python benchmarks/fashion_prune.py --phase measure    # re-measure cached models only
    python benchmarks/fashion_prune.py --quick            # whole pipeline on small slices
    python benchmarks/fashion_prune.py --phase train --part fashion --stages teacher

Training results are cached under tinyai.paths.cache_dir("bench", "fashion_prune"); the
teacher there is also the dense model of benchmarks/fashion_deep_compression.py. Sizes,
accuracies and latencies are measured on the exported artifacts (ONNX Runtime, 1 thread,
batch 1, all artifacts timed side by side, interleaved).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

# The repository root, so `benchmarks.*` imports work when run as a script.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinyai.models import LeNet5, LeNet5Config, LeNet300100, is_model_dir, load_model, save_model
from tinyai.paths import cache_dir
from tinyai.prune import (
    AGPSchedule,
    GradualPruner,
    LotteryConfig,
    MagnitudePruning,
    StructuredPruning,
    copy_model,
    lottery_ticket,
    make_permanent,
    prune_,
    sparsity,
)
from tinyai.prune.lottery import random_reinit
from tinyai.runtime.size import artifact_bytes
from tinyai.tasks import get_task
from tinyai.train import TrainConfig, train

RESULTS = Path(__file__).parent / "results" / "fashion_prune.json"


def batches_fn(task: Any, n_train: int, batch_size: int = 128):
    data = task.dataset("train")
    if n_train < len(data):
        data = data.subset(np.arange(n_train))
    return lambda epoch: task.batches(data, batch_size, shuffle=True, seed=epoch)


def fit(
    model: nn.Module,
    task: Any,
    args: argparse.Namespace,
    epochs: float,
    lr: float,
    loss_hook: Any = None,
    teacher: nn.Module | None = None,
) -> None:
    from tinyai.distill.losses import hinton_loss

    def loss_fn(m: nn.Module, batch: dict) -> torch.Tensor:
        if loss_hook is not None:
            loss_hook()
        outputs = m(**task.model_inputs(batch))
        if teacher is None:
            return task.loss(outputs, batch)
        with torch.no_grad():
            teacher_out = teacher(**task.model_inputs(batch))
        return hinton_loss(outputs, teacher_out, batch["labels"], temperature=4.0, alpha=0.5)

    cfg = TrainConfig(
        epochs=epochs, lr=lr, warmup=0.05, decay="cosine", weight_decay=1e-4, log_every=100
    )
    train(model, batches_fn(task, args.n_train), cfg, loss_fn)


def torch_accuracy(model: nn.Module, task: Any, n_test: int) -> float:
    """PyTorch accuracy on the first `n_test` test images; leaves the model in eval mode."""
    from tinyai.measure.evaluate import evaluate

    model.eval()
    return evaluate(model, task, limit=n_test, batch_size=1000)["metrics"]["accuracy"]


def steps_per_epoch(args: argparse.Namespace) -> int:
    return -(-args.n_train // 128)


# ----------------------------------------------------------------------------- train phase
def gradual_prune_90(
    teacher: nn.Module,
    task: Any,
    args: Any,
    epochs: float,
    ramp: float,
    out: Path,
    distill: bool = False,
) -> None:
    """Copy of `teacher` fine-tuned while global sparsity rises to 90% (AGP over the first
    `ramp` of the steps, masks recomputed 40 times), optionally distilling from it; saved."""
    model = copy.deepcopy(teacher)
    total = int(epochs * steps_per_epoch(args))
    config = MagnitudePruning(
        sparsity=0.9,
        scope="global",
        schedule=AGPSchedule(
            start_step=0, end_step=int(total * ramp), frequency=max(total // 40, 1)
        ),
    )
    pruner = GradualPruner(model, config)
    fit(
        model,
        task,
        args,
        epochs,
        1e-3,
        loss_hook=pruner.hook(),
        teacher=teacher.eval() if distill else None,
    )
    make_permanent(model)
    save_model(model, out)


def bench_cache(quick: bool) -> Path:
    """Where this benchmark caches its models (the teacher is shared with Deep Compression)."""
    return cache_dir("bench", "fashion_prune_quick" if quick else "fashion_prune")


def new_teacher() -> nn.Module:
    """The dense Fashion-MNIST teacher every pruning (and Deep Compression) result starts from."""
    return LeNet5(LeNet5Config(channels=(32, 64), hidden=256, dropout=0.3))


def train_teacher(task: Any, args: argparse.Namespace, out: Path) -> None:
    torch.manual_seed(0)
    teacher = new_teacher()
    fit(teacher, task, args, args.epochs, 3e-3)
    save_model(teacher, out)


def train_structured50(teacher: nn.Module, task: Any, args: argparse.Namespace, out: Path) -> None:
    """Half the channels and hidden units of every layer but the classifier, then fine-tuned."""
    model = copy.deepcopy(teacher)
    batch = next(iter(task.batches("train", 256, shuffle=True)))
    prune_(
        model,
        StructuredPruning(ratio=0.5, importance="taylor"),
        example_inputs=task.example_inputs(1),
        loss_fn=lambda m: task.loss(m(**task.model_inputs(batch)), batch),
    )
    fit(model, task, args, args.ft_epochs, 1e-3)
    save_model(model, out)


# Stages of the train phase in dependency order; every stage but the teacher starts from it.
TRAIN_STAGES = ("teacher", "unstructured90", "unstructured90-kd", "structured50", "lottery")


def train_phase(args: argparse.Namespace, cache: Path) -> None:
    """Train the stages named in `args.stages` that are not cached yet.

    Stages are independent once the teacher exists, so two processes given disjoint
    `--stages` lists can train them side by side.
    """
    task = get_task("fashion-mnist")
    todo = [s for s in TRAIN_STAGES if s in args.stages]
    if "teacher" in todo and not is_model_dir(cache / "teacher"):
        train_teacher(task, args, cache / "teacher")
    if "lottery" in todo and not (cache / "lottery.json").is_file():
        (cache / "lottery.json").write_text(json.dumps(run_lottery(task, args)))
    pending = [s for s in todo if s not in ("teacher", "lottery")]
    pending = [s for s in pending if not is_model_dir(cache / s)]
    if not pending:
        return
    teacher = load_model(cache / "teacher")
    for stage in pending:
        if stage == "unstructured90":
            gradual_prune_90(teacher, task, args, args.sparse_epochs, 0.6, cache / stage)
        elif stage == "unstructured90-kd":
            # The same schedule, distilling from the dense teacher while sparsity rises.
            gradual_prune_90(teacher, task, args, args.kd_epochs, 0.5, cache / stage, distill=True)
        else:
            train_structured50(teacher, task, args, cache / stage)


def run_lottery(task: Any, args: argparse.Namespace) -> dict[str, Any]:
    def model_fn() -> nn.Module:
        return LeNet300100()

    def train_fn(model: nn.Module, on_step: Any) -> float:
        calls = [0]

        def hook() -> None:
            on_step(calls[0])
            calls[0] += 1

        fit(model, task, args, args.lottery_epochs, 1.2e-3, loss_hook=hook)
        return torch_accuracy(model, task, args.n_test)

    torch.manual_seed(0)
    config = LotteryConfig(
        rounds=args.lottery_rounds, prune_per_round=0.2, rewind_step=200, exclude=()
    )
    result = lottery_ticket(model_fn, train_fn, config)
    control = random_reinit(model_fn, result.masks, seed=1234)
    control_acc = train_fn(control, lambda step: None)
    return {
        "rounds": [vars(r) for r in result.rounds],
        "ticket_weights_left": 1 - sparsity(result.model)["__total__"],
        "random_reinit_accuracy": control_acc,
        "rewind_step": config.rewind_step,
        "epochs_per_round": args.lottery_epochs,
    }


# ----------------------------------------------------------------------------- measure phase
def export_artifact(model: nn.Module, out: Path, task: Any, history: list[dict]) -> Path:
    from tinyai.export import export

    return export(make_permanent(copy_model(model)), out, task, history=history)


def export_int8_static(teacher: nn.Module, out: Path, task: Any, args: argparse.Namespace) -> Path:
    """Static int8 of `teacher` (convs and linears, BatchNorm folded; activation ranges from
    the first `args.n_calib` training images), exported so ONNX Runtime runs integer kernels."""
    from tinyai.export import export
    from tinyai.quantize import Int8Static, quantize_

    model = quantize_(copy_model(teacher).eval(), Int8Static())
    calibration = task.dataset("train").subset(np.arange(args.n_calib))
    with torch.no_grad():
        for batch in task.batches(calibration, 100):
            model(**task.model_inputs(batch))
    quantize_(model, Int8Static(step="convert"))
    history = [{"stage": "int8-static", "calibration_images": args.n_calib}]
    return export(model, out, task, history=history)


def artifact_accuracy(path: Path, task: Any, n_test: int) -> float:
    """Accuracy of the deployed file on the first `n_test` test images (onnxruntime, no torch)."""
    from tinyai.measure.evaluate import evaluate

    return evaluate(path, task, limit=n_test)["metrics"]["accuracy"]


def interleaved_latency(
    paths: dict[str, Path], feed: dict[str, np.ndarray], rounds: int
) -> dict[str, float]:
    """Median batch-1 latency (ms) per artifact, alternating runs so load noise is shared."""
    from tinyai.runtime import load_artifact

    sessions = {k: load_artifact(p, threads=1) for k, p in paths.items()}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for _ in range(20):
        for s in sessions.values():
            s.run(feed)
    for _ in range(rounds):
        for k, s in sessions.items():
            start = time.perf_counter()
            for _ in range(10):
                s.run(feed)
            times[k].append((time.perf_counter() - start) / 10 * 1000)
    # The median is the headline; the minimum (least disturbed round) is kept as a check,
    # since this machine is shared and a busy neighbour inflates every percentile.
    return {k: float(np.median(v)) for k, v in times.items()} | {
        f"{k}:min": float(np.min(v)) for k, v in times.items()
    }


def measure_phase(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    task = get_task("fashion-mnist")
    art = cache / "artifacts"
    models = {
        name: load_model(cache / name)
        for name in ("teacher", "unstructured90", "unstructured90-kd", "structured50")
    }
    paths = {
        name: export_artifact(m, art / name, task, [{"stage": name}]) for name, m in models.items()
    }
    # Static int8 of the same teacher, for the size/latency/accuracy of quantizing instead.
    paths["int8-static"] = export_int8_static(models["teacher"], art / "int8-static", task, args)
    models["int8-static"] = models["teacher"]  # same weights before rounding: same counts
    feed = {"pixel_values": task.example_inputs(1)["pixel_values"].numpy()}
    latency = interleaved_latency(paths, feed, args.latency_rounds)
    rows = {}
    for name, m in models.items():
        rows[name] = {
            "params": sum(p.numel() for p in m.parameters()),
            "nonzero_params": int(sum((p != 0).sum() for p in m.parameters())),
            "artifact_bytes": artifact_bytes(paths[name]),
            "accuracy": artifact_accuracy(paths[name], task, args.n_test),
            "latency_ms": latency[name],
            "latency_min_ms": latency[f"{name}:min"],
        }
    dense = rows["teacher"]
    for row in rows.values():
        row["size_ratio"] = dense["artifact_bytes"] / row["artifact_bytes"]
        row["speedup"] = dense["latency_ms"] / row["latency_ms"]
        row["speedup_min"] = dense["latency_min_ms"] / row["latency_min_ms"]
        row["accuracy_drop_pt"] = 100 * (dense["accuracy"] - row["accuracy"])
    return {
        "fashion": rows,
        "lottery": json.loads((cache / "lottery.json").read_text()),
        "sensitivity": sensitivity_study(models["teacher"], task, args),
    }


def sensitivity_study(teacher: nn.Module, task: Any, args: argparse.Namespace) -> dict[str, Any]:
    """Per-layer sensitivity of the teacher, then one-shot 80% pruning (no fine-tuning) with
    a uniform per-layer target, global ranking, and the sensitivity-based allocation."""
    from tinyai.prune import allocate_sparsity, sensitivity

    n_eval = min(args.n_test, 2000)
    table = sensitivity(
        teacher, lambda m: torch_accuracy(m, task, n_eval), sparsities=(0.5, 0.7, 0.8, 0.9, 0.95)
    )
    table.plot(RESULTS.with_name("fashion_prune_sensitivity.png"))
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
                f"{r['latency_ms']:.3f} | {r['speedup']:.2f}x / "
                f"{r['speedup_min']:.2f}x |"
            )
        lot = results["lottery"]
        lines += ["", "| lottery round | weights left | test accuracy |", "|---|---|---|"]
        lines += [
            f"| {r['round']} | {1 - r['sparsity']:.3f} | {r['metric']:.4f} |" for r in lot["rounds"]
        ]
        lines.append(
            f"| random re-init of the last mask | {lot['ticket_weights_left']:.3f} | "
            f"{lot['random_reinit_accuracy']:.4f} |"
        )
    if "sensitivity" in results:
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
    parser.add_argument("--skip-minilm", action="store_true", help="same as --part fashion")
    parser.add_argument(
        "--stages",
        type=lambda v: tuple(v.split(",")),
        default=TRAIN_STAGES,
        help=f"comma-separated fashion train stages (default all: {','.join(TRAIN_STAGES)})",
    )
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    full = not args.quick
    args.n_train = 60000 if full else 4000
    args.n_test = 10000 if full else 2000
    args.epochs, args.ft_epochs, args.sparse_epochs = (4, 2, 3) if full else (1, 1, 1)
    args.kd_epochs = 4 if full else 1
    args.lottery_epochs, args.lottery_rounds = (2, 8) if full else (1, 2)
    args.latency_rounds = 200 if full else 20
    args.n_calib = 1000 if full else 200
    cache = bench_cache(args.quick)
    fashion = args.part in ("all", "fashion")
    text = args.part in ("all", "minilm") and not args.skip_minilm
    from benchmarks.prune_minilm import minilm_measure_phase, minilm_train_phase

    if args.phase in ("train", "all"):
        if fashion:
            train_phase(args, cache)
        if text:
            minilm_train_phase(quick=args.quick)
    if args.phase in ("measure", "all"):
        results = measure_phase(args, cache) if fashion else {}
        if text:
            results["minilm"] = minilm_measure_phase(quick=args.quick)
        results["quick"] = args.quick
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        out = RESULTS.with_name("fashion_prune_quick.json") if args.quick else RESULTS
        if out.is_file() and args.part != "all":  # measuring one part keeps the other's numbers
            results = {**json.loads(out.read_text()), **results}
        out.write_text(json.dumps(results, indent=1))
        print(markdown(results))


if __name__ == "__main__":
    main()
