"""Deep Compression (Han et al. 2016) on the Fashion-MNIST LeNet-5: prune -> cluster -> Huffman.

    python benchmarks/fashion_deep_compression.py                   # train (cached) + measure
    python benchmarks/fashion_deep_compression.py --phase measure   # re-measure the cached run
    python benchmarks/fashion_deep_compression.py --quick           # the script on small slices

The pipeline is the shipped recipe recipes/deep_compression.yaml, run by the same runner as
`tinyai compress` into tinyai.paths.cache_dir("bench", "fashion_deep_compression"); its
metrics.json holds what each stage measured on its artifact (accuracy on the 10,000 test
images through the torch-free runtime, bytes with manifest.json). This script adds what a
recipe cannot say: the paper's stage-by-stage storage table, computed from the saved model
of each stage in real encoded bytes of every weight tensor (biases and BatchNorm as fp32
where they stay float):
  dense     fp32 weights
  pruned    sparse codec (tinyai.runtime.codecs.sparse: values + positions)
  quantized the paper's fixed-width layout: per nonzero a cluster index (8 bits conv, 4 fc)
            and its distance to the previous nonzero (8 bits conv, 5 fc; filler entries
            where a distance overflows) + the fp32 palette
  huffman   tinyai.runtime.codecs.huffman (palette + Huffman indices + Huffman gaps)
the per-layer storage of the final artifact (from its manifest), and the batch-1 latency of
the dense and compressed artifacts timed side by side, interleaved.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.recipe_runs import finished_run, run_cached, side_by_side, stage

RESULTS = Path(__file__).resolve().parent / "results"
RECIPE = "deep_compression"
BENCH = "fashion_deep_compression"
# Index widths of the paper's LeNet-5: 8 bits for convolutions, 4 for fully connected layers
# (the recipe's weight-sharing conv_bits / bits).
FC_BITS, CONV_BITS = 4, 8
# The paper's fixed-width relative positions (distance to the previous nonzero).
FC_GAP_BITS, CONV_GAP_BITS = 5, 8


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
        return array.nbytes  # not clustered (biases): stays fp32
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


def layer_table(clustered: nn.Module, artifact: Path) -> list[dict[str, Any]]:
    """Each weight of the final artifact: nonzeros, distinct values, and how the artifact
    stores it (the codec and bytes its manifest records; plain fp32 in model.onnx if none)."""
    from tinyai.quantize.cluster import distinct_values
    from tinyai.runtime import read_manifest

    packed = {t["name"]: t for t in
              (read_manifest(artifact).get("packed_weights") or {}).get("tensors", [])}
    rows = []
    for name, module in clustered.named_modules():
        if not isinstance(module, nn.Linear | nn.Conv2d):
            continue
        weight = module.weight.detach()
        entry = packed.get(f"{name}.weight")
        rows.append({
            "layer": name, "type": type(module).__name__, "weights": weight.numel(),
            "nonzero": int((weight != 0).sum()), "distinct": distinct_values(weight),
            "fp32_bytes": 4 * weight.numel(),
            "stored_bytes": entry["length"] if entry else 4 * weight.numel(),
            "codec": entry["codec"] if entry else "none (model.onnx)",
        })
    return rows


def measure_phase(quick: bool) -> dict[str, Any]:
    from tinyai.models import load_model
    from tinyai.runtime import read_manifest

    metrics, folder = finished_run(RECIPE, BENCH, quick)
    records = {name: stage(metrics, name) for name in ("teacher", "pruned", "clustered")}
    models = {name: load_model(folder / str(r.model_dir)) for name, r in records.items()}
    artifacts = {name: folder / str(r.artifact) for name, r in records.items()}
    measured = {}
    for name, record in records.items():
        m = record.measure
        assert m is not None
        measured[name] = {"bytes": m.bytes, "accuracy": m.metric, "examples": m.examples,
                          "nonzero_params": m.nonzero_params}
    final = artifacts["clustered"]
    measured["clustered"]["files"] = {
        name: (final / name).stat().st_size for name in
        [*read_manifest(final)["files"], "manifest.json"]
    }
    latency = side_by_side({k: artifacts[k] for k in ("teacher", "clustered")},
                           rounds=5 if quick else 200)
    teacher, clustered = measured["teacher"], measured["clustered"]
    return {
        "recipe": f"recipes/{RECIPE}.yaml",
        "stages": stage_table(models["teacher"], models["pruned"], models["clustered"]),
        "artifacts": measured,
        "artifact_ratio": teacher["bytes"] / clustered["bytes"],
        "accuracy_drop_pt": 100 * (teacher["accuracy"] - clustered["accuracy"]),
        "layers": layer_table(models["clustered"], final),
        "nonzero_fraction": _nonzero(models["clustered"]),
        "latency_ms": latency,
        "targets": [vars(t) for t in metrics.targets],
        "machine": vars(metrics.machine),
    }


def _nonzero(model: nn.Module) -> float:
    ws = [a for a in _weights(model) if a.ndim >= 2]
    return float(sum(np.count_nonzero(a) for a in ws) / sum(a.size for a in ws))


def markdown(r: dict[str, Any]) -> str:
    lines = ["| stage | bytes | compression |", "|---|---|---|"]
    lines += [f"| {s['stage']} | {s['bytes']:,} | {s['ratio']:.1f}x |" for s in r["stages"]]
    a = r["artifacts"]
    lines += ["", "| artifact (model.onnx + weights.packed + manifest.json) | bytes | "
              "ONNX Runtime accuracy |", "|---|---|---|"]
    lines += [f"| {name} | {a[name]['bytes']:,} | {100 * a[name]['accuracy']:.2f} % |"
              for name in ("teacher", "pruned", "clustered")]
    lines += ["", "| layer | weights | nonzero | distinct values | fp32 bytes | stored bytes "
              "| codec |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {x['layer']} | {x['weights']:,} | {100 * x['nonzero'] / x['weights']:.1f} % "
              f"| {x['distinct']} | {x['fp32_bytes']:,} | {x['stored_bytes']:,} | {x['codec']} |"
              for x in r["layers"]]
    lat = r["latency_ms"]
    lines += [
        "",
        f"Artifact {r['artifact_ratio']:.1f}x smaller, accuracy {-r['accuracy_drop_pt']:+.2f} pt; "
        "files "
        f"{a['clustered']['files']}; nonzero weights {100 * r['nonzero_fraction']:.1f}%; "
        f"batch-1 latency {lat['teacher']['median']:.3f} -> "
        f"{lat['clustered']['median']:.3f} ms (median, "
        "interleaved).",
    ]
    lines += [f"target {t['name']} {t['limit']}: {t['value']} — {'met' if t['met'] else 'MISSED'}"
              for t in r["targets"]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=["train", "measure", "all"], default="all")
    parser.add_argument("--quick", action="store_true", help="small slices, to validate the script")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    args = parser.parse_args()
    if args.phase in ("train", "all"):
        run_cached(RECIPE, BENCH, args.quick)
    if args.phase in ("measure", "all"):
        results = measure_phase(args.quick)
        results["quick"] = args.quick
        args.results.mkdir(parents=True, exist_ok=True)
        name = "fashion_deep_compression" + ("_quick" if args.quick else "") + ".json"
        (args.results / name).write_text(json.dumps(results, indent=1) + "\n")
        print(markdown(results))


if __name__ == "__main__":
    main()
