"""Deep Compression (Han et al. 2016) on the Fashion-MNIST LeNet-5: prune -> cluster -> Huffman.

    python benchmarks/fashion_prune.py --phase train --part fashion --stages teacher [--quick]
    python benchmarks/fashion_deep_compression.py --phase train [--quick]   # cached models
    python benchmarks/fashion_deep_compression.py --phase measure [--quick] # stage table

The dense model is the teacher of benchmarks/fashion_prune.py (one teacher for every pruning
figure), so that benchmark's teacher stage runs first. Pruning distills from it while the
sparsity rises (global magnitude ranking, AGP schedule).

Stages, each measured in real encoded bytes of every weight tensor (biases and BatchNorm
included as fp32 where they stay float):
  dense     fp32 weights
  pruned    sparse codec (tinyai.runtime.codecs.sparse: values + positions)
  quantized the paper's fixed-width layout: per nonzero a cluster index (8 bits conv, 4 fc)
            and its distance to the previous nonzero (8 bits conv, 5 fc; filler entries
            where a distance overflows) + the fp32 palette
  huffman   tinyai.runtime.codecs.huffman (palette + Huffman indices + Huffman gaps)
and the final artifact written by tinyai.export (which picks the Huffman codec by itself),
whose accuracy is measured in ONNX Runtime through tinyai.runtime.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinyai.paths import cache_dir
from tinyai.runtime.size import artifact_bytes

RESULTS = Path(__file__).resolve().parent / "results"
SPARSITY = 0.92
PRUNE_EPOCHS = 5.0
# Index widths of the paper's LeNet-5: 8 bits for convolutions, 4 for fully connected layers.
FC_BITS, CONV_BITS = 4, 8
# The paper's fixed-width relative positions (distance to the previous nonzero).
FC_GAP_BITS, CONV_GAP_BITS = 5, 8


def _fit(
    model: nn.Module,
    task: Any,
    n_train: int,
    epochs: float,
    lr: float,
    hook: Any = None,
    teacher: nn.Module | None = None,
) -> None:
    """The pruning benchmark's training loop (AdamW, cosine, Hinton loss when distilling)."""
    from benchmarks.fashion_prune import fit

    fit(model, task, argparse.Namespace(n_train=n_train), epochs, lr, hook, teacher)


def _accuracy(model: nn.Module, task: Any, n_test: int) -> float:
    """PyTorch accuracy on the first `n_test` test images; leaves the model in eval mode."""
    from tinyai.measure.evaluate import evaluate

    model.eval()
    return evaluate(model, task, limit=n_test, batch_size=1000)["metrics"]["accuracy"]


