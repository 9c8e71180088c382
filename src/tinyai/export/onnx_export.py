"""PyTorch module -> ONNX ModelProto with named inputs and dynamic batch / sequence axes."""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError
from tinyai.export import extensions
from tinyai.export.hf_attention import key_padding_attention

if TYPE_CHECKING:
    import onnx
    import torch
    from torch import nn

    from tinyai.export.config import ExportConfig

# Which axes of each contract input may change size at run time (PLAN.md model contract).
INPUT_AXES: dict[str, dict[int, str]] = {
    "input_ids": {0: "batch", 1: "sequence"},
    "attention_mask": {0: "batch", 1: "sequence"},
    "pixel_values": {0: "batch"},
    "features": {0: "batch"},
}
TORCHSCRIPT_DEFAULT_OPSET = 17
# Exported under a name no exporter generates, then renamed: the dynamo exporter names
# intermediate values after ops ("embedding"), which may clash with the contract's output name.
_TMP_OUTPUT = "tinyai_output__"


def output_axes(kind: str) -> dict[int, str]:
    return {0: "batch", 1: "sequence"} if kind == "char-lm" else {0: "batch"}


def to_onnx(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    output_name: str,
    kind: str,
    config: ExportConfig,
) -> tuple[onnx.ModelProto, str]:
    """Export `model` called as ``model(**inputs)``; returns the graph and the exporter used."""
    first = choose_exporter(model, config.exporter)
    order = [first] + (
        [o for o in ("dynamo", "torchscript") if o != first] if config.fallback else []
    )
    errors = []
    with _eval_mode(model), _quiet(), key_padding_attention(model):
        for exporter in order:
            try:
                export_fn = _dynamo if exporter == "dynamo" else _torchscript
                proto = export_fn(model, inputs, _TMP_OUTPUT, config.opset)
            except Exception as exc:  # exporters raise many types; keep the first line of each
                errors.append(f"{exporter}: {_first_line(exc)}")
                continue
            _rename_output(proto.graph, _TMP_OUTPUT, output_name)
            if not config.keep_debug_info:
                _strip_debug_info(proto.graph)
            _name_dynamic_axes(proto, inputs, output_name, kind)
            return proto, exporter
    raise ModelError(
        f"ONNX export failed ({'; '.join(errors)}); check the model follows the tinyai input "
        "contract (named tensor inputs -> one tensor)"
    )


def choose_exporter(model: nn.Module, exporter: str) -> str:
    if exporter != "auto":
        return exporter
    from torch import nn

    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    # Graph passes and translations rely on dynamo's graph (parameter names, op overloads).
    rewritten = bool(extensions.passes_for(model) or extensions.has_required_translations())
    return "torchscript" if recurrent and not rewritten else "dynamo"


def _dynamo(model: nn.Module, inputs: dict[str, Any], output_name: str, opset: int | None) -> Any:
    import torch

    dynamic = {
        name: {axis: torch.export.Dim.DYNAMIC for axis in INPUT_AXES.get(name, {0: "batch"})}
        for name in inputs
    }
    program = torch.onnx.export(
        model,
        (),
        kwargs=dict(inputs),
        dynamo=True,
        dynamic_shapes=dynamic,
        input_names=list(inputs),
        output_names=[output_name],
        opset_version=opset,
        custom_translation_table=extensions.translation_table() or None,
        verbose=False,
        optimize=True,
        external_data=False,
    )
    return program.model_proto


def _torchscript(
    model: nn.Module, inputs: dict[str, Any], output_name: str, opset: int | None
) -> Any:
    import onnx
    import torch

    axes = {name: INPUT_AXES.get(name, {0: "batch"}) for name in inputs}
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        tuple(inputs.values()),
        buffer,
        dynamo=False,
        input_names=list(inputs),
        output_names=[output_name],
        dynamic_axes=axes,
        opset_version=opset or TORCHSCRIPT_DEFAULT_OPSET,
        do_constant_folding=True,
    )
    return onnx.load_from_string(buffer.getvalue())


def _name_dynamic_axes(
    proto: onnx.ModelProto, inputs: dict[str, Any], output_name: str, kind: str
) -> None:
    """Give the dynamic axes readable names and undo static sizes an exporter left behind.

    The dynamo exporter annotates some outputs with the example's sizes (a GRU LM's output
    says sequence=16 although the graph accepts any length); onnxruntime then warns on every
    call. The manifest and the runtime read these names.
    """
    wanted = {name: INPUT_AXES.get(name, {0: "batch"}) for name in inputs}
    wanted[output_name] = output_axes(kind)
    renamed: dict[str, str] = {}  # the exporter's symbol for an input axis -> its name
    for is_input, values in ((True, proto.graph.input), (False, proto.graph.output)):
        for value in values:
            dims = value.type.tensor_type.shape.dim
            for axis, label in wanted.get(value.name, {}).items():
                if axis < len(dims):
                    if is_input and dims[axis].dim_param not in ("", label):
                        renamed[dims[axis].dim_param] = label
                    dims[axis].ClearField("dim_value")
                    dims[axis].dim_param = label
    _rename_symbols(proto.graph, renamed)


def _rename_symbols(graph: Any, renamed: dict[str, str]) -> None:
    """Use the inputs' axis names in the shape annotations too ("s53" -> "sequence").

    One symbol per axis across the graph keeps the annotations consistent with the inputs,
    and lets `tinyai.export.slim` see which annotations shape inference re-derives anyway.
    """
    if not renamed:
        return
    symbol = re.compile(r"\b(" + "|".join(map(re.escape, renamed)) + r")\b")
    for value in [*graph.value_info, *graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = symbol.sub(lambda m: renamed[m.group(1)], dim.dim_param)


def _strip_debug_info(graph: Any) -> None:
    """Drop per-node stack traces and doc strings: debugging aids, not part of the model.

    The dynamo exporter records a Python stack trace and module path on every node, which
    can be most of a small model's file (a 6 KB keyword spotter came out at 30 KB).
    """
    from onnx import AttributeProto

    for node in graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                _strip_debug_info(attr.g)


def _rename_output(graph: Any, temporary: str, final: str) -> None:
    """Rename the graph output `temporary` to `final`, moving any intermediate `final` aside."""
    if temporary == final:
        return
    _rename_everywhere(graph, final, f"{final}__inner")
    _rename_everywhere(graph, temporary, final)


def _rename_everywhere(graph: Any, old: str, new: str) -> None:
    from onnx import AttributeProto

    for node in graph.node:
        node.input[:] = [new if n == old else n for n in node.input]
        node.output[:] = [new if n == old else n for n in node.output]
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                _rename_everywhere(attr.g, old, new)
    for value in [*graph.output, *graph.value_info, *graph.input]:
        if value.name == old:
            value.name = new
    for init in graph.initializer:
        if init.name == old:
            init.name = new


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    # The exporters log progress and deprecation chatter at WARNING; a user exporting a
    # model needs none of it, and errors still surface as exceptions.
    loggers = [
        logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")
    ]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
