"""Writing the artifact directory: graph, packed weights, preprocessing, manifest."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from tinyai.export.config import ExportConfig


def write_artifact(
    model: nn.Module,
    out: Path,
    task: Any,
    config: ExportConfig,
    history: list[dict[str, Any]],
    metrics: dict[str, Any],
    reproducibility: dict[str, Any] | None = None,
) -> None:
    """Fill the empty directory `out` with the artifact for `model` on `task`."""
    import onnx

    from tinyai import __version__
    from tinyai.export import assets, extensions, onnx_export, packing, slim, verify
    from tinyai.models.calling import bind, check_vocabulary, used_inputs
    from tinyai.runtime.manifest import FORMAT, FORMAT_VERSION, MODEL_NAME, write_manifest
    from tinyai.tasks.spec import replayable_spec

    extensions.load_technique_extensions()
    model = _bake_pruning_masks(model)
    check_vocabulary(model, task)

    inputs = _on_model_device(onnx_export.export_inputs(model, task, batch_size=2), model)
    axes = onnx_export.input_axes(task)
    if getattr(task, "input_axes", None):  # axes the user's arrays suggest: check the model
        axes = onnx_export.axes_the_model_allows(model, inputs, axes)
    graph = onnx_export.export_graph(model, inputs, task.output_name, task.kind, config, axes)
    proto = graph.proto
    onnx.checker.check_model(proto, full_check=True)
    if not config.keep_debug_info:
        # After the checker, which infers shapes with the annotations in place; the parity
        # check below runs the stripped file, i.e. exactly what ships.
        slim.strip_annotations(proto)
    stats = packing.weight_stats(proto)
    packed = (
        packing.pack_initializers(proto, out, config.min_pack_bytes, config.min_saving)
        if config.pack_weights
        else None
    )
    onnx.save_model(proto, str(out / MODEL_NAME))
    input_spec, output_spec = assets.io_spec(proto)

    manifest: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "tinyai_version": __version__,
        "task": task.name,
        "kind": task.kind,
        "inputs": input_spec,
        "outputs": output_spec,
        "preprocessing": assets.write_preprocessing(task, out, inputs),
        "label_names": task.label_names,
        "task_spec": replayable_spec(task),
        "model": {
            "file": MODEL_NAME,
            "exporter": graph.exporter,
            "opset": max(
                (o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), default=None
            ),
            "graph_passes": graph.passes,
            "torch_class": f"{type(model).__module__}.{type(model).__qualname__}",
            # which forward parameter takes which of the task's inputs (tinyai.models.calling)
            "input_binding": bind(model, list(inputs)).to_dict(),
            "torch_modules": _module_summary(model),
            "export_config": config.to_dict(),
            "weights": stats,
        },
        "packed_weights": packed,
        "history": list(history),
        "metrics": dict(metrics),
        "reproducibility": reproducibility or {},
    }
    if "pte" in config.formats:
        from tinyai.export.pte import write_pte

        check = _on_model_device(task.example_inputs(batch_size=3), model)
        taken = used_inputs(model, inputs)  # in the order the model takes them
        manifest["other_formats"] = {"pte": write_pte(model, taken, out, check)}
    if config.verify:
        manifest["export_check"] = verify.check_parity(
            model, out, manifest, task, config, bool(graph.passes)
        )
    write_manifest(out, manifest)


def _on_model_device(inputs: dict[str, Any], model: nn.Module) -> dict[str, Any]:
    device = next((p.device for p in model.parameters()), None)
    return inputs if device is None else {k: v.to(device) for k, v in inputs.items()}


def _module_summary(model: nn.Module) -> dict[str, Any]:
    """Leaf module types by count and any per-module bit-widths a technique recorded."""
    counts: dict[str, int] = {}
    bits: dict[str, int] = {}
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            kind = type(module).__name__
            counts[kind] = counts.get(kind, 0) + 1
        value = getattr(module, "bits", None)
        if isinstance(value, int) and not isinstance(value, bool):
            bits[name] = value
    return {"leaf_types": dict(sorted(counts.items())), "bits": bits}


def _bake_pruning_masks(model: nn.Module) -> nn.Module:
    """A copy with held pruning masks multiplied in, so the graph stores one zeroed weight
    (which the sparse codec packs) instead of the weight, its mask and a Mul per layer."""
    from tinyai.prune import copy_model, make_permanent, masks

    return make_permanent(copy_model(model)) if masks(model) else model
