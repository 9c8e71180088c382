"""The built-in demo: a Fashion-MNIST CNN through the whole pipeline, measured on the artifacts.

train -> export (baseline) -> structured pruning of half the channels -> fine-tune ->
static int8 quantization calibrated on training images -> export (compressed); then both
artifacts are scored on the official 10k test images through the torch-free runtime and
benchmarked side by side (batch 1, one thread). Every figure comes from the exported files.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tinyai.config import Config


@dataclasses.dataclass
class DemoConfig(Config):
    out_dir: str = "runs/demo"
    epochs: float = 2.0  # teacher training
    finetune_epochs: float = 1.0  # after pruning
    prune_ratio: float = 0.5  # fraction of channels removed
    calibration_batches: int = 8  # of 128 training images
    train_limit: int | None = None  # use only the first N training images (quick runs)
    bench_runs: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs <= 0 or self.finetune_epochs <= 0:
            raise ValueError("epochs and finetune_epochs must be > 0")
        if not 0.0 < self.prune_ratio < 1.0:
            raise ValueError(f"prune_ratio must be in (0, 1), got {self.prune_ratio}")


def run_demo(config: DemoConfig, say: Any = print) -> dict[str, Any]:
    """Run the demo; returns (and writes to out_dir/report.json) the side-by-side figures."""
    import numpy as np
    import torch

    from tinyai.distill import FinetuneConfig, finetune
    from tinyai.export import export
    from tinyai.models import FashionCNN, FashionCNNConfig
    from tinyai.prune import StructuredPruning, prune_
    from tinyai.quantize import Int8Static, quantize_
    from tinyai.tasks import get_task
    from tinyai.train import TrainConfig

    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    task = get_task("fashion-mnist")
    train_data = task.dataset("train")
    if config.train_limit:
        train_data = train_data.subset(np.arange(min(config.train_limit, len(train_data))))

    def fit(model: Any, epochs: float, lr: float) -> None:
        train_cfg = TrainConfig(epochs=epochs, lr=lr, warmup=0.05, seed=config.seed)
        finetune(model, task, FinetuneConfig(train=train_cfg, batch_size=128), data=train_data)

    say(f"[1/5] training a FashionCNN on {len(train_data):,} images for {config.epochs} epochs")
    torch.manual_seed(config.seed)  # the initial weights too, so a re-run prints the same table
    model = FashionCNN(FashionCNNConfig())
    fit(model, config.epochs, lr=3e-3)
    baseline = export(model.eval(), out / "baseline", task, history=[{"step": "train"}])

    say(f"[2/5] removing {config.prune_ratio:.0%} of the channels, then fine-tuning")
    pruning = StructuredPruning(ratio=config.prune_ratio, importance="l2", targets=("channels",))
    prune_(model, pruning, example_inputs=task.example_inputs())
    fit(model.train(), config.finetune_epochs, lr=1e-3)

    say(f"[3/5] int8 static quantization, calibrated on {config.calibration_batches} batches")
    model.eval()
    quantize_(model, Int8Static(step="prepare"))
    calibration = task.batches(train_data, 128, shuffle=True, seed=config.seed + 1)
    for _, batch in zip(range(config.calibration_batches), calibration, strict=False):
        model(**task.model_inputs(batch))
    quantize_(model, Int8Static(step="convert"))
    history = [
        {"step": "train"},
        {"step": "prune", "config": pruning.to_dict()},
        {"step": "finetune", "epochs": config.finetune_epochs},
        {"step": "quantize", "config": Int8Static(step="convert").to_dict()},
    ]
    compressed = export(model, out / "compressed", task, history=history)

    say("[4/5] scoring both artifacts on the 10,000 test images (onnxruntime, no torch)")
    say("[5/5] benchmarking both artifacts side by side (batch 1, one thread)")
    rows = {name: _measure(path, config.bench_runs) for name, path in
            (("baseline fp32", baseline), ("pruned + int8", compressed))}
    report = {"config": config.to_dict(), "artifacts": rows, "ratios": _ratios(rows)}
    (out / "report.json").write_text(json.dumps(report, indent=2))
    return report


def _measure(artifact: Path, runs: int) -> dict[str, Any]:
    from tinyai.measure.evaluate import evaluate
    from tinyai.runtime.bench import bench

    scores = evaluate(artifact)
    timing = bench(artifact, threads=1, runs=runs, warmup=20)
    return {
        "artifact": str(artifact),
        "accuracy": scores["metrics"]["accuracy"],
        "bytes": timing["file_bytes"],
        "latency_ms_median": timing["latency_ms"]["median"],
        "latency_ms_p90": timing["latency_ms"]["p90"],
        "throughput_items_per_s": timing["throughput_items_per_s"],
    }


def _ratios(rows: dict[str, dict[str, Any]]) -> dict[str, float]:
    base, small = rows["baseline fp32"], rows["pruned + int8"]
    return {
        "size_x_smaller": base["bytes"] / small["bytes"],
        "latency_speedup": base["latency_ms_median"] / small["latency_ms_median"],
        "accuracy_change_pt": 100 * (small["accuracy"] - base["accuracy"]),
    }
