"""Each scheme exports to ONNX with integer ops, and ONNX Runtime matches the PyTorch module.

Tolerances: ORT and the dequantize-on-the-fly reference do the same integer arithmetic, so
outputs agree to float rounding (1e-5 absolute on O(1) outputs); MatMulNBits with
accuracy_level=4 quantizes activations inside the kernel, so it gets a looser bound.
"""

import copy

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

from tinyai.quantize import Int8Dynamic, Int8Static, WeightOnly, quantize_, to_onnx


class TinyText(nn.Module):
    """Embedding -> residual MLP -> head: the shapes of a transformer block, small."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1024, 64)
        self.up = nn.Linear(64, 128)
        self.down = nn.Linear(128, 64)
        self.head = nn.Linear(64, 4)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(input_ids)
        h = h + self.down(torch.relu(self.up(h)))
        return self.head(h).mean(1)


@pytest.fixture(scope="module")
def base() -> TinyText:
    torch.manual_seed(0)
    return TinyText().eval()


def _ids(seed: int) -> torch.Tensor:
    return torch.randint(0, 1024, (3, 9), generator=torch.Generator().manual_seed(seed))


def _calibrated(model: nn.Module, config: Int8Static) -> nn.Module:
    quantize_(model, config)
    for seed in range(4):
        model(input_ids=_ids(100 + seed))
    config.step = "convert"
    return quantize_(model, config)


SCHEMES = {
    "int8-dynamic": (lambda m: quantize_(m, Int8Dynamic()), {"DynamicQuantizeMatMul"}, 1e-5),
    "int8-static": (
        lambda m: _calibrated(m, Int8Static()),
        {"QuantizeLinear", "MatMulIntegerToFloat"},
        1e-5,
    ),
    "int8-static-sym-entropy": (
        lambda m: _calibrated(m, Int8Static(observer="entropy", symmetric_activations=True)),
        {"MatMulIntegerToFloat"},
        1e-5,
    ),
    "int4": (
        lambda m: quantize_(m, WeightOnly(bits=4)),
        {"MatMulNBits", "GatherBlockQuantized"},
        1e-5,
    ),
    "int2": (lambda m: quantize_(m, WeightOnly(bits=2)), {"MatMulNBits"}, 1e-5),
}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_ort_matches_pytorch_and_uses_integer_ops(scheme: str, base: TinyText, tmp_path) -> None:
    apply, ops, tol = SCHEMES[scheme]
    model = apply(copy.deepcopy(base))
    path = to_onnx(model, tmp_path / "m.onnx", {"input_ids": _ids(0)})
    graph_ops = {n.op_type for n in onnx.load(str(path)).graph.node}
    assert ops <= graph_ops
    assert "MatMul" not in graph_ops and "Gemm" not in graph_ops  # no float matmul left
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ids = _ids(7)
    got = sess.run(None, {"input_ids": ids.numpy()})[0]
    want = model(input_ids=ids).detach().numpy()
    np.testing.assert_allclose(got, want, atol=tol, rtol=0)
    # and quantization really changed the numbers (the graph is not the float one)
    assert np.abs(want - base(input_ids=ids).detach().numpy()).max() > 1e-6


def test_int4_accuracy_level_4_stays_close(base: TinyText, tmp_path) -> None:
    model = quantize_(copy.deepcopy(base), WeightOnly(bits=4))
    path = to_onnx(model, tmp_path / "m.onnx", {"input_ids": _ids(0)}, accuracy_level=4)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input_ids": _ids(3).numpy()})[0]
    want = model(input_ids=_ids(3)).detach().numpy()
    np.testing.assert_allclose(got, want, atol=2e-2 * np.abs(want).max(), rtol=0)


def test_low_bit_file_is_really_smaller(base: TinyText, tmp_path) -> None:
    sizes = {}
    for bits in (8, 2):
        model = quantize_(
            copy.deepcopy(base), WeightOnly(bits=bits, group_size=32, embedding_bits=0)
        )
        init = onnx.load(
            str(to_onnx(model, tmp_path / f"{bits}.onnx", {"input_ids": _ids(0)}))
        ).graph.initializer
        sizes[bits] = sum(len(t.raw_data) for t in init if "weight_packed" in t.name)
    n_weights = 64 * 128 + 128 * 64 + 64 * 4  # up, down and the 4-way head
    assert sizes[8] == n_weights  # one byte per 8-bit weight
    assert sizes[2] * 4 == sizes[8]  # 4 codes per byte


def test_retargeting_one_float_export_equals_exporting_each_variant(
    base: TinyText, tmp_path
) -> None:
    from tinyai.quantize.export import retarget_onnx

    float_proto = onnx.load(str(to_onnx(base, tmp_path / "float.onnx", {"input_ids": _ids(0)})))
    ids = _ids(5).numpy()
    for config in (Int8Dynamic(), WeightOnly(bits=4)):
        model = quantize_(copy.deepcopy(base), config)
        path = retarget_onnx(float_proto, base, model, tmp_path / "r.onnx")
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        want = model(input_ids=torch.from_numpy(ids)).detach().numpy()
        np.testing.assert_allclose(sess.run(None, {"input_ids": ids})[0], want, atol=1e-5, rtol=0)


def test_output_may_share_a_name_the_exporter_uses_inside(base: TinyText, tmp_path) -> None:
    # The exporter names the word-embedding lookup "embedding"; a sentence encoder's task
    # output has that name too. The file must still define each value once (ORT checks).
    model = quantize_(copy.deepcopy(base), Int8Dynamic())
    path = to_onnx(model, tmp_path / "m.onnx", {"input_ids": _ids(0)}, output_name="embedding")
    graph = onnx.load(str(path)).graph
    produced = [name for node in graph.node for name in node.output]
    assert len(produced) == len(set(produced)) and graph.output[0].name == "embedding"
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = sess.run(["embedding"], {"input_ids": _ids(2).numpy()})[0]
    want = model(input_ids=_ids(2)).detach().numpy()
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
