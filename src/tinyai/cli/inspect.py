"""`tinyai inspect ARTIFACT`: what an artifact holds, and whether it is intact.

Task and kind, inputs and outputs, labels, preprocessing, the whole history of what was done
to the model, bytes of every file (manifest.json included) and in total (the one byte count,
`tinyai.runtime.size.artifact_bytes`), the weights as stored (by dtype) and how many of them
are zero per dtype, the metrics recorded at export and after, the parity check, and the
integrity status (every file's sha256 and the sealed manifest). Reads the artifact without
torch: the graph with the onnx package, packed weights with the runtime's decoder.

A zero weight is an exact 0 in a float tensor and, in an integer tensor, a code equal to its
zero point (what a pruned weight quantizes to): int8 weights of the ops listed in
`QUANTIZED_WEIGHTS`, and the packed 2/4-bit codes of MatMulNBits / GatherBlockQuantized.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import typer

# Op type -> (its integer weight input, that weight's zero-point input, the weight axis a
# per-channel zero point runs along; None: the op's `axis` attribute, default 1).
QUANTIZED_WEIGHTS: dict[str, tuple[int, int, int | None]] = {
    "DequantizeLinear": (0, 2, None),
    "MatMulInteger": (1, 3, -1),
    "MatMulIntegerToFloat": (1, 5, -1),
    "DynamicQuantizeMatMul": (1, 3, -1),
    "ConvInteger": (1, 3, 0),
    "QLinearConv": (3, 5, 0),
    "QLinearMatMul": (3, 5, -1),
}
# Op type -> (packed low-bit codes input, packed zero points input).
LOW_BIT_WEIGHTS = {"MatMulNBits": (1, 3), "GatherBlockQuantized": (0, 3)}
# Op type -> inputs that are quantization scales: float tensors that are not weights.
_SCALES = {"DequantizeLinear": (1,), "QuantizeLinear": (1,), "MatMulIntegerToFloat": (2, 3),
           "DynamicQuantizeMatMul": (2,), "QLinearConv": (1, 4, 6), "QLinearMatMul": (1, 4, 6),
           "MatMulNBits": (2,), "GatherBlockQuantized": (2,)}


def inspect(
    artifact: Path = typer.Argument(..., help="An artifact directory (tinyai export wrote it)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Show what ARTIFACT holds and check its integrity."""
    from tinyai.runtime import read_manifest, verify_files

    manifest = read_manifest(artifact)
    verify_files(artifact, manifest)  # refuses (exit 2, one line) unless every file matches
    info = describe(artifact, manifest)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    for line in _lines(info):
        typer.echo(line)


def describe(root: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    from tinyai.runtime.manifest import MANIFEST_NAME
    from tinyai.runtime.size import artifact_bytes

    # Sizes on disk of every file artifact_bytes counts, so the list adds up to its total.
    files = {name: (root / name).stat().st_size for name in [*manifest["files"], MANIFEST_NAME]}
    return {
        "artifact": str(root),
        "task": manifest["task"], "kind": manifest["kind"],
        "task_spec": manifest.get("task_spec"),
        "inputs": manifest["inputs"], "outputs": manifest["outputs"],
        "label_names": manifest.get("label_names"),
        "preprocessing": {k: v for k, v in manifest["preprocessing"].items() if k != "vocab"},
        "history": manifest.get("history", []),
        "files": files,
        "bytes": artifact_bytes(root),
        "bytes_without_tokenizer": artifact_bytes(root, tokenizer=False),
        "weights": manifest["model"].get("weights"),
        "zero_weights": zero_weights(root, manifest),
        "exporter": manifest["model"].get("exporter"),
        "opset": manifest["model"].get("opset"),
        "metrics": manifest.get("metrics", {}),
        "evaluation": manifest.get("evaluation"),
        "export_check": manifest.get("export_check"),
        "integrity": f"intact: {len(manifest['files'])} files match their sha256; the "
                     "manifest is sealed",
        "tinyai_version": manifest.get("tinyai_version"),
    }


def _lines(info: dict[str, Any]) -> list[str]:
    def io(values: list[dict[str, Any]]) -> str:
        return ", ".join(f"{v['name']} {v['dtype']}[{', '.join(map(str, v['shape']))}]"
                         for v in values)

    out = [f"{info['artifact']}: {info['task']} ({info['kind']}), tinyai "
           f"{info['tinyai_version']}", f"  inputs:  {io(info['inputs'])}",
           f"  outputs: {io(info['outputs'])}"]
    if info["label_names"]:
        out.append(f"  labels:  {', '.join(map(str, info['label_names']))}")
    if (info["task_spec"] or {}).get("data"):  # the user's own files (a built-in task: none)
        out.append(f"  data:    {json.dumps(info['task_spec'].get('data') or {})}")
    pre = info["preprocessing"]
    out.append("  preprocessing: " + ", ".join(f"{k}={v}" for k, v in pre.items()
                                               if not isinstance(v, dict | list)))
    out.append(f"  history ({len(info['history'])} steps):")
    for i, step in enumerate(info["history"]):
        metrics = step.get("metrics") or {}
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in metrics.items())
        out.append(f"    {i}. {step.get('technique')} ({step.get('kind')})"
                   + (f": {shown}" if shown else ""))
    out.append(f"  bytes: {info['bytes']:,} ({info['bytes_without_tokenizer']:,} without the "
               "tokenizer), in these files:")
    for name, size in sorted(info["files"].items()):
        out.append(f"    {name}: {size:,}")
    weights = info["weights"] or {}
    if weights:
        dtypes = ", ".join(f"{k} {v:,} B" for k, v in weights.get("bytes_by_dtype", {}).items())
        out.append(f"  weights: {weights.get('elements', 0):,} elements ({dtypes})")
    zeros = info["zero_weights"]
    if zeros:
        out.append("  zero weights: " + ", ".join(
            f"{dtype} {z['fraction']:.3f} ({z['zeros']:,} of {z['weights']:,})"
            for dtype, z in zeros.items()))
    if info["evaluation"]:
        e = info["evaluation"]
        out.append(f"  evaluation: {e.get('split')} ({e.get('examples')} examples): " +
                   ", ".join(f"{k}={v:.4f}" for k, v in e.get("metrics", {}).items()))
    check = info["export_check"]
    if check:
        out.append(f"  parity with PyTorch at export: max |diff| = {check.get('max_abs_diff')}")
    out.append(f"  {info['integrity']}")
    return out


