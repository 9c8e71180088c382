"""Deep Compression (Han et al. 2016) on the Fashion-MNIST CNN: prune -> cluster -> Huffman.

    python benchmarks/fashion_deep_compression.py --phase train [--quick]   # cached models
    python benchmarks/fashion_deep_compression.py --phase measure [--quick] # stage table

Stages, each measured in real encoded bytes of every weight tensor (biases and BatchNorm
included as fp32 where they stay float):
  dense     fp32 weights
  pruned    sparse codec (tinyai.runtime.codecs.sparse: values + positions)
  quantized cluster indices at a fixed `bits` per nonzero + a position bitmap + the palette
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

RESULTS = Path(__file__).resolve().parent / "results"
SPARSITY = 0.94
FC_BITS, CONV_BITS = 4, 4


def _fit(
    model: nn.Module, task: Any, n_train: int, epochs: float, lr: float, hook: Any = None
) -> None:
    from tinyai.train import TrainConfig, train

    data = task.dataset("train")
    if n_train < len(data):
        data = data.subset(np.arange(n_train))

    def loss_fn(m: nn.Module, batch: dict) -> torch.Tensor:
        if hook is not None:
            hook()
        return task.loss(m(**task.model_inputs(batch)), batch)

    cfg = TrainConfig(
        epochs=epochs, lr=lr, warmup=0.05, decay="cosine", weight_decay=1e-4, log_every=200
    )
    train(model, lambda epoch: task.batches(data, 128, shuffle=True, seed=epoch), cfg, loss_fn)


def _accuracy(model: nn.Module, task: Any, n_test: int) -> float:
    """PyTorch accuracy on the first `n_test` test images; leaves the model in eval mode."""
    from tinyai.measure.evaluate import evaluate

    model.eval()
    return evaluate(model, task, limit=n_test, batch_size=1000)["metrics"]["accuracy"]


def _save(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def _load(path: Path, folded: bool = False) -> nn.Module:
    from safetensors.torch import load_file

    from tinyai.quantize.cluster import fold_batchnorm

    model = fold_batchnorm(_new_model().eval()) if folded else _new_model()
    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _new_model() -> nn.Module:
    from tinyai.models import FashionCNN, FashionCNNConfig

    return FashionCNN(FashionCNNConfig(channels=(32, 64, 128), dropout=0.1))


def train_phase(
    root: Path, stage_dir: Path, quick: bool, sparsity: float, prune_epochs: float
) -> None:
    from tinyai.prune import AGPSchedule, GradualPruner, MagnitudePruning, make_permanent
    from tinyai.quantize import WeightSharing, quantize_
    from tinyai.quantize.cluster import fold_batchnorm
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    n_train = 2000 if quick else 60_000
    epochs = (0.5, 0.5, 0.3) if quick else (5, prune_epochs, 1)
    if not (root / "dense.safetensors").exists():
        torch.manual_seed(0)
        model = _new_model()
        _fit(model, task, n_train, epochs[0], 3e-3)
        _save(model, root / "dense.safetensors")
    if not (stage_dir / "pruned.safetensors").exists():
        model = _load(root / "dense.safetensors")
        total = int(epochs[1] * -(-n_train // 128))
        schedule = AGPSchedule(
            start_step=0, end_step=int(total * 0.6), frequency=max(total // 40, 1)
        )
        pruner = GradualPruner(
            model, MagnitudePruning(sparsity=sparsity, scope="global", schedule=schedule)
        )
        _fit(model, task, n_train, epochs[1], 1e-3, hook=pruner.hook())
        make_permanent(model)
        _save(model, stage_dir / "pruned.safetensors")
    if not (stage_dir / "clustered.safetensors").exists():
        model = fold_batchnorm(_load(stage_dir / "pruned.safetensors"))  # cluster what ships
        config = WeightSharing(bits=FC_BITS, conv_bits=CONV_BITS)
        quantize_(model, config)
        _fit(model, task, n_train, epochs[2], 3e-4)  # trains the centroids (and BN/biases)
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


def _fixed_width(array: np.ndarray, bits: int) -> int:
    """Bytes of cluster indices at `bits` each for the nonzeros + a position bitmap + palette."""
    from tinyai.runtime.codecs.lowbit import packed_nbytes

    flat = array.ravel()
    nz = flat[flat != 0]
    palette = np.unique(nz)
    if palette.size > (1 << bits) or array.size < 64:
        return array.nbytes  # not clustered (BatchNorm, biases): stays fp32
    return packed_nbytes(nz.size, bits) + packed_nbytes(flat.size, 1) + 4 * palette.size


def stage_table(dense: nn.Module, pruned: nn.Module, clustered: nn.Module) -> list[dict[str, Any]]:
    dense_b = sum(a.nbytes for a in _weights(dense))
    pruned_b = sum(_encoded(a, "sparse") for a in _weights(pruned))
    quant_b = sum(
        _fixed_width(a, CONV_BITS if a.ndim == 4 else FC_BITS) for a in _weights(clustered)
    )
    huff_b = sum(_encoded(a, "huffman") for a in _weights(clustered))
    rows = [
        ("dense fp32", dense_b),
        ("pruned (sparse codec)", pruned_b),
        (f"quantized ({CONV_BITS}-bit conv / {FC_BITS}-bit fc indices)", quant_b),
        ("Huffman coded", huff_b),
    ]
    return [{"stage": s, "bytes": b, "ratio": dense_b / b} for s, b in rows]


def measure_phase(root: Path, stage_dir: Path, quick: bool) -> dict[str, Any]:
    from tinyai.export import export
    from tinyai.tasks import get_task

    task = get_task("fashion-mnist")
    n_test = 1000 if quick else 10_000
    models = {
        name: _load(
            (root if name == "dense" else stage_dir) / f"{name}.safetensors", name == "clustered"
        )
        for name in ("dense", "pruned", "clustered")
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
        files = [f for f in out.iterdir() if f.name != "manifest.json"]
        artifacts[name] = {
            "bytes": sum(f.stat().st_size for f in files),
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
    parser.add_argument("--prune-epochs", type=float, default=4.0, help="epochs of gradual pruning")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = cache_dir("fashion_deep_compression", "quick" if args.quick else "full")
    # The dense model is shared; each (sparsity, epochs) point has its own pruned/clustered.
    stage_dir = cache_dir(
        "fashion_deep_compression", root.name, f"s{args.sparsity}-e{args.prune_epochs}"
    )
    if args.phase in ("train", "all"):
        train_phase(root, stage_dir, args.quick, args.sparsity, args.prune_epochs)
    if args.phase in ("measure", "all"):
        results = measure_phase(root, stage_dir, args.quick)
        results["config"] = {"sparsity": args.sparsity, "prune_epochs": args.prune_epochs}
        RESULTS.mkdir(exist_ok=True)
        default = args.sparsity == SPARSITY and args.prune_epochs == 4
        suffix = "" if default else f"-s{args.sparsity}-e{args.prune_epochs}"
        name = "fashion_deep_compression" + ("-quick" if args.quick else "") + suffix + ".json"
        (RESULTS / name).write_text(json.dumps(results, indent=2))
        print(markdown(results))


if __name__ == "__main__":
    main()
