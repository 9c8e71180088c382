"""Layers whose weights are stored as int8 and computed in float: convolutions and
recurrent layers, for which ONNX Runtime has no integer kernel worth using.

Int8Dynamic and WeightOnly(bits=8) turn Conv1d / Conv2d into `Int8WeightConv` and GRU / LSTM
into `Int8WeightRNN`: symmetric int8 weights, one scale per output channel (per gate row for
a recurrence). The exported graph keeps the int8 tensors and dequantizes them
(DequantizeLinear, which ONNX Runtime runs once per call or folds at load) for its float Conv
/ GRU / LSTM: the file is ~4x smaller, the compute and its speed are the float model's.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tinyai.quantize import primitives as P
from tinyai.quantize.modules import QuantizedModule, _empty, _zeros


class Int8WeightConv(QuantizedModule):
    """A Conv1d / Conv2d whose weights are stored as symmetric int8 per output channel and
    dequantized for a float convolution (weight-only: the file is ~4x smaller, the compute
    is ONNX Runtime's float conv).

    Int8Dynamic and WeightOnly(bits=8) convs become this: ONNX Runtime has no integer conv
    that quantizes activations at run time at a useful speed (its ConvInteger is an
    unoptimised im2col path: ~4 ms against ~1.2 ms for the float conv, measured in
    `tinyai.quantize.onnx_conv`). ONNX: DequantizeLinear(int8 weight, axis 0) -> Conv.
    """

    onnx_op = "DequantizeLinear+Conv"

    def __init__(self, conv: nn.Conv1d | nn.Conv2d) -> None:
        super().__init__()
        w = conv.weight.detach().float()
        self.weight_shape = tuple(w.shape)
        self.dims = w.dim() - 2
        self.out_channels, self.in_channels = conv.out_channels, conv.in_channels
        self.kernel_size, self.groups = tuple(conv.kernel_size), conv.groups
        self.stride, self.dilation = tuple(conv.stride), tuple(conv.dilation)
        self.padding: Any = conv.padding if isinstance(conv.padding, str) else tuple(
            conv.padding)
        q, scale = P.quantize_weight_int8(w.reshape(w.shape[0], -1), True,
                                           qmax=P.FULL_WEIGHT_QMAX)
        self.register_buffer("weight_int8", q.reshape(w.shape))
        self.register_buffer("weight_scale", scale)
        bias = None if conv.bias is None else conv.bias.detach().float().clone()
        self.register_buffer("bias", bias)

    def to_meta(self) -> dict[str, Any]:
        padding = self.padding if isinstance(self.padding, str) else list(self.padding)
        return {"weight_shape": list(self.weight_shape), "in_channels": self.in_channels,
                "stride": list(self.stride), "padding": padding,
                "dilation": list(self.dilation), "groups": self.groups,
                "bias": self.bias is not None}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Int8WeightConv:
        m = _empty(cls)
        m.weight_shape = tuple(int(n) for n in meta["weight_shape"])
        m.dims = len(m.weight_shape) - 2
        m.out_channels, m.in_channels = m.weight_shape[0], int(meta["in_channels"])
        m.kernel_size, m.groups = m.weight_shape[2:], int(meta["groups"])
        m.stride = tuple(int(k) for k in meta["stride"])
        padding = meta["padding"]
        m.padding = padding if isinstance(padding, str) else tuple(int(k) for k in padding)
        m.dilation = tuple(int(k) for k in meta["dilation"])
        m.register_buffer("weight_int8", _zeros(*m.weight_shape, dtype=torch.int8))
        m.register_buffer("weight_scale", _zeros(m.out_channels))
        m.register_buffer("bias", _zeros(m.out_channels) if meta["bias"] else None)
        return m

    def dequantized_weight(self) -> Tensor:
        flat = self.weight_int8.reshape(self.out_channels, -1)
        return P.dequantize_weight_int8(flat, self.weight_scale).reshape(self.weight_shape)

    def forward(self, x: Tensor) -> Tensor:
        conv = F.conv1d if self.dims == 1 else F.conv2d
        return conv(x, self.dequantized_weight(), self.bias, self.stride, self.padding,
                    self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel={self.kernel_size}, "
                f"groups={self.groups}, int8 weights")


class Int8WeightRNN(QuantizedModule):
    """An nn.GRU / nn.LSTM (unidirectional, no projection) with int8 weights, one scale per
    gate row; biases stay float. Runs torch's own recurrence on the dequantized weights.

    ONNX: DequantizeLinear(int8, axis = the row axis) feeding the GRU / LSTM node's W and R
    (rows in ONNX's gate order). ONNX Runtime has no integer GRU; its integer LSTM
    (com.microsoft.DynamicQuantizeLSTM) is not emitted, so the recurrence runs in float.
    """

    onnx_op = "DequantizeLinear+GRU/LSTM"

    def __init__(self, rnn: nn.GRU | nn.LSTM) -> None:
        super().__init__()
        self.mode, self.input_size, self.hidden_size = rnn.mode, rnn.input_size, rnn.hidden_size
        self.num_layers, self.has_bias = rnn.num_layers, rnn.bias
        self.batch_first, self.dropout = rnn.batch_first, float(rnn.dropout)
        self.names = list(rnn._flat_weights_names)
        for name in self.names:
            tensor = getattr(rnn, name).detach().float()
            if name.startswith("weight"):
                q, scale = P.quantize_weight_int8(tensor, True, qmax=P.FULL_WEIGHT_QMAX)
                self.register_buffer(f"{name}_int8", q)
                self.register_buffer(f"{name}_scale", scale)
            else:
                self.register_buffer(name, tensor.clone())
        self.logical_weights = sum(getattr(self, f"{n}_int8").numel() for n in self.weights())

    def weights(self) -> list[str]:
        return [n for n in self.names if n.startswith("weight")]

    def float_rnn(self, device: Any = None) -> nn.Module:
        """An empty nn.GRU / nn.LSTM of this layer's shape."""
        cls = nn.GRU if self.mode == "GRU" else nn.LSTM
        return cls(self.input_size, self.hidden_size, self.num_layers, bias=self.has_bias,
                   batch_first=self.batch_first, dropout=self.dropout, device=device)

    def dequantized(self, name: str) -> Tensor:
        return P.dequantize_weight_int8(getattr(self, f"{name}_int8"),
                                        getattr(self, f"{name}_scale"))

    def float_tensors(self) -> dict[str, Tensor]:
        """Every weight (dequantized) and bias under the torch layer's names."""
        return {n: self.dequantized(n) if n.startswith("weight") else getattr(self, n)
                for n in self.names}

    def dequantized_weight(self) -> Tensor:
        """All weights, flattened (what summary counts non-zeros in)."""
        return torch.cat([self.dequantized(n).reshape(-1) for n in self.weights()])

    def to_meta(self) -> dict[str, Any]:
        return {"mode": self.mode, "input_size": self.input_size,
                "hidden_size": self.hidden_size, "num_layers": self.num_layers,
                "bias": self.has_bias, "batch_first": self.batch_first, "dropout": self.dropout}

    @classmethod
    def from_meta(cls, meta: dict[str, Any]) -> Int8WeightRNN:
        rnn_cls = {"GRU": nn.GRU, "LSTM": nn.LSTM}[str(meta["mode"])]
        template = rnn_cls(int(meta["input_size"]), int(meta["hidden_size"]),
                           int(meta["num_layers"]), bias=bool(meta["bias"]),
                           batch_first=bool(meta["batch_first"]), dropout=float(meta["dropout"]))
        return cls(template)  # buffers of the saved shapes; the state-dict load fills them

    def forward(self, x: Tensor, hx: Any = None) -> Any:
        shell = self.float_rnn(device="meta").train(self.training)
        args = (x,) if hx is None else (x, hx)
        return torch.func.functional_call(shell, self.float_tensors(), args, strict=True)

    def extra_repr(self) -> str:
        return (f"{self.mode}({self.input_size}, {self.hidden_size}, "
                f"num_layers={self.num_layers}), int8 weights")
