"""Converted (deployable) quantized modules.

Each holds the real integer buffers (int8 weights, or bit-packed uint8 codes) plus scales, so
`tinyai.summary` counts real bytes, and runs in PyTorch by dequantizing on the fly: that is
the reference the exported ONNX model is checked against, not the fast path. The fast path is
the ONNX Runtime integer kernel each module names in `onnx_op`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.quantize import primitives as P


class QuantizedModule(nn.Module):
    """Base of every converted module (one export graph pass is registered for all of them)."""


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
    ) -> None:
        super().__init__()
        self.out_features, self.in_features = weight.shape
        q, scale = P.quantize_weight_int8(weight, per_channel)
        self.register_buffer("weight_int8", q)
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if bias is None else bias.detach().float().clone())
        self.static = input_qparams is not None
        scale_in, zp_in, signed = input_qparams or (1.0, 0, False)
        self.register_buffer("input_scale", torch.tensor(scale_in, dtype=torch.float32))
        self.register_buffer("input_zero_point", torch.tensor(zp_in, dtype=torch.int32))
        self.input_signed = signed

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
    ) -> None:
        super().__init__()
        w = conv.weight.detach().float()
        self.weight_shape = tuple(w.shape)
        self.out_channels, self.in_channels = conv.out_channels, conv.in_channels
        self.kernel_size, self.groups = tuple(conv.kernel_size), conv.groups
        self.stride, self.dilation = tuple(conv.stride), tuple(conv.dilation)
        self.padding = tuple(conv.padding)  # type: ignore[arg-type]
        self.relu = relu
        q, scale = P.quantize_weight_int8(w.reshape(w.shape[0], -1), per_channel)
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


QUANTIZED_TYPES = (QuantizedLinear, LowBitLinear, QuantizedEmbedding, QuantizedConv2d)
