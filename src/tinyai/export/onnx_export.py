"""PyTorch module -> ONNX ModelProto with named inputs and dynamic batch / sequence axes.

`export_graph` is the one export path, for artifacts (`tinyai.export`) and for
`tinyai.quantize.to_onnx` alike: technique substitutes, one exporter call under
`ExportConfig`, then the technique rewrites and graph passes (`tinyai.export.extensions`).

The model is called as tinyai calls it everywhere (`tinyai.models.calling`): the task's named
inputs bound to its own forward parameters. The graph's inputs keep the task's names (what
the runtime's preprocessing produces) and are only the ones the model takes.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError
from tinyai.export import extensions
from tinyai.export.dedup import dedup_initializers
from tinyai.export.errors import export_error_line
from tinyai.export.hf_attention import key_padding_attention
from tinyai.export.round_trips import drop_round_trip_reshapes
from tinyai.models.calling import Binding, bind

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
    # A char LM's state between calls (tinyai.models.charlm): batch-first, all else fixed.
    "state": {0: "batch"},
    "state_out": {0: "batch"},
    "position": {},
}
TORCHSCRIPT_DEFAULT_OPSET = 17
# Exported under a name no exporter generates, then renamed: the dynamo exporter names
# intermediate values after ops ("embedding"), which may clash with the contract's output name.
_TMP_OUTPUT = "tinyai_output__"
# Kinds whose output has one row per input position (language models).
SEQUENCE_KINDS = ("char-lm", "array-lm")
Axes = Mapping[str, Mapping[int, str]]


def output_axes(kind: str) -> dict[int, str]:
    return {0: "batch", 1: "sequence"} if kind in SEQUENCE_KINDS else {0: "batch"}


def input_axes(task: Any) -> dict[str, dict[int, str]]:
    """The free axes of each of `task`'s inputs: the task's own (`task.input_axes`, e.g. an
    array task's), else the contract's for the built-in names, else only the batch axis."""
    own = getattr(task, "input_axes", None) or {}
    return {name: dict(own.get(name) or INPUT_AXES.get(name, {0: "batch"}))
            for name in task.input_names}


def axes_the_model_allows(model: nn.Module, inputs: dict[str, Any],
                          axes: dict[str, dict[int, str]]) -> dict[str, dict[int, str]]:
    """`axes` without the free non-batch axes `model` cannot take at another length.

    An array task frees the sequence axis of 2-D integer inputs (token ids), but a model may
    still fix it (an embedding flattened into a Linear): probed in PyTorch one position
    shorter, such a model fails, and the axis stays fixed in the graph instead of being
    declared free and then failing in the runtime at any other length."""
    import torch

    from tinyai.models.calling import call_model

    names = {name for per_input in axes.values() for name in per_input.values()} - {"batch"}
    kept = {k: dict(v) for k, v in axes.items()}
    for axis_name in sorted(names):
        probe = dict(inputs)
        for key, per_input in axes.items():
            for dim, name in per_input.items():
                if name == axis_name and key in probe and probe[key].shape[dim] > 1:
                    probe[key] = probe[key].narrow(dim, 0, probe[key].shape[dim] - 1)
        was_training = model.training
        try:
            with torch.no_grad():
                call_model(model.eval(), probe)  # eval: a probe must not move BN statistics
        except Exception:  # any failure means: this model needs the length it was given
            for per_input in kept.values():
                for dim in [d for d, n in per_input.items() if n == axis_name]:
                    del per_input[dim]
        finally:
            model.train(was_training)
    return kept


def export_inputs(model: nn.Module, task: Any, batch_size: int) -> dict[str, Any]:
    """The task's example inputs, plus, for a char-lm task, the empty state of a model that
    carries state between calls (``initial_state``), so the graph takes the state and returns
    the next one. Only char-lm: it is the kind whose runtime feeds the state back; an array
    task's artifact takes exactly the task's inputs the model binds."""
    inputs = task.example_inputs(batch_size=batch_size)
    initial_state = getattr(model, "initial_state", None)
    stateful = initial_state is not None and task.kind == "char-lm"
    return {**inputs, **initial_state(batch_size)} if stateful else inputs


def state_outputs(model: nn.Module, inputs: dict[str, Any]) -> list[str]:
    """Outputs after the task's one: the next state of each state input `inputs` holds (a
    model with ``state_names`` called without its state returns its one output)."""
    names = getattr(model, "state_names", {})
    return [output for name, output in names.items() if name in inputs]


@dataclass
class ExportedGraph:
    proto: onnx.ModelProto
    exporter: str  # the exporter that produced it ("dynamo" / "torchscript")
    passes: list[str]  # the substitutes and graph passes that shaped it, in order


def export_graph(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    output_name: str,
    kind: str,
    config: ExportConfig,
    axes: Axes | None = None,
) -> ExportedGraph:
    """The deployed graph of `model`: what a registered substitute puts in its place (e.g. a
    quantized model's float shadow) is exported once with the real `inputs` and `config`,
    then rewritten by that substitute, then by the graph passes for `model`'s module types."""
    target, rewrites, names = model, [], []
    for substitute in extensions.substitutes_for(model):
        target, rewrite = substitute(target)
        rewrites.append(rewrite)
        names.append(_qualname(substitute))
    proto, exporter = to_onnx(target, inputs, output_name, kind, config, axes)
    for rewrite in reversed(rewrites):
        proto = rewrite(proto)
    for graph_pass in extensions.passes_for(model):
        proto = graph_pass(proto, model)
        names.append(_qualname(graph_pass))
    dedup_initializers(proto)  # a tied weight stored once; the numbers are unchanged
    return ExportedGraph(proto, exporter, names)


def _qualname(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", repr(fn)))


def to_onnx(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    output_name: str,
    kind: str,
    config: ExportConfig,
    axes: Axes | None = None,
) -> tuple[onnx.ModelProto, str]:
    """Export `model` called on the named `inputs` (bound to its parameters); returns the
    graph and the exporter used. `axes`: the free axes per input (default: `INPUT_AXES`)."""
    binding = bind(model, list(inputs))
    used = {name: inputs[name] for name in binding.used}
    free = {name: dict((axes or {}).get(name) or INPUT_AXES.get(name, {0: "batch"}))
            for name in used}
    first = choose_exporter(model, config.exporter)
    order = [first] + (
        [o for o in ("dynamo", "torchscript") if o != first] if config.fallback else []
    )
    errors = []
    with _eval_mode(model), _quiet(), key_padding_attention(model):
        for exporter in order:
            try:
                export_fn = _dynamo if exporter == "dynamo" else _torchscript
                outputs = [_TMP_OUTPUT, *state_outputs(model, used)]
                proto = export_fn(model, binding, used, free, outputs, config.opset)
            except Exception as exc:  # exporters raise many types; keep the real cause of each
                errors.append(f"{exporter}: {export_error_line(exc)}")
                continue
            _rename_output(proto.graph, _TMP_OUTPUT, output_name)
            if not config.keep_debug_info:
                _strip_debug_info(proto.graph)
            _name_dynamic_axes(proto, free, [output_name, *state_outputs(model, used)], kind)
            return proto, exporter
    raise ModelError(
        f"ONNX export of {type(model).__name__} failed ({'; '.join(errors)}); the model must "
        "map its tensor inputs to one tensor"
    )


def choose_exporter(model: nn.Module, exporter: str) -> str:
    """"auto": dynamo, except torchscript for recurrent models.

    dynamo traces a GRU/LSTM step by step (minutes for a 128-step LM), and a second dynamo
    export of the same recurrent model in one process specializes its sequence length
    (torch 2.13), where torchscript emits one ONNX GRU/LSTM op with a free length. The
    quantization rewrite matches weights by content, so it works on either graph; a model
    that needs a dynamo-only translation makes torchscript fail and falls back to dynamo.
    """
    if exporter != "auto":
        return exporter
    from torch import nn

    recurrent = any(isinstance(m, nn.RNNBase) for m in model.modules())
    # Graph passes and translations rely on dynamo's graph (parameter names, op overloads).
    rewritten = bool(extensions.passes_for(model) or extensions.has_required_translations())
    return "torchscript" if recurrent and not rewritten else "dynamo"


def _positional(model: nn.Module, binding: Binding) -> nn.Module:
    """`model` called with the bound inputs by position, in `binding.used` order: for an
    exporter that passes positional inputs only (torchscript), or a forward that takes
    ``*args`` / ``**kwargs`` (whose dynamic shapes torch.export cannot key by name)."""
    from torch import nn

    class PositionalCall(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            args, kwargs = binding.split(dict(zip(binding.used, tensors, strict=True)))
            return self.model(*args, **kwargs)

    return PositionalCall()


def _named_parameters_only(model: nn.Module, binding: Binding) -> bool:
    import inspect

    try:
        names = set(inspect.signature(model.forward).parameters)
    except (TypeError, ValueError):
        return False
    return all(param in names for param, _ in (*binding.args, *binding.kwargs))


def _dynamo(model: nn.Module, binding: Binding, inputs: dict[str, Any],
            axes: dict[str, dict[int, str]], output_names: list[str], opset: int | None) -> Any:
    import torch

    def dims(name: str) -> dict[int, Any]:
        return dict.fromkeys(axes[name], torch.export.Dim.DYNAMIC)

    if _named_parameters_only(model, binding):
        args, kwargs = binding.split(inputs)
        dynamic: Any = {param: dims(name) for param, name in (*binding.args, *binding.kwargs)}
    else:
        model = _positional(model, binding)
        args, kwargs = tuple(inputs.values()), {}
        dynamic = {"tensors": tuple(dims(name) for name in inputs)}
    program = torch.onnx.export(
        model,
        args,
        kwargs=kwargs,
        dynamo=True,
        dynamic_shapes=dynamic,
        input_names=list(inputs),
        output_names=output_names,
        opset_version=opset,
        custom_translation_table=extensions.translation_table() or None,
        verbose=False,
        optimize=True,
        external_data=False,
    )
    drop_round_trip_reshapes(program.model)
    return program.model_proto


def _torchscript(model: nn.Module, binding: Binding, inputs: dict[str, Any],
                 axes: dict[str, dict[int, str]], output_names: list[str],
                 opset: int | None) -> Any:
    import onnx
    import torch

    if binding.kwargs:  # the legacy exporter passes inputs by position only
        model = _positional(model, binding)
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        tuple(inputs.values()),
        buffer,
        dynamo=False,
        input_names=list(inputs),
        output_names=output_names,
        dynamic_axes=axes,
        opset_version=opset or TORCHSCRIPT_DEFAULT_OPSET,
        do_constant_folding=True,
    )
    return onnx.load_from_string(buffer.getvalue())


def _name_dynamic_axes(
    proto: onnx.ModelProto, axes: dict[str, dict[int, str]], output_names: list[str], kind: str
) -> None:
    """Give the dynamic axes readable names and undo static sizes an exporter left behind.

    The dynamo exporter annotates some outputs with the example's sizes (a GRU LM's output
    says sequence=16 although the graph accepts any length); onnxruntime then warns on every
    call. The manifest and the runtime read these names.
    """
    wanted = dict(axes)
    wanted[output_names[0]] = output_axes(kind)
    wanted.update({name: INPUT_AXES.get(name, {0: "batch"}) for name in output_names[1:]})
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
    """Drop per-node stack traces, doc strings and torch.export's graph bookkeeping:
    debugging aids, not part of the model.

    The dynamo exporter records a Python stack trace and module path on every node, which
    can be most of a small model's file (a 6 KB keyword spotter came out at 30 KB), and on the
    graph its signature and range constraints, whose symbol names ("s15") depend on what the
    process traced before: kept, two exports of one model would differ.
    """
    from onnx import AttributeProto

    del graph.metadata_props[:]
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
