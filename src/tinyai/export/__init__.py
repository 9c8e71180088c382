"""Export a model to an on-device artifact: ONNX graph + preprocessing + manifest.

    path = tinyai.export(model, "out/sst2", task=get_task("sst2"), history=[...], metrics={...})

The artifact directory holds ``model.onnx`` (checked with the ONNX checker),
``weights.packed`` when a lossless codec makes large tensors smaller (pruned, clustered
models), the files that turn raw input into model input (``tokenizer/`` for text; audio
feature and image normalisation settings live in the manifest), and ``manifest.json``: task,
kind, input/output names and shapes, preprocessing, label names, what was done to the model
(`history`), the weights as stored (parameters by dtype, zero fraction), the metrics measured at
export, the parity check against PyTorch, the tinyai version and the sha256 of every file.
`tinyai.runtime.load_artifact` runs it with numpy + onnxruntime only.

Extension points for techniques (see `tinyai.export.extensions`):

* ``register_onnx_translation(torch_op, onnxscript_fn)`` adds to the dynamo exporter's
  ``custom_translation_table``, for custom torch ops that should become e.g.
  ``com.microsoft::MatMulNBits`` or ``MatMulInteger``. Built in: scaled-dot-product attention
  becomes one ``com.microsoft::MultiHeadAttention`` node (`tinyai.export.attention`; HF
  encoders are exported through it by `tinyai.export.hf_attention`); with int8 Q/K/V products
  the quantized graph pass joins them to it as one ``com.microsoft::QAttention``
  (`tinyai.quantize.onnx_qattention`).
* ``register_graph_pass(module_type, fn)`` with ``fn(model_proto, torch_model) -> model_proto``
  rewrites the exported graph of any model containing a `module_type` module (e.g. fold a
  dequantize pattern into QDQ / integer ops). Passes run before the checker, packing and the
  parity check.
* Lossless weight codecs: ``tinyai.runtime.codecs.register_codec`` (numpy only; see there).

Technique packages (tinyai.distill / prune / quantize) are imported before exporting, so hooks
registered at their import are always in place.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai import atomic
from tinyai._verbs import make_package_callable
from tinyai.errors import ArtifactError, ConfigError
from tinyai.export.artifact import write_artifact
from tinyai.export.config import ExportConfig
from tinyai.export.extensions import register_graph_pass, register_onnx_translation
from tinyai.runtime.manifest import unknown_files

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ExportConfig", "export", "register_graph_pass", "register_onnx_translation"]


def export(
    model: nn.Module,
    out_dir: str | Path,
    task: Any = None,
    *,
    example_inputs: Any = None,
    config: ExportConfig | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
    force: bool = False,
    seeds: dict[str, int] | None = None,
) -> Path:
    """Write the artifact for `model` on `task` (a Task or task name) to `out_dir`; returns it.

    Without a task, `example_inputs` (named tensors, a tuple of tensors or one tensor) say
    what the model takes: the artifact then maps raw arrays of those shapes to the model's
    output (kind "tensors": `load_artifact(out).outputs(arrays)`), with no preprocessing,
    labels or metric.

    The artifact is written to a hidden sibling folder and then moved into place
    (`tinyai.atomic.replace_dir`), so a failure or a kill at any instant leaves the previous
    artifact or the new one at `out_dir`, never a mix or neither. An existing `out_dir` is
    replaced only when it is a sealed tinyai artifact holding nothing its manifest does not
    list; `force=True` also replaces an artifact with extra files in it. Any other non-empty
    folder is refused, whatever `force` says.

    The same model exported on the same machine gives the same bytes: the manifest holds no
    clock readings (a history step's `time`, `seconds` and latencies are dropped; they belong
    in a run's metrics.json), and records under `reproducibility` the `seeds` the caller
    used, torch's thread count and the versions of the packages that made it.
    """
    config = config or ExportConfig()
    task = _resolve_task(task, example_inputs)
    out = Path(out_dir)
    # Refuse before minutes of export work; replace_dir checks again right before the swap.
    atomic.check_replaceable(out, unknown_files, force, ArtifactError)
    staging = atomic.staging_dir(out)
    try:
        write_artifact(model, staging, task, config, [without_clock(s) for s in history or []],
                       metrics or {}, reproducibility(seeds or {}))
        atomic.replace_dir(staging, out, unknown_files, force, ArtifactError)
    finally:
        if os.path.lexists(staging):  # a failed export's half-written folder
            atomic.remove_tree(staging)
    return out


_CLOCK_KEYS = ("time", "seconds")
VERSIONED = ("tinyai", "torch", "onnx", "onnxruntime", "onnxscript", "numpy", "transformers",
             "tokenizers")


def without_clock(step: dict[str, Any]) -> dict[str, Any]:
    """A history step without wall-clock values, which differ on every run."""
    out = {k: v for k, v in step.items() if k not in _CLOCK_KEYS}
    if isinstance(out.get("metrics"), dict):
        out["metrics"] = {k: v for k, v in out["metrics"].items() if not k.endswith("_ms")}
    return out


def reproducibility(seeds: dict[str, int]) -> dict[str, Any]:
    """What the same bytes need besides the model: its seeds, threads and package versions."""
    import platform
    from importlib import metadata

    import torch

    versions = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return {"seeds": dict(seeds), "torch_threads": torch.get_num_threads(),
            "versions": versions}


def _resolve_task(task: Any, example_inputs: Any) -> Any:
    if task is None and example_inputs is None:
        raise ConfigError("export needs a task (a Task, a task name, or your own arrays: "
                          "get_task('array-classification', data=...)) or example_inputs=")
    if task is None:
        from tinyai.tasks.arrays import example_task

        return example_task(example_inputs)
    if example_inputs is not None:
        raise ConfigError("give export a task or example_inputs, not both (the task's own "
                          "example inputs are what it exports with)")
    if isinstance(task, str):
        from tinyai.tasks import get_task

        return get_task(task)
    return task


make_package_callable(__name__, export)
