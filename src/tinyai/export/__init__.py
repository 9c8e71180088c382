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
  encoders are exported through it by `tinyai.export.hf_attention`).
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
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai._verbs import make_package_callable
from tinyai.export.artifact import write_artifact
from tinyai.export.config import ExportConfig
from tinyai.export.extensions import register_graph_pass, register_onnx_translation

if TYPE_CHECKING:
    from torch import nn

__all__ = ["ExportConfig", "export", "register_graph_pass", "register_onnx_translation"]


def export(
    model: nn.Module,
    out_dir: str | Path,
    task: Any,
    *,
    config: ExportConfig | None = None,
    history: list[dict[str, Any]] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Write the artifact for `model` on `task` (a Task or task name) to `out_dir`; returns it.

    `out_dir` is replaced if it exists and holds a previous artifact (never another folder).
    """
    config = config or ExportConfig()
    task = _resolve_task(task)
    out = _check_destination(Path(out_dir))
    # Written beside the destination and moved into place at the end, so a failed export
    # neither leaves a half-written folder nor destroys the artifact it was replacing.
    staging = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write_artifact(model, staging, task, config, history or [], metrics or {})
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _resolve_task(task: Any) -> Any:
    if isinstance(task, str):
        from tinyai.tasks import get_task

        return get_task(task)
    return task


def _check_destination(out: Path) -> Path:
    """`out` may be new, empty or a previous artifact (replaced); anything else is refused."""
    from tinyai.errors import ArtifactError
    from tinyai.runtime.manifest import MANIFEST_NAME

    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / MANIFEST_NAME).is_file())
    ):
        raise ArtifactError(
            f"{out} exists and is not a tinyai artifact; choose an empty or new output directory"
        )
    return out


make_package_callable(__name__, export)
