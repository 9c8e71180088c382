"""Converted (deployable) quantized modules.

Each holds the real integer buffers (int8 weights, or bit-packed uint8 codes) plus scales, so
`tinyai.summary` counts real bytes, and runs in PyTorch by dequantizing on the fly: that is
the reference the exported ONNX model is checked against, not the fast path. The fast path is
the ONNX Runtime integer kernel each module names in `onnx_op`.

Saving: `to_meta()` is the JSON a module's shape and mode are rebuilt from, and
`Class.from_meta(meta)` builds it empty (zero buffers of the saved shapes and dtypes) for a
strict state-dict load to fill; `tinyai.quantize.serialize` records and replays them.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.quantize import primitives as P


class QuantizedModule(nn.Module):
    """Base of every converted module (one export graph pass is registered for all of them)."""

    def to_meta(self) -> dict[str, Any]:
        """JSON-able shape and mode; `from_meta` rebuilds the module from it (buffers zero)."""
        raise NotImplementedError

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> QuantizedModule:
        raise NotImplementedError


def _empty(cls: type[nn.Module]) -> Any:
    """An instance of `cls` with only nn.Module's own set-up: `from_meta` adds the rest."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    return module


def _zeros(*shape: int, dtype: torch.dtype = torch.float32) -> Tensor:
    return torch.zeros(shape, dtype=dtype)


