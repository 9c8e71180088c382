"""`summary(model, example_inputs)`: what a model stores and computes, per layer and in total.

A row is a module that owns tensors (parameters or persistent buffers, counted once even if
shared) or does multiply-accumulates of its own. ``params`` counts parameters plus buffers
that hold weights (quantized int8/int4 weights are often buffers); BatchNorm statistics and
integer index/counter buffers are stored, so they count in ``bytes``, but they are not
weights. ``bytes`` is real storage: a tensor subclass (torchao's quantized tensors) is
measured by the inner tensors it really holds, and sub-byte dtypes by their bit width.
MACs come from torch's own FLOP counter (FLOPs / 2) for the given inputs, attributed to
the module whose code ran the op (a module's own MACs exclude its children's).
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from tinyai.measure.macs import count_macs
from tinyai.measure.storage import (
    count_nonzero,
    dtype_label,
    leaf_tensors,
    packed_bytes,
    storage_bytes,
)

if TYPE_CHECKING:
    from rich.table import Table

# Where a quantization scheme notes why it left a layer in float (tinyai.quantize.coverage).
FLOAT_REASON = "tinyai_float_reason"
# Buffers that are stored but are not weights: normalisation statistics and counters.
_NON_WEIGHT_BUFFERS = {"running_mean", "running_var", "num_batches_tracked"}
_INDEX_DTYPES = {torch.int64, torch.int32}


@dataclasses.dataclass
class LayerSummary:
    name: str  # qualified module name; "" is the model itself
    type: str
    params: int
    nonzero: int
    bytes: int
    packed_bytes: int  # with the smallest lossless codec, as export and save_model store it
    macs: int | None
    dtype: str  # dtype of the layer's largest weight tensor ("" if it has none)
    bits: float  # stored bits per weight, scales and zero points included
    note: str = ""  # why a quantization left this layer in float, when one did

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "sparsity": self.sparsity}


@dataclasses.dataclass
class ModelSummary:
    model: str
    layers: list[LayerSummary]
    inputs: dict[str, list[int]]  # input name -> shape the MACs were counted for
    bytes_by_dtype: dict[str, int]

    @property
    def params(self) -> int:
        return sum(row.params for row in self.layers)

    @property
    def nonzero(self) -> int:
        return sum(row.nonzero for row in self.layers)

    @property
    def sparsity(self) -> float:
        return 1.0 - self.nonzero / self.params if self.params else 0.0

    @property
    def bytes(self) -> int:
        return sum(row.bytes for row in self.layers)

    @property
    def packed_bytes(self) -> int:
        return sum(row.packed_bytes for row in self.layers)

    @property
    def macs(self) -> int | None:
        if not self.inputs:
            return None
        return sum(row.macs or 0 for row in self.layers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "inputs": self.inputs,
            "total": {
                "params": self.params,
                "nonzero": self.nonzero,
                "sparsity": self.sparsity,
                "bytes": self.bytes,
                "packed_bytes": self.packed_bytes,
                "macs": self.macs,
                "bytes_by_dtype": self.bytes_by_dtype,
            },
            "layers": [row.to_dict() for row in self.layers],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSummary:
        names = {f.name for f in dataclasses.fields(LayerSummary)}
        layers = [
            LayerSummary(**{k: v for k, v in row.items() if k in names}) for row in data["layers"]
        ]
        total = data["total"]
        return cls(data["model"], layers, data["inputs"], dict(total["bytes_by_dtype"]))

    @classmethod
    def from_json(cls, text: str) -> ModelSummary:
        return cls.from_dict(json.loads(text))

    def rich_table(self) -> Table:
        from rich.table import Table

        kept = [f"{row.name} ({row.note})" for row in self.layers if row.note]
        caption = f"stored bytes by dtype: {_fmt_dtypes(self.bytes_by_dtype)}"
        if kept:
            caption += "\nkept float by quantization: " + "; ".join(kept)
        table = Table(
            title=f"{self.model}: {_fmt_inputs(self.inputs)}",
            caption=caption,
            show_footer=True,
        )
        footer = {
            "layer": "total",
            "type": "",
            "params": _si(self.params),
            "nonzero": _si(self.nonzero),
            "sparsity": f"{self.sparsity:.1%}",
            "dtype": "",
            "bits": "",
            "bytes": _fmt_bytes(self.bytes),
            "packed": _fmt_bytes(self.packed_bytes),
            "MACs": _si(self.macs),
        }
        for column, foot in footer.items():
            left = column in ("layer", "type", "dtype")
            table.add_column(column, foot, justify="left" if left else "right")
        for row in self.layers:
            has_weights = row.params > 0
            table.add_row(
                row.name or "(model)",
                row.type,
                _si(row.params),
                _si(row.nonzero),
                f"{row.sparsity:.1%}" if has_weights else "",
                row.dtype,
                f"{row.bits:g}" if has_weights else "",
                _fmt_bytes(row.bytes),
                _fmt_bytes(row.packed_bytes),
                _si(row.macs),
            )
        return table

    def __rich__(self) -> Table:
        return self.rich_table()


def summary(model: nn.Module, example_inputs: Any = None) -> ModelSummary:
    """Per-layer and total params, non-zeros, sparsity, dtype/bits, bytes and MACs.

    `example_inputs`: a dict of named tensors (``model(**inputs)``), a tuple (positional), a
    tensor, or None to use ``model.example_inputs()`` when the model has it (else no MACs).
    """
    model = _without_held_masks(model)
    if example_inputs is None and callable(getattr(model, "example_inputs", None)):
        example_inputs = model.example_inputs()  # type: ignore[operator]
    counted = example_inputs is not None
    macs = count_macs(model, example_inputs) if counted else {}
    root = type(model).__name__
    rows, seen = [], set()
    by_dtype: dict[str, int] = {}
    for name, module in model.named_modules():
        own = _own_tensors(module, seen)
        key = f"{root}.{name}" if name else root
        row = _layer_row(name, module, own, macs.get(key, 0) if counted else None)
        for _, tensor, _ in own:
            for leaf in leaf_tensors(tensor):
                label = str(leaf.dtype).removeprefix("torch.")
                by_dtype[label] = by_dtype.get(label, 0) + storage_bytes(leaf)
        if own or row.macs:
            rows.append(row)
    return ModelSummary(root, rows, _input_shapes(example_inputs), by_dtype)


def _own_tensors(module: nn.Module, seen: set[int]) -> list[tuple[str, torch.Tensor, bool]]:
    """(name, tensor, is_weight) for tensors stored directly on `module`, each counted once."""
    out = []
    persistent = [
        (n, b) for n, b in module.named_buffers(recurse=False)
        if n not in module._non_persistent_buffers_set
    ]  # fmt: skip
    for name, tensor in [*module.named_parameters(recurse=False), *persistent]:
        if tensor is None or id(tensor) in seen:
            continue
        seen.add(id(tensor))
        is_weight = isinstance(tensor, nn.Parameter) or (
            name not in _NON_WEIGHT_BUFFERS and tensor.dtype not in _INDEX_DTYPES
        )
        out.append((name, tensor, is_weight))
    return out


def _layer_row(
    name: str, module: nn.Module, own: list[tuple[str, torch.Tensor, bool]], macs: int | None
) -> LayerSummary:
    weights = [t for _, t, is_weight in own if is_weight]
    params = sum(t.numel() for t in weights)
    weight_bytes = sum(storage_bytes(t) for t in weights)
    nonzero = sum(count_nonzero(t) for t in weights)
    largest = max(weights, key=lambda t: t.numel(), default=None)
    logical = logical_weight_count(module)
    if logical is not None:
        # A converted quantized layer: packed codes, scales and zero points are storage of
        # `logical` weights, not parameters (int4 codes are two per byte). Bits per weight
        # cover the weight with its scales; float biases (bias_int32 when on the accumulator
        # scale; bias_ih_l0 ... of a recurrence) are counted as params of their own.
        biases = [t for n, t, _ in own if n.startswith("bias")]
        weight_bytes = sum(storage_bytes(t) for n, t, w in own if w and n != "bias"
                           and not (n.startswith("bias") and t.is_floating_point()))
        params = logical + sum(b.numel() for b in biases)
        dequantized = module.dequantized_weight()  # type: ignore[operator]
        nonzero = int(torch.count_nonzero(dequantized.detach()))
        nonzero += sum(count_nonzero(b) for b in biases)
        bits = round(8 * weight_bytes / logical, 3) if logical else 0.0
    else:
        bits = round(8 * weight_bytes / params, 3) if params else 0.0
    return LayerSummary(
        name=name,
        type=type(module).__name__,
        params=params,
        nonzero=nonzero,
        bytes=sum(storage_bytes(t) for _, t, _ in own),
        packed_bytes=sum(packed_bytes(t) for _, t, _ in own),
        macs=macs,
        dtype=dtype_label(largest) if largest is not None else "",
        bits=bits,
        note=str(getattr(module, FLOAT_REASON, "")),
    )


def logical_weight_count(module: nn.Module) -> int | None:
    """Weights a quantized layer represents, from its own shape attributes; None for layers
    whose parameters are their weights (plain Linear/Conv/Embedding, torchao tensors).

    Recognised by duck typing (a `dequantized_weight()` method plus the torch layer's shape
    attributes) so measurement does not depend on tinyai.quantize.
    """
    if any(True for _ in module.parameters(recurse=False)):
        return None
    if not callable(getattr(module, "dequantized_weight", None)):
        return None
    if isinstance(getattr(module, "logical_weights", None), int):  # several matrices (RNN)
        return int(module.logical_weights)
    if hasattr(module, "in_features") and hasattr(module, "out_features"):
        return int(module.in_features) * int(module.out_features)
    if hasattr(module, "num_embeddings") and hasattr(module, "embedding_dim"):
        return int(module.num_embeddings) * int(module.embedding_dim)
    shape = getattr(module, "weight_shape", None)  # conv: (out, in / groups, *kernel)
    return math.prod(shape) if shape else None


def _input_shapes(inputs: Any) -> dict[str, list[int]]:
    if inputs is None:
        return {}
    if isinstance(inputs, dict):
        return {k: list(v.shape) for k, v in inputs.items() if hasattr(v, "shape")}
    items = inputs if isinstance(inputs, tuple | list) else (inputs,)
    return {f"input_{i}": list(v.shape) for i, v in enumerate(items) if hasattr(v, "shape")}


def _without_held_masks(model: nn.Module) -> nn.Module:
    """Pruning masks held for training are multiplied in (on a copy): summarise what ships."""
    if not any(name.endswith("_mask") for name, _ in model.named_buffers()):
        return model
    from tinyai.prune import copy_model, make_permanent

    return make_permanent(copy_model(model))


def _si(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= scale:
            return f"{value / scale:.2f}{unit}"
    return str(value)


def _fmt_bytes(value: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} B"


def _fmt_dtypes(by_dtype: dict[str, int]) -> str:
    ordered = sorted(by_dtype.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {_fmt_bytes(v)}" for k, v in ordered)


def _fmt_inputs(inputs: dict[str, list[int]]) -> str:
    if not inputs:
        return "no inputs given (no MACs)"
    return ", ".join(f"{k}[{'x'.join(map(str, v))}]" for k, v in inputs.items())