def _save(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def _teacher(quick: bool) -> nn.Module:
    from benchmarks.fashion_prune import bench_cache
    from tinyai.errors import TinyAIError
    from tinyai.models import is_model_dir, load_model

    path = bench_cache(quick) / "teacher"
    if not is_model_dir(path):
        raise TinyAIError(
            f"no dense teacher in {path}; run benchmarks/fashion_prune.py --phase train "
            f"--part fashion --stages teacher{' --quick' if quick else ''} first"
        )
    return load_model(path).eval()


def _load(template: nn.Module, path: Path, folded: bool = False) -> nn.Module:
    """A copy of `template` (the teacher; pruning keeps its shapes) with the weights in `path`."""
    from safetensors.torch import load_file

    from tinyai.quantize.cluster import fold_batchnorm

    model = copy.deepcopy(template).eval()
    model = fold_batchnorm(model) if folded else model
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def train_phase(stage_dir: Path, quick: bool, sparsity: float, prune_epochs: float) -> None:
    from tinyai.prune import AGPSchedule, GradualPruner, MagnitudePruning, make_permanent
    from tinyai.quantize import WeightSharing, quantize_
    from tinyai.quantize.cluster import fold_batchnorm
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    n_train = 2000 if quick else 60_000
    epochs = (0.5, 0.3) if quick else (prune_epochs, 1)
    teacher = _teacher(quick)
    if not (stage_dir / "pruned.safetensors").exists():
        model = copy.deepcopy(teacher)
        total = int(epochs[0] * -(-n_train // 128))
        schedule = AGPSchedule(
            start_step=0, end_step=int(total * 0.6), frequency=max(total // 40, 1)
        )
        pruner = GradualPruner(
            model, MagnitudePruning(sparsity=sparsity, scope="global", schedule=schedule)
        )
        _fit(model, task, n_train, epochs[0], 1e-3, hook=pruner.hook(), teacher=teacher)
        make_permanent(model)
        _save(model, stage_dir / "pruned.safetensors")
    if not (stage_dir / "clustered.safetensors").exists():
        # Cluster what ships: the exporter folds BatchNorm into the conv anyway.
        model = fold_batchnorm(_load(teacher, stage_dir / "pruned.safetensors"))
        config = WeightSharing(bits=FC_BITS, conv_bits=CONV_BITS)
        quantize_(model, config)
        _fit(model, task, n_train, epochs[1], 3e-4)  # trains the centroids (and biases)
        config.step = "convert"
        quantize_(model, config)
        _save(model, stage_dir / "clustered.safetensors")


def _weights(model: nn.Module) -> list[np.ndarray]:
    return [
        t.detach().numpy().astype(np.float32)
        for t in model.state_dict().values()
        if t.is_floating_point()
    ]


def _encoded(array: np.ndarray, codec: str) -> int:
    from tinyai.runtime import codecs

    out = codecs.get_codec(codec).encode(array)
    return array.nbytes if out is None else min(len(out[0]), array.nbytes)


def _fixed_width(array: np.ndarray, bits: int, gap_bits: int) -> int:
    """Bytes of the paper's stage-2 storage: per nonzero a `bits`-wide cluster index and a
    `gap_bits`-wide distance from the previous nonzero, + the fp32 palette. A distance too long
    for `gap_bits` costs filler entries (a zero index), as in Han et al. 2016, Sec. 2."""
    flat = array.ravel()
    positions = np.flatnonzero(flat)
    palette = np.unique(flat[positions])
    if palette.size > (1 << bits) or array.size < 64:
        return array.nbytes  # not clustered (BatchNorm, biases): stays fp32
    gaps = np.diff(positions, prepend=-1)  # 1 = right after the previous nonzero
    fillers = int(((gaps - 1) // (1 << gap_bits)).sum())
    entries = positions.size + fillers
    return -(-entries * (bits + gap_bits) // 8) + 4 * palette.size


def stage_table(dense: nn.Module, pruned: nn.Module, clustered: nn.Module) -> list[dict[str, Any]]:
    dense_b = sum(a.nbytes for a in _weights(dense))
    pruned_b = sum(_encoded(a, "sparse") for a in _weights(pruned))
    quant_b = sum(
        _fixed_width(a, CONV_BITS, CONV_GAP_BITS)
        if a.ndim == 4
        else _fixed_width(a, FC_BITS, FC_GAP_BITS)
        for a in _weights(clustered)
    )
    huff_b = sum(_encoded(a, "huffman") for a in _weights(clustered))
    rows = [
        ("dense fp32", dense_b),
        ("pruned (sparse codec)", pruned_b),
        (
            f"quantized ({CONV_BITS}/{FC_BITS}-bit conv/fc indices, "
            f"{CONV_GAP_BITS}/{FC_GAP_BITS}-bit relative positions)",
            quant_b,
        ),
        ("Huffman coded", huff_b),
    ]
    return [{"stage": s, "bytes": b, "ratio": dense_b / b} for s, b in rows]


def measure_phase(stage_dir: Path, quick: bool) -> dict[str, Any]:
    from tinyai.export import export
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    n_test = 1000 if quick else 10_000
    dense = _teacher(quick)
    models = {
        "dense": dense,
        "pruned": _load(dense, stage_dir / "pruned.safetensors"),
        "clustered": _load(dense, stage_dir / "clustered.safetensors", folded=True),
    }
    acc = {name: _accuracy(m, task, n_test) for name, m in models.items()}
    results: dict[str, Any] = {"stages": stage_table(**models), "torch_accuracy": acc}
    artifacts = {}
    for name in ("dense", "clustered"):
        out = export(
            copy.deepcopy(models[name]),
            stage_dir / f"artifact-{name}",
            task,
            history=[{"technique": "deep-compression", "stage": name}],
        )
        artifacts[name] = {
            "bytes": artifact_bytes(out),
            "onnx_accuracy": _artifact_accuracy(out, task, n_test),
        }
    artifacts["ratio"] = artifacts["dense"]["bytes"] / artifacts["clustered"]["bytes"]
    results["artifacts"] = artifacts
    results["nonzero_fraction"] = _nonzero(models["clustered"])
    return results


def _nonzero(model: nn.Module) -> float:
    ws = [a for a in _weights(model) if a.ndim >= 2]
    return float(sum(np.count_nonzero(a) for a in ws) / sum(a.size for a in ws))


def _artifact_accuracy(path: Path, task: Any, n_test: int) -> float:
    """Accuracy of the deployed file on the first `n_test` test images (onnxruntime, no torch)."""
    from tinyai.measure.evaluate import evaluate

    return evaluate(path, task, limit=n_test)["metrics"]["accuracy"]


def markdown(r: dict[str, Any]) -> str:
    lines = ["| stage | bytes | compression |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['bytes']:,} | {s['ratio']:.1f}x |" for s in r["stages"]]
    a, acc = r["artifacts"], r["torch_accuracy"]
    lines += [
        "",
        "| artifact (tinyai.export) | file bytes | ONNX Runtime accuracy |",
        "|---|---|---|",
        f"| dense fp32 | {a['dense']['bytes']:,} | {100 * a['dense']['onnx_accuracy']:.2f} |",
        f"| pruned+clustered+Huffman | {a['clustered']['bytes']:,} | "
        f"{100 * a['clustered']['onnx_accuracy']:.2f} |",
        "",
        f"Artifact compression {a['ratio']:.1f}x; torch accuracy dense {100 * acc['dense']:.2f}, "
        f"pruned {100 * acc['pruned']:.2f}, clustered {100 * acc['clustered']:.2f}; "
        f"nonzero weights {100 * r['nonzero_fraction']:.1f}%.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=["train", "measure", "all"], default="all")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sparsity", type=float, default=SPARSITY, help="global pruning target")
    parser.add_argument(
        "--prune-epochs", type=float, default=PRUNE_EPOCHS, help="epochs of gradual pruning"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    # The dense teacher is fashion_prune's; each (sparsity, epochs) point has its own
    # pruned/clustered models (per teacher: "lenet5").
    stage_dir = cache_dir(
        "fashion_deep_compression",
        "quick" if args.quick else "full",
        f"lenet5-s{args.sparsity}-e{args.prune_epochs}",
    )
    if args.phase in ("train", "all"):
        train_phase(stage_dir, args.quick, args.sparsity, args.prune_epochs)
    if args.phase in ("measure", "all"):
        results = measure_phase(stage_dir, args.quick)
        results["config"] = {"sparsity": args.sparsity, "prune_epochs": args.prune_epochs}
        RESULTS.mkdir(exist_ok=True)
        default = args.sparsity == SPARSITY and args.prune_epochs == PRUNE_EPOCHS
        suffix = "" if default else f"-s{args.sparsity}-e{args.prune_epochs}"
        name = "fashion_deep_compression" + ("-quick" if args.quick else "") + suffix + ".json"
        (RESULTS / name).write_text(json.dumps(results, indent=2))
        print(markdown(results))


if __name__ == "__main__":
    main()
