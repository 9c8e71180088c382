"""Optional second on-device format: an ExecuTorch program (``model.pte``, XNNPACK delegate).

Written next to model.onnx when ``ExportConfig(formats=("onnx", "pte"))`` asks for it and the
``executorch`` package is installed (it is not a tinyai dependency: it pulls coremltools,
pandas and hydra, and its Python runtime needs torch, so the torch-free runtime stays ONNX).
The program is checked against PyTorch at export, like the ONNX graph, and the manifest
records the result. Recurrent models are refused: torch.export fixes their batch size, so
the program would not accept other batch sizes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tinyai.errors import ConfigError, ModelError

if TYPE_CHECKING:
    from torch import nn

PTE_NAME = "model.pte"
MAX_BATCH = 64
MAX_SEQUENCE = 512


def write_pte(model: nn.Module, inputs: dict[str, Any], out: Path, check: dict[str, Any]) -> dict:
    """Export `model` to out/model.pte and compare it with PyTorch on `check` inputs."""
    import torch
    from torch import nn

    from tinyai.models.calling import call_model

    try:
        from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
        from executorch.exir import to_edge_transform_and_lower
    except ImportError:
        raise ConfigError(
            "the pte format needs ExecuTorch: pip install -c constraints.txt executorch "
            "(or export formats=('onnx',))"
        ) from None
    if any(isinstance(m, nn.RNNBase) for m in model.modules()):
        raise ConfigError(
            "the pte format supports feed-forward models, not GRU/LSTM ones; "
            "export this model as onnx only"
        )
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    sequence = torch.export.Dim("sequence", min=2, max=MAX_SEQUENCE)
    dynamic = tuple(
        {0: batch, 1: sequence} if name in ("input_ids", "attention_mask") else {0: batch}
        for name in inputs
    )
    inputs = {name: _row_major(t) for name, t in inputs.items()}
    model.eval()
    # Positional inputs (the contract's order): the program's method takes a flat list.
    program = torch.export.export(model, tuple(inputs.values()), dynamic_shapes=dynamic)
    lowered = to_edge_transform_and_lower(program, partitioner=[XnnpackPartitioner()])
    (out / PTE_NAME).write_bytes(lowered.to_executorch().buffer)
    with torch.no_grad():
        reference = call_model(model, check).float().cpu().numpy()
    produced = run_pte(out / PTE_NAME, [check[name].cpu() for name in inputs])
    diff = float(np.max(np.abs(produced - reference)))
    return {
        "file": PTE_NAME,
        "backend": "xnnpack",
        "max_batch": MAX_BATCH,
        "max_sequence": MAX_SEQUENCE,
        "export_check": {
            "max_abs_diff": diff,
            "max_abs_reference": float(np.max(np.abs(reference))),
        },
    }


def _row_major(tensor: Any) -> Any:
    """A copy with fresh row-major strides.

    A [N, 1, H, W] tensor made from numpy can carry odd strides on its size-1 axis; torch
    calls it contiguous, but torch.export records it as a channels-last dim order and the
    XNNPACK program then rejects ordinary inputs.
    """
    import torch

    tensor = torch.as_tensor(tensor)
    return tensor.reshape(-1).clone().reshape(tensor.shape)


def run_pte(path: Path, inputs: list[Any]) -> np.ndarray:
    """Run an ExecuTorch program's forward on torch tensors; returns the first output."""
    from executorch.runtime import Runtime

    flat = [_row_major(t) for t in inputs]
    try:
        method = Runtime.get().load_program(str(path)).load_method("forward")
        return method.execute(flat)[0].float().numpy()
    except RuntimeError as exc:
        raise ModelError(f"ExecuTorch cannot run {path}: {str(exc).splitlines()[0]}") from None