class QuantizedLinear(QuantizedModule):
    """int8 symmetric weights; activations int8-quantized per batch (dynamic) or with
    calibrated parameters (static). ONNX: DynamicQuantizeMatMul / QuantizeLinear +
    MatMulIntegerToFloat."""

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        per_channel: bool = True,
        input_qparams: tuple[float, int, bool] | None = None,
        weight_qmax: int = P.PORTABLE_WEIGHT_QMAX,
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        q, scale = P.quantize_weight_int8(weight, per_channel, qmax=weight_qmax)
        self.register_buffer("weight_int8", q)
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.static = input_qparams is not None
        scale_in, zp_in, signed = input_qparams or (1.0, 0, False)
        self.register_buffer("input_scale", torch.tensor(scale_in, dtype=torch.float32))
        self.register_buffer("input_zero_point", torch.tensor(zp_in, dtype=torch.int32))
        self.input_signed = signed

    def to_meta(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bias": self.bias is not None,
            "static": self.static,
            "input_signed": self.input_signed,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> QuantizedLinear:
        m = _empty(cls)
        m.in_features, m.out_features = int(meta["in_features"]), int(meta["out_features"])
        m.static, m.input_signed = bool(meta["static"]), bool(meta["input_signed"])
        m.register_buffer("weight_int8", _zeros(m.out_features, m.in_features, dtype=torch.int8))
        m.register_buffer("weight_scale", _zeros(m.out_features))
        m.register_buffer("bias", _zeros(m.out_features) if meta["bias"] else None)
        m.register_buffer("input_scale", _zeros())
        m.register_buffer("input_zero_point", _zeros(dtype=torch.int32))
        return m

    @property
    def onnx_op(self) -> str:
        return "MatMulIntegerToFloat" if self.static else "DynamicQuantizeMatMul"

    def input_range(self) -> tuple[int, int]:
        return P.qrange(8, self.input_signed)

    def dequantized_weight(self) -> Tensor:
        return P.dequantize_weight_int8(self.weight_int8, self.weight_scale)

    def forward(self, x: Tensor) -> Tensor:
        if self.static:
            qmin, qmax = self.input_range()
            zp = self.input_zero_point.float()
            xq = P.fake_quantize(x, self.input_scale, zp, qmin, qmax)
        else:
            scale, zp = P.dynamic_uint8_qparams(x)
            xq = P.fake_quantize(x, scale, zp, 0, 255)
        return F.linear(xq, self.dequantized_weight(), self.bias)

    def extra_repr(self) -> str:
        mode = "static" if self.static else "dynamic"
        return f"in={self.in_features}, out={self.out_features}, int8 {mode}"


class LowBitLinear(QuantizedModule):
    """Group-wise 2/4/8-bit weights packed low-bits-first; float activations. ONNX: MatMulNBits."""

    onnx_op = "MatMulNBits"

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        bits: int,
        group_size: int,
        symmetric: bool = False,
        clip_search: bool = True,
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.bits, self.group_size = bits, group_size
        codes, scales, zps = P.quantize_weight_groupwise(
            weight, bits, group_size, symmetric, clip_search
        )
        self.register_buffer("weight_packed", P.pack_codes(codes, bits))
        self.register_buffer("weight_scales", scales)
        self.register_buffer("weight_zero_points", zps)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())

    def to_meta(self) -> dict[str, Any]:
        return {
            "in_features": self.in_features,
            "out_features": self.out_features,
            "bits": self.bits,
            "group_size": self.group_size,
            "bias": self.bias is not None,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> LowBitLinear:
        m = _empty(cls)
        m.in_features, m.out_features = int(meta["in_features"]), int(meta["out_features"])
        m.bits, m.group_size = int(meta["bits"]), int(meta["group_size"])
        _lowbit_buffers(m, m.out_features, m.in_features)
        m.register_buffer("bias", _zeros(m.out_features) if meta["bias"] else None)
        return m

    def codes(self) -> Tensor:
        return P.unpack_codes(self.weight_packed, self.bits)

    def dequantized_weight(self) -> Tensor:
        return P.dequantize_groupwise(self.codes(), self.weight_scales, self.weight_zero_points)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.dequantized_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"in={self.in_features}, out={self.out_features}, int{self.bits} g{self.group_size}"


class QuantizedEmbedding(QuantizedModule):
    """Embedding table with group-wise 4/8-bit rows. ONNX: GatherBlockQuantized."""

    onnx_op = "GatherBlockQuantized"

    def __init__(
        self, weight: Tensor, bits: int, group_size: int, padding_idx: int | None = None
    ) -> None:
        super().__init__()
        self.num_embeddings, self.embedding_dim = weight.shape
        self.bits, self.group_size = bits, group_size
        self.padding_idx = padding_idx
        codes, scales, zps = P.quantize_weight_groupwise(weight, bits, group_size, clip_search=True)
        self.register_buffer("weight_packed", P.pack_codes(codes, bits))
        self.register_buffer("weight_scales", scales)
        self.register_buffer("weight_zero_points", zps)

    def to_meta(self) -> dict[str, Any]:
        return {
            "num_embeddings": self.num_embeddings,
            "embedding_dim": self.embedding_dim,
            "bits": self.bits,
            "group_size": self.group_size,
            "padding_idx": self.padding_idx,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> QuantizedEmbedding:
        m = _empty(cls)
        m.num_embeddings, m.embedding_dim = int(meta["num_embeddings"]), int(meta["embedding_dim"])
        m.bits, m.group_size = int(meta["bits"]), int(meta["group_size"])
        padding = meta["padding_idx"]
        m.padding_idx = None if padding is None else int(padding)
        _lowbit_buffers(m, m.num_embeddings, m.embedding_dim)
        return m

    def dequantized_weight(self) -> Tensor:
        codes = P.unpack_codes(self.weight_packed, self.bits)
        return P.dequantize_groupwise(codes, self.weight_scales, self.weight_zero_points)

    def forward(self, ids: Tensor) -> Tensor:
        return F.embedding(ids, self.dequantized_weight())

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}x{self.embedding_dim}, int{self.bits} g{self.group_size}"


class QuantizedConv2d(QuantizedModule):
    """Static int8 Conv2d (grouped / depthwise included): per-output-channel symmetric int8
    weights, int32 bias on the accumulator's scale, calibrated input and output parameters.

    ONNX: QDQ around Conv, which ONNX Runtime fuses into QLinearConv. The output is quantized
    too because that fusion needs it (a Conv with only dequantized inputs stays float);
    `relu` folds a following ReLU in before the output quantization, as ORT fuses it.
    """

    onnx_op = "QLinearConv"

    def __init__(
        self,
        conv: nn.Conv2d,
        per_channel: bool,
        input_qparams: tuple[float, int, bool],
        output_qparams: tuple[float, int, bool],
        relu: bool = False,
        weight_qmax: int = P.PORTABLE_WEIGHT_QMAX,
    ) -> None:
        super().__init__()
        w = conv.weight.detach().float()
        self.weight_shape = tuple(w.shape)
        self.out_channels, self.in_channels = conv.out_channels, conv.in_channels
        self.kernel_size, self.groups = tuple(conv.kernel_size), conv.groups
        self.stride, self.dilation = tuple(conv.stride), tuple(conv.dilation)
        self.padding = tuple(conv.padding)  # type: ignore[arg-type]
        self.relu = relu
        q, scale = P.quantize_weight_int8(w.reshape(w.shape[0], -1), per_channel,
                                           qmax=weight_qmax)
        self.register_buffer("weight_int8", q.reshape(w.shape))
        self.register_buffer("weight_scale", scale)
        self.input_signed, self.output_signed = input_qparams[2], output_qparams[2]
        self.register_buffer("input_scale", torch.tensor(input_qparams[0], dtype=torch.float32))
        self.register_buffer("input_zero_point", torch.tensor(input_qparams[1], dtype=torch.int32))
        self.register_buffer("output_scale", torch.tensor(output_qparams[0], dtype=torch.float32))
        self.register_buffer(
            "output_zero_point", torch.tensor(output_qparams[1], dtype=torch.int32)
        )
        # QLinearConv adds the bias in the int32 accumulator, whose scale is x_scale * w_scale.
        bias = None
        if conv.bias is not None:
            acc_scale = self.input_scale * scale
            bias = torch.round(conv.bias.detach().float() / acc_scale)
            bias = bias.clamp(-(2**31), 2**31 - 1).to(torch.int32)
        self.register_buffer("bias_int32", bias)

    def to_meta(self) -> dict[str, Any]:
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "kernel_size": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "dilation": list(self.dilation),
            "groups": self.groups,
            "relu": self.relu,
            "input_signed": self.input_signed,
            "output_signed": self.output_signed,
            "bias": self.bias_int32 is not None,
        }

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> QuantizedConv2d:
        m = _empty(cls)
        m.in_channels, m.out_channels = int(meta["in_channels"]), int(meta["out_channels"])
        m.groups = int(meta["groups"])
        m.kernel_size = tuple(int(k) for k in meta["kernel_size"])
        m.stride = tuple(int(k) for k in meta["stride"])
        m.padding = tuple(int(k) for k in meta["padding"])
        m.dilation = tuple(int(k) for k in meta["dilation"])
        m.relu = bool(meta["relu"])
        m.input_signed, m.output_signed = bool(meta["input_signed"]), bool(meta["output_signed"])
        m.weight_shape = (m.out_channels, m.in_channels // m.groups, *m.kernel_size)
        m.register_buffer("weight_int8", _zeros(*m.weight_shape, dtype=torch.int8))
        m.register_buffer("weight_scale", _zeros(m.out_channels))
        for side in ("input", "output"):
            m.register_buffer(f"{side}_scale", _zeros())
            m.register_buffer(f"{side}_zero_point", _zeros(dtype=torch.int32))
        bias = _zeros(m.out_channels, dtype=torch.int32) if meta["bias"] else None
        m.register_buffer("bias_int32", bias)
        return m

    def dequantized_weight(self) -> Tensor:
        w = P.dequantize_weight_int8(
            self.weight_int8.reshape(self.out_channels, -1), self.weight_scale
        )
        return w.reshape(self.weight_shape)

    def dequantized_bias(self) -> Tensor | None:
        if self.bias_int32 is None:
            return None
        return self.bias_int32.float() * (self.input_scale * self.weight_scale)

    def forward(self, x: Tensor) -> Tensor:
        qmin, qmax = P.qrange(8, self.input_signed)
        x = P.fake_quantize(x, self.input_scale, self.input_zero_point.float(), qmin, qmax)
        y = F.conv2d(
            x, self.dequantized_weight(), self.dequantized_bias(),
            self.stride, self.padding, self.dilation, self.groups,
        )  # fmt: skip
        if self.relu:
            y = F.relu(y)
        qmin, qmax = P.qrange(8, self.output_signed)
        return P.fake_quantize(y, self.output_scale, self.output_zero_point.float(), qmin, qmax)

    def extra_repr(self) -> str:
        relu = ", relu" if self.relu else ""
        return (
            f"{self.in_channels}, {self.out_channels}, kernel={self.kernel_size}, "
            f"groups={self.groups}, int8 static{relu}"
        )


class ObservedConv2d(nn.Module):
    """Static-PTQ prepare step for a Conv2d: observes its input and its (post-ReLU) output."""

    def __init__(
        self, conv: nn.Conv2d, input_observer: object, output_observer: object, relu: bool
    ) -> None:
        super().__init__()
        self.conv = conv
        self.input_observer = input_observer
        self.output_observer = output_observer
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        self.input_observer.update(x)  # type: ignore[attr-defined]
        y = self.conv(x)
        if self.relu:
            y = F.relu(y)
        self.output_observer.update(y)  # type: ignore[attr-defined]
        return y


class ObservedLinear(nn.Module):
    """Static-PTQ prepare step: a float Linear that records what its input looks like."""

    def __init__(self, linear: nn.Linear, observer: object) -> None:
        super().__init__()
        self.linear = linear
        self.observer = observer

    def forward(self, x: Tensor) -> Tensor:
        self.observer.update(x)  # type: ignore[attr-defined]
        return self.linear(x)


def _lowbit_buffers(m: nn.Module, rows: int, cols: int) -> None:
    """Zero group-wise code buffers of a [rows, cols] matrix, as quantize_weight_groupwise
    and pack_codes shape them."""
    bits, groups = m.bits, cols // m.group_size  # type: ignore[operator]
    m.register_buffer("weight_packed", _zeros(rows, cols * bits // 8, dtype=torch.uint8))
    m.register_buffer("weight_scales", _zeros(rows, groups))
    m.register_buffer("weight_zero_points", _zeros(rows, groups, dtype=torch.uint8))

