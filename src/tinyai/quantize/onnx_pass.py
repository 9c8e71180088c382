"""Turn a float ONNX export into one that runs ONNX Runtime's integer kernels.

How: export a *float shadow* of the quantized model (each quantized module replaced by a
float Linear/Embedding/Conv2d holding exactly its dequantized weight), then rewrite the graph:
every MatMul/Gemm/Gather/Conv whose weight initializer is bit-identical to a quantized module's
dequantized weight (or its transpose, which is how the dynamo exporter stores Linear
weights) is replaced by the integer op, fed with that module's own int8/packed buffers.
Matching by content rather than by name is deliberate: exporter initializer names
(``val_12``) are not stable, the bytes are. The numbers in the file are tinyai's, not
re-quantized by another tool.
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper
from torch import nn

from tinyai.errors import ConfigError
from tinyai.quantize.layer_types import QUANTIZED_TYPES
from tinyai.quantize.modules import (
    LowBitLinear,
    QuantizedConv2d,
    QuantizedEmbedding,
    QuantizedLinear,
)
from tinyai.quantize.onnx_conv import conv_nodes, int8_weight_conv_nodes, quantize_after_relu
from tinyai.quantize.onnx_fuse import (
    fuse_bias,
    keep_layernorm_unfused,
    share_input_quantization,
)
from tinyai.quantize.onnx_qattention import fuse_quantized_attention
from tinyai.quantize.onnx_rnn import ROWS, rewrite_rnn_weights, rnn_entries, rows_fingerprint
from tinyai.quantize.ptq import set_submodule
from tinyai.quantize.weight_int8 import Int8WeightConv, Int8WeightRNN
from tinyai.runtime.codecs.lowbit import pack_bits

MS_DOMAIN = "com.microsoft"


def _fingerprint(array: np.ndarray) -> str:
    a = np.ascontiguousarray(array, dtype=np.float32)
    return hashlib.sha1(str(a.shape).encode() + a.tobytes()).hexdigest()


@dataclass
class _Match:
    name: str
    module: nn.Module
    transposed: bool  # initializer is W.T [in, out] (MatMul) rather than W [out, in]


def float_shadow(model: nn.Module) -> tuple[nn.Module, dict[str, _Match]]:
    """A float copy to export, and fingerprint -> quantized module for the rewrite."""
    shadow = copy.deepcopy(model)
    table: dict[str, _Match] = {}
    for name, module in list(model.named_modules()):
        if not isinstance(module, QUANTIZED_TYPES):
            continue
        if isinstance(module, Int8WeightRNN):
            set_submodule(shadow, name, _float_rnn(module))
            table.update(rnn_entries(name, module, _Match))
            continue
        w = module.dequantized_weight().detach().float()
        if isinstance(module, QuantizedConv2d):
            float_module: nn.Module = _float_conv(module, w)
        elif isinstance(module, Int8WeightConv):
            float_module = _float_weight_conv(module, w)
        elif isinstance(module, QuantizedEmbedding):
            float_module = nn.Embedding.from_pretrained(w, freeze=True)
        else:
            float_module = nn.Linear(
                module.in_features, module.out_features, bias=module.bias is not None
            )
            float_module.weight.data.copy_(w)
            if module.bias is not None:
                float_module.bias.data.copy_(module.bias)
        set_submodule(shadow, name, float_module)
        wn = w.numpy()
        table[_fingerprint(wn)] = _Match(name, module, transposed=False)
        table[_fingerprint(wn.T)] = _Match(name, module, transposed=True)
    return shadow.eval(), table


def _float_conv(module: QuantizedConv2d, w: torch.Tensor) -> nn.Module:
    """The float Conv2d (+ ReLU) the exporter traces; its weight is the dequantized int8."""
    bias = module.dequantized_bias()
    conv = nn.Conv2d(
        module.in_channels, module.out_channels, module.kernel_size, module.stride,
        module.padding, module.dilation, module.groups, bias=bias is not None,
    )  # fmt: skip
    conv.weight.data.copy_(w)
    if bias is not None:
        conv.bias.data.copy_(bias)
    return nn.Sequential(conv, nn.ReLU()) if module.relu else conv


def _float_rnn(module: Int8WeightRNN) -> nn.Module:
    """The float nn.GRU / nn.LSTM the exporter traces: the dequantized weights."""
    rnn = module.float_rnn()
    with torch.no_grad():
        for name, tensor in module.float_tensors().items():
            getattr(rnn, name).copy_(tensor)
    return rnn


def _float_weight_conv(module: Int8WeightConv, w: torch.Tensor) -> nn.Module:
    """The float Conv1d / Conv2d the exporter traces for an int8-weight conv."""
    cls = nn.Conv1d if module.dims == 1 else nn.Conv2d
    conv = cls(module.in_channels, module.out_channels, module.kernel_size, module.stride,
               module.padding, module.dilation, module.groups, bias=module.bias is not None)
    conv.weight.data.copy_(w)
    if module.bias is not None:
        conv.bias.data.copy_(module.bias)
    return conv


def reference_table(float_model: nn.Module, quantized: nn.Module) -> dict[str, _Match]:
    """Match table keyed by the *original* float weights of `float_model`.

    Lets one float export be re-targeted to several PTQ variants of the same model (no
    re-export per variant). Only valid when quantization changed nothing but the quantized
    layers (PTQ); after QAT the biases and norms moved, so export the trained model itself.
    """
    originals = dict(float_model.named_modules())
    table: dict[str, _Match] = {}
    for name, module in quantized.named_modules():
        if not isinstance(module, QUANTIZED_TYPES) or name not in originals:
            continue
        if isinstance(module, QuantizedConv2d | Int8WeightConv):
            # prepare folded BatchNorm into the conv and the ReLU into the layer: the float
            # export of the original model has a different graph around every conv.
            raise ConfigError(
                f"retarget_onnx cannot rewrite the quantized conv {name}; export the "
                "quantized model itself with to_onnx or tinyai.export"
            )
        w = originals[name].weight.detach().float().numpy()
        table[_fingerprint(w)] = _Match(name, module, transposed=False)
        table[_fingerprint(w.T)] = _Match(name, module, transposed=True)
    return table


class _Builder:
    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.count = 0

    def const(self, base: str, array: np.ndarray) -> str:
        self.count += 1
        name = f"{base}.q{self.count}"
        self.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(
        self, op: str, inputs: list[str], outputs: list[str], domain: str = "", **attrs: object
    ) -> onnx.NodeProto:
        self.count += 1
        return helper.make_node(
            op, inputs, outputs, name=f"tinyai_{op}_{self.count}", domain=domain, **attrs
        )


def _linear_nodes(b: _Builder, m: nn.Module, name: str, x: str, y: str) -> list[onnx.NodeProto]:
    if isinstance(m, QuantizedLinear):
        w_t = np.ascontiguousarray(m.weight_int8.numpy().T)  # [K, N] as MatMulInteger expects
        w = b.const(f"{name}.weight_int8", w_t)
        ws = b.const(f"{name}.weight_scale", _weight_scale(m))
        if not m.static:
            return [b.node("DynamicQuantizeMatMul", [x, w, ws], [y], MS_DOMAIN)]
        dtype = np.int8 if m.input_signed else np.uint8
        xs = b.const(f"{name}.input_scale", np.array(m.input_scale.item(), dtype=np.float32))
        xz = b.const(f"{name}.input_zero_point", np.array(m.input_zero_point.item(), dtype=dtype))
        xq = f"{y}.xq"
        return [
            b.node("QuantizeLinear", [x, xs, xz], [xq]),
            b.node("MatMulIntegerToFloat", [xq, w, xs, ws, xz], [y], MS_DOMAIN),
        ]
    assert isinstance(m, LowBitLinear)
    n, k, bits, g = m.out_features, m.in_features, m.bits, m.group_size
    blocks = k // g
    packed = m.weight_packed.numpy().reshape(n, blocks, g * bits // 8)
    zp = m.weight_zero_points.numpy()
    per_byte = 8 // bits
    if blocks % per_byte:
        zp = np.pad(zp, ((0, 0), (0, per_byte - blocks % per_byte)))
    inputs = [
        x,
        b.const(f"{name}.weight_packed", packed),
        b.const(f"{name}.weight_scales", m.weight_scales.numpy().astype(np.float32).reshape(-1)),
        b.const(f"{name}.weight_zero_points", pack_bits(zp, bits).reshape(-1)),
    ]
    attrs = {"K": k, "N": n, "bits": bits, "block_size": g, "accuracy_level": 0}
    return [b.node("MatMulNBits", inputs, [y], MS_DOMAIN, **attrs)]


def set_accuracy_level(model_proto: onnx.ModelProto, level: int) -> None:
    """MatMulNBits' compute mode on every such node: 0 = dequantize to fp32 (what the rewrite
    writes, closest to PyTorch), 4 = int8 activations inside the kernel (faster)."""
    for node in model_proto.graph.node:
        if node.op_type == "MatMulNBits" and node.domain == MS_DOMAIN:
            for attr in node.attribute:
                if attr.name == "accuracy_level":
                    attr.i = level


def _weight_scale(m: QuantizedLinear) -> np.ndarray:
    """Per-column scales, or one scalar when they are all equal (a per-tensor layer): ORT's
    per-column path sets up a multiplier per output column on every call."""
    scale = m.weight_scale.numpy().astype(np.float32)
    return scale[:1].reshape(()) if np.all(scale == scale[0]) else scale


def _embedding_nodes(
    b: _Builder, m: QuantizedEmbedding, name: str, ids: str, y: str
) -> list[onnx.NodeProto]:
    zp = m.weight_zero_points.numpy()
    per_byte = 8 // m.bits
    if zp.shape[1] % per_byte:
        zp = np.pad(zp, ((0, 0), (0, per_byte - zp.shape[1] % per_byte)))
    inputs = [
        b.const(f"{name}.weight_packed", m.weight_packed.numpy()),
        ids,
        b.const(f"{name}.weight_scales", m.weight_scales.numpy().astype(np.float32)),
        b.const(f"{name}.weight_zero_points", pack_bits(zp, m.bits)),
    ]
    attrs = {"gather_axis": 0, "quantize_axis": 1, "block_size": m.group_size, "bits": m.bits}
    return [b.node("GatherBlockQuantized", inputs, [y], MS_DOMAIN, **attrs)]


def rewrite_quantized(model_proto: onnx.ModelProto, table: dict[str, _Match]) -> int:
    """Replace matched float ops in place; returns how many were replaced."""
    graph = model_proto.graph
    b = _Builder(graph)
    replaced = rewrite_rnn_weights(b, graph, table)
    inits = {t.name: t for t in graph.initializer}
    # The torchscript exporter shares equal initializers through Identity nodes (layers
    # cloned from one, such as nn.TransformerEncoder's, start with equal weights).
    alias = {n.output[0]: n.input[0] for n in graph.node
             if n.op_type == "Identity" and n.input and n.input[0] in inits}
    fps: dict[str, str] = {}

    def match(init_name: str) -> _Match | None:
        init_name = alias.get(init_name, init_name)
        if init_name not in inits:
            return None
        if init_name not in fps:
            fps[init_name] = _fingerprint(numpy_helper.to_array(inits[init_name]))
        return table.get(fps[init_name])

    new_nodes: list[onnx.NodeProto] = []
    relu_fused: dict[str, tuple[str, QuantizedConv2d]] = {}
    for node in graph.node:
        out = _replace_node(b, node, match)
        if node.op_type == "Conv" and out is not None:
            hit = match(node.input[1])
            assert hit is not None
            if isinstance(hit.module, QuantizedConv2d) and hit.module.relu:
                relu_fused[node.output[0]] = (hit.name, hit.module)
        replaced += out is not None
        new_nodes.extend(out if out is not None else [node])
    del graph.node[:]
    graph.node.extend(new_nodes)
    quantize_after_relu(b, graph, relu_fused)
    share_input_quantization(graph)
    fuse_bias(graph)
    fuse_quantized_attention(graph)
    if replaced:  # a float model is written exactly as exported (ORT baselines start from it)
        keep_layernorm_unfused(graph)
    _drop_unused_initializers(graph)
    if replaced and not any(o.domain == MS_DOMAIN for o in model_proto.opset_import):
        model_proto.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return replaced


def _replace_node(b: _Builder, node: onnx.NodeProto, match) -> list[onnx.NodeProto] | None:
    if node.op_type == "MatMul":
        hit = match(node.input[1])
        if hit and hit.transposed and not isinstance(hit.module, QuantizedEmbedding):
            return _linear_nodes(b, hit.module, hit.name, node.input[0], node.output[0])
    if node.op_type == "Gemm":
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        hit = match(node.input[1])
        plain = (
            attrs.get("alpha", 1.0) == 1.0
            and attrs.get("beta", 1.0) == 1.0
            and not attrs.get("transA", 0)
        )
        if (
            hit
            and plain
            and hit.transposed != bool(attrs.get("transB", 0))
            and not isinstance(hit.module, QuantizedEmbedding)
        ):
            y = node.output[0] + ".mm" if len(node.input) > 2 else node.output[0]
            nodes = _linear_nodes(b, hit.module, hit.name, node.input[0], y)
            if len(node.input) > 2:
                nodes.append(b.node("Add", [y, node.input[2]], [node.output[0]]))
            return nodes
    if node.op_type == "Conv":
        hit = match(node.input[1])
        if hit and isinstance(hit.module, QuantizedConv2d):
            return conv_nodes(b, hit.module, hit.name, node)
        if hit and isinstance(hit.module, Int8WeightConv) and not hit.transposed:
            return int8_weight_conv_nodes(b, hit.module, hit.name, node)
    if node.op_type == "Gather":
        hit = match(node.input[0])
        if hit and isinstance(hit.module, QuantizedEmbedding) and not hit.transposed:
            return _embedding_nodes(b, hit.module, hit.name, node.input[1], node.output[0])
    return None


def _drop_unused_initializers(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs nothing reads any more (the exporter's Identity copies of a
    replaced float weight), then the initializers nothing reads."""
    outputs = {o.name for o in graph.output}
    while True:
        read = {i for n in graph.node for i in n.input} | outputs
        live = [n for n in graph.node if any(o in read for o in n.output)]
        if len(live) == len(graph.node):
            break
        del graph.node[:]
        graph.node.extend(live)
    used = {i for n in graph.node for i in n.input} | outputs
    keep = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(keep)


def leftover_float_weights(model_proto: onnx.ModelProto, table: dict[str, _Match]) -> list[str]:
    """Quantized layers whose float weight is still in the graph (used in a way not rewritten).

    A quantized layer absent from the graph altogether (an unused pooler) is not an error.
    """
    names = set()
    recurrent = any(key.startswith(ROWS) for key in table)
    for init in model_proto.graph.initializer:
        if len(init.dims) in (2, 3, 4):  # Linear / Embedding / Conv / recurrent weights
            array = numpy_helper.to_array(init)
            keys = [_fingerprint(array)]
            if recurrent and array.ndim in (2, 3):  # any row order, or transposed
                keys += [rows_fingerprint(array), rows_fingerprint(np.swapaxes(array, -1, -2))]
            names.update(table[k].name for k in keys if k in table)
    return sorted(names)
