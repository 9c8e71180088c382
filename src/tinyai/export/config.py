"""How a model is exported: exporter, opset, weight packing, the parity check."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tinyai.config import Config

EXPORTERS = ("auto", "dynamo", "torchscript")
FORMATS = ("onnx", "pte")


@dataclass
class ExportConfig(Config):
    """Settings for `tinyai.export`.

    exporter: "dynamo" (torch.export based, the torch default; keeps parameter names, which
        graph passes and the manifest use), "torchscript" (the legacy tracer) or "auto":
        dynamo, except torchscript for models with recurrent layers (GRU/LSTM), which dynamo
        traces step by step (minutes for a 128-step LM) while torchscript emits one ONNX
        GRU/LSTM op in well under a second.
    formats: on-device formats to write. "onnx" (always; what tinyai.runtime runs) and
        optionally "pte", an ExecuTorch program with the XNNPACK delegate, checked against
        PyTorch at export (needs the executorch package; see tinyai.export.pte).
    fallback: if the chosen exporter fails, try the other one and record which was used.
    opset: ONNX opset; None lets the exporter choose.
    keep_debug_info: keep the exporter's per-node stack traces, doc strings, node names, shape
        annotations (value_info) and torch.export metadata in model.onnx (off by default: they
        are debugging aids onnxruntime never reads and can outweigh a small model's weights;
        see tinyai.export.slim).
    pack_weights: store initializers of at least `min_pack_bytes` with the smallest lossless
        codec when that beats the plain bytes by more than the tensor's bookkeeping costs
        (pruned / clustered models), provided the artifact gets at least `min_saving` (a
        fraction) smaller; otherwise model.onnx stays a plain ONNX file that any onnxruntime
        opens.
    verify: run the artifact in onnxruntime on example inputs, compare with PyTorch and record
        the difference in the manifest. The export fails if it exceeds `atol` + `rtol` *
        max|reference|; `atol=None` means 1e-4 for plain float graphs and "record only" when a
        technique's graph pass rewrote the graph (integer kernels legitimately differ from the
        PyTorch simulation; their bound is tested per technique).
    """

    exporter: str = "auto"
    formats: tuple[str, ...] = ("onnx",)
    fallback: bool = True
    opset: int | None = None
    keep_debug_info: bool = False
    pack_weights: bool = True
    # Packing a tensor costs bookkeeping besides its payload: its manifest entry and the
    # external-data reference left in model.onnx. Measured on the Deep-Compressed Fashion-MNIST
    # CNN (onnx 1.23, manifest at indent=2): 264-332 B of manifest + 85-88 B of reference, so
    # 349-420 B per tensor. A tensor under 350 B could not pay for that even if it encoded to
    # nothing, so it is not worth encoding; above, packing compares each tensor's exact costs
    # (tinyai.export.packing), which packs e.g. that CNN's 1.2 kB first conv (net -460 B).
    min_pack_bytes: int = 350
    min_saving: float = 0.02
    verify: bool = True
    atol: float | None = None
    rtol: float = 1e-3

    def __post_init__(self) -> None:
        if self.exporter not in EXPORTERS:
            raise ValueError(
                f"exporter must be one of {', '.join(EXPORTERS)}, got {self.exporter!r}"
            )
        self.formats = tuple(self.formats)
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown or "onnx" not in self.formats:
            raise ValueError(
                f"formats must include 'onnx' and only use {FORMATS}, got {self.formats}"
            )
        if self.opset is not None and not 13 <= self.opset <= 23:
            raise ValueError(f"opset must be between 13 and 23, got {self.opset}")
        if self.min_pack_bytes < 0:
            raise ValueError("min_pack_bytes must be >= 0")
        if not 0 <= self.min_saving < 1:
            raise ValueError(f"min_saving must be in [0, 1), got {self.min_saving}")
        if (self.atol is not None and self.atol < 0) or self.rtol < 0:
            raise ValueError("atol and rtol must be >= 0")


def _export_stage(model: Any, config: ExportConfig, ctx: Any) -> Any:
    """An export stage changes nothing in the model: the runner exports every stage, and
    this stage's config says how the final artifact is written."""
    return model


def _register() -> None:
    from tinyai import registry

    registry.register("export", "export", ExportConfig, _export_stage,
                      "write the on-device artifact with these settings (opset, packing, ...)")


_register()