def zero_weights(root: Path, manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """dtype -> {weights, zeros, fraction} over the graph's weight initializers (packed ones
    decoded): float zeros, and integer codes equal to their zero point (module docstring)."""
    import onnx

    from tinyai.runtime.manifest import MODEL_NAME, artifact_file

    graph = onnx.load(str(artifact_file(root, MODEL_NAME)), load_external_data=False).graph
    values = _initializer_values(root, manifest, graph)
    counts: dict[str, list[int]] = {}

    def add(dtype: str, weights: int, zeros: int) -> None:
        total = counts.setdefault(dtype, [0, 0])
        total[0] += weights
        total[1] += zeros

    not_weights: set[str] = set()
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        not_weights.update(node.input[i] for i in _SCALES.get(node.op_type, ())
                           if i < len(node.input))
        if node.op_type in QUANTIZED_WEIGHTS:
            counted = _quantized_zeros(node, attrs, values)
        elif node.op_type in LOW_BIT_WEIGHTS:
            counted = _low_bit_zeros(node, attrs, values)
        else:
            continue
        if counted is not None and counted[0] not in not_weights:  # a shared weight: once
            weight, dtype, weights, zeros = counted
            not_weights.add(weight)
            add(dtype, weights, zeros)
    for name, array in values.items():
        if name not in not_weights and array.dtype.kind == "f":
            add(str(array.dtype), array.size, array.size - int(np.count_nonzero(array)))
    return {dtype: {"weights": n, "zeros": z, "fraction": round(z / n, 6) if n else 0.0}
            for dtype, (n, z) in sorted(counts.items())}


def _initializer_values(root: Path, manifest: dict[str, Any], graph: Any) -> dict[str, Any]:
    """name -> numpy value of every initializer, packed ones decoded by the runtime."""
    from onnx import TensorProto, numpy_helper

    from tinyai.runtime.session import read_packed_weights

    packed = manifest.get("packed_weights")
    values = dict(read_packed_weights(root, packed)) if packed else {}
    for init in graph.initializer:
        if init.name not in values and init.data_location != TensorProto.EXTERNAL:
            values[init.name] = numpy_helper.to_array(init)
    return values


def _input(node: Any, index: int, values: dict[str, Any]) -> Any:
    """The initializer value at `node`'s input `index`, None if absent or computed."""
    return values.get(node.input[index]) if index < len(node.input) else None


def _quantized_zeros(node: Any, attrs: dict[str, Any], values: dict[str, Any]
                     ) -> tuple[str, str, int, int] | None:
    """(weight name, dtype, weights, zeros) of an integer weight: codes equal to the zero point
    (0 when the op has none), per channel when the zero point is a vector."""
    weight_at, zero_at, axis = QUANTIZED_WEIGHTS[node.op_type]
    q, zp = _input(node, weight_at, values), _input(node, zero_at, values)
    if q is None or q.dtype.kind not in "iu":
        return None
    zero = np.zeros((), q.dtype) if zp is None else np.asarray(zp)
    if zero.size > 1:
        along = int(attrs.get("axis", 1)) if axis is None else axis
        if zero.ndim != 1 or q.shape[along] != zero.size:
            return None  # block-wise zero points: not a layout tinyai writes
        shape = [1] * q.ndim
        shape[along] = -1
        zero = zero.reshape(shape)
    return node.input[weight_at], str(q.dtype), q.size, int(np.count_nonzero(q == zero))


def _low_bit_zeros(node: Any, attrs: dict[str, Any], values: dict[str, Any]
                   ) -> tuple[str, str, int, int] | None:
    """(weight name, "4-bit" / "2-bit", weights, zeros) of packed codes, each block of
    `block_size` codes along a row with its own packed zero point (the default one,
    2**(bits - 1), when the op has none)."""
    from tinyai.runtime.codecs.lowbit import unpack_bits

    codes_at, zero_at = LOW_BIT_WEIGHTS[node.op_type]
    packed, zp = _input(node, codes_at, values), _input(node, zero_at, values)
    bits, group = int(attrs.get("bits", 4)), int(attrs.get("block_size", 0))
    if packed is None or packed.dtype != np.uint8 or group < 1:
        return None
    rows = packed.shape[0]
    codes = unpack_bits(packed.reshape(rows, -1), bits)
    columns = int(attrs.get("K", codes.shape[1]))
    blocks = columns // group
    codes = codes[:, : blocks * group].reshape(rows, blocks, group)
    zero = np.full((rows, blocks), 1 << (bits - 1), np.uint8) if zp is None else \
        unpack_bits(np.asarray(zp).reshape(rows, -1), bits)[:, :blocks]
    zeros = int(np.count_nonzero(codes == zero[..., None]))
    return node.input[codes_at], f"{bits}-bit", codes.size, zeros


def register(app: typer.Typer) -> None:
    app.command()(inspect)
