"""The export-time parity check: the artifact, run by the runtime, against PyTorch."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

    from tinyai.export.config import ExportConfig

DEFAULT_FLOAT_ATOL = 1e-4


def check_parity(
    model: nn.Module,
    out: Path,
    manifest: dict[str, Any],
    task: Any,
    config: ExportConfig,
    rewritten: bool,
) -> dict[str, Any]:
    """Max |onnx - torch| on example inputs (a batch size other than the traced one)."""
    import torch

    from tinyai.export.onnx_export import export_inputs
    from tinyai.models.calling import call_model
    from tinyai.runtime.session import create_session

    inputs = export_inputs(model, task, batch_size=3)
    device = next((p.device for p in model.parameters()), None)
    if device is not None:
        inputs = {k: v.to(device) for k, v in inputs.items()}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            outputs = call_model(model, inputs)
            # A model that carries state returns (output, next state): check the output.
            first = outputs[0] if isinstance(outputs, tuple) else outputs
            reference = first.detach().float().cpu().numpy()
    finally:
        model.train(was_training)
    session = create_session(out, manifest, threads=1)
    # Only what the graph declares: a model that ignores an input exports without it.
    feed = {spec["name"]: inputs[spec["name"]].cpu().numpy() for spec in manifest["inputs"]}
    produced = session.run(None, feed)[0].astype(np.float32)
    if produced.shape != reference.shape:
        raise ModelError(
            f"the exported graph returns shape {list(produced.shape)}, "
            f"PyTorch {list(reference.shape)}; "
            "the model may depend on the example batch size (export it with exporter='torchscript')"
        )
    diff = float(np.max(np.abs(produced - reference))) if reference.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    atol = config.atol if config.atol is not None else (None if rewritten else DEFAULT_FLOAT_ATOL)
    bound = None if atol is None else atol + config.rtol * scale
    if bound is not None and not diff <= bound:
        raise ModelError(
            f"exported model differs from PyTorch by {diff:.3g} (allowed {bound:.3g}); "
            "report this model, or export with exporter='torchscript'"
        )
    return {"max_abs_diff": diff, "max_abs_reference": scale, "bound": bound, "batch_size": 3}
