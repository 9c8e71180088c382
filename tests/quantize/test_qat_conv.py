"""QAT for convolutional networks on real Fashion-MNIST slices: prepare folds BatchNorm and
fuses ReLU as static PTQ does, the fine-tuned model converts to the same QuantizedConv2d
layers, and the exported artifact runs as integer QLinearConv in ONNX Runtime.

Parity tolerance is the one tests/quantize/test_conv_int8.py argues for: the same integer
math, so nearly every image agrees to float rounding (1e-4), and the few that hit a rounding
tie (ORT requantizes with a fused float multiplier) stay within 1% of the output range.
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from torch import nn

import tinyai
from tinyai.models import FashionCNN, FashionCNNConfig, LeNet5, LeNet5Config
from tinyai.quantize import QAT, Int8Static, quantize_
from tinyai.quantize.modules import QuantizedConv2d, QuantizedLinear
from tinyai.quantize.qat import FakeQuantConv2d, FakeQuantLinear

CNNS = {
    "fashion-cnn": FashionCNNConfig(channels=(8, 16), dropout=0.0),
    "fashion-dw-residual": FashionCNNConfig(
        channels=(8, 16), depthwise=True, residual=True, dropout=0.0
    ),
}


@pytest.fixture(scope="module")
def task() -> object:
    from tinyai.tasks import get_task

    return get_task("fashion-mnist")


def _fit(model: nn.Module, task: object, n: int, epochs: int, lr: float, seed: int) -> nn.Module:
    """The library's training loop (as a user would fine-tune a prepared model), seeded."""
    from tinyai.train import TrainConfig, train

    data = task.dataset("train").subset(np.arange(n))  # type: ignore[attr-defined]
    config = TrainConfig(
        epochs=epochs, lr=lr, warmup=0, decay="constant", weight_decay=0.0, seed=seed, log=False
    )
    train(
        model,
        lambda epoch: task.batches(data, 32, shuffle=True, seed=seed + epoch),  # type: ignore[attr-defined]
        config,
        lambda m, batch: task.loss(m(pixel_values=batch["pixel_values"]), batch),  # type: ignore[attr-defined]
    )
    return model.eval()


def _test_batches(task: object, n: int = 1000) -> list[dict[str, torch.Tensor]]:
    test = task.dataset("test").subset(np.arange(n))  # type: ignore[attr-defined]
    return list(task.batches(test, 250))  # type: ignore[attr-defined]


def _optimized_op_counts(model_path: Path, tmp_path: Path) -> Counter[str]:
    """Op types of the graph ONNX Runtime actually runs (after its QDQ fusions)."""
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "ort_optimized.onnx")
    ort.InferenceSession(str(model_path), opts, providers=["CPUExecutionProvider"])
    return Counter(node.op_type for node in onnx.load(opts.optimized_model_filepath).graph.node)


@pytest.mark.parametrize(("row", "activations"), [
    ("fashion-cnn", "running"),
    ("fashion-dw-residual", "learned"),
])  # fmt: skip
def test_qat_cnn_converts_to_qlinearconv_that_ort_matches(
    task, row: str, activations: str, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    model = FashionCNN(CNNS[row])
    n_convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    quantize_(model, QAT(activations=activations))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # folded at prepare
    assert sum(isinstance(m, FakeQuantConv2d) for m in model.modules()) == n_convs
    # A conv reading another's output through a max-pool (both rows have one) shares its grid.
    tied = [n for n, m in model.named_modules() if getattr(m, "input_tied", False)]
    assert tied
    _fit(model, task, n=512, epochs=1, lr=3e-3, seed=0)
    quantize_(model, QAT(activations=activations, step="convert"))
    convs = [m for m in model.modules() if isinstance(m, QuantizedConv2d)]
    output_grids = {(float(c.output_scale), int(c.output_zero_point)) for c in convs}
    for name in tied:
        conv = model.get_submodule(name)
        assert (float(conv.input_scale), int(conv.input_zero_point)) in output_grids
    assert len(convs) == n_convs and all(c.weight_int8.dtype == torch.int8 for c in convs)
    assert any(c.relu for c in convs)  # conv -> BN -> ReLU became one fused layer
    assert not any(isinstance(m, FakeQuantConv2d | FakeQuantLinear) for m in model.modules())

    path = tinyai.export(model, tmp_path / "qat-int8", task)
    ops = _optimized_op_counts(path / "model.onnx", tmp_path)
    assert ops["QLinearConv"] == n_convs and ops["Conv"] == 0, ops
    assert ops["BatchNormalization"] == 0

    from tinyai.runtime import load_artifact

    predictor = load_artifact(path)
    batches = _test_batches(task)
    got = np.concatenate([predictor.run({"pixel_values": b["pixel_values"].numpy()})
                          for b in batches])  # fmt: skip
    with torch.no_grad():
        want = np.concatenate([model(pixel_values=b["pixel_values"]).numpy() for b in batches])
    row_diff = np.abs(got - want).max(axis=1)
    assert np.mean(row_diff <= 1e-4) >= 0.99
    assert row_diff.max() <= 0.01 * np.abs(want).max()


@pytest.fixture(scope="module")
def trained_lenet(task) -> nn.Module:
    """A small LeNet-5 trained for two epochs on 2048 real images (~80% test accuracy)."""
    torch.manual_seed(0)
    model = LeNet5(LeNet5Config(channels=(8, 16), hidden=64, dropout=0.0))
    return _fit(model, task, n=2048, epochs=2, lr=3e-3, seed=0)


def _accuracy(model: nn.Module, task: object, out_dir: Path) -> float:
    """Accuracy of the exported artifact in ONNX Runtime on the first 1000 test images."""
    path = tinyai.export(model, out_dir, task)
    return float(tinyai.evaluate(str(path), task, limit=1000)["metrics"]["accuracy"])


def test_qat_fine_tune_keeps_accuracy_at_least_as_good_as_ptq(
    task, trained_lenet, tmp_path: Path
) -> None:
    ptq = copy.deepcopy(trained_lenet)
    calibration = task.dataset("train").subset(np.arange(256))
    quantize_(ptq, Int8Static())
    with torch.no_grad():
        for batch in task.batches(calibration, 128):
            ptq(pixel_values=batch["pixel_values"])
    quantize_(ptq, Int8Static(step="convert"))

    qat = quantize_(copy.deepcopy(trained_lenet), QAT())
    _fit(qat, task, n=2048, epochs=1, lr=3e-4, seed=100)
    batches = _test_batches(task)
    with torch.no_grad():
        fake = torch.cat([qat(pixel_values=b["pixel_values"]) for b in batches])
    quantize_(qat, QAT(step="convert"))
    with torch.no_grad():
        real = torch.cat([qat(pixel_values=b["pixel_values"]) for b in batches])
    # What was trained is what is deployed: the fake-quant grid is the converted one.
    assert (fake.argmax(1) == real.argmax(1)).float().mean() >= 0.995
    assert (fake - real).abs().max() <= 0.01 * fake.abs().max()
    # Same deployable layer types as static PTQ.
    kinds = lambda m: sorted(type(x).__name__ for x in m.modules() if x is not m)  # noqa: E731
    assert kinds(qat) == kinds(ptq)

    acc_ptq = _accuracy(ptq, task, tmp_path / "ptq")
    acc_qat = _accuracy(qat, task, tmp_path / "qat")
    assert acc_ptq > 0.7  # the float model learned something (chance: 0.1)
    # Measured (1 thread): PTQ 0.806, QAT 0.824; training and calibration are seeded.
    assert acc_qat >= acc_ptq, (acc_ptq, acc_qat)


def test_low_bit_qat_leaves_convs_float_with_their_batchnorm(trained_lenet) -> None:
    # No low-bit conv kernel to deploy to (MatMulNBits is a GEMM): only Linears take part.
    model = quantize_(copy.deepcopy(trained_lenet), QAT(bits=4))
    assert sum(type(m) is nn.Conv2d for m in model.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 2
    assert isinstance(model.classifier[4], FakeQuantLinear)  # 64 inputs: two int4 groups
    assert isinstance(model.classifier[1], nn.Linear)  # 784 inputs: not whole groups of 32


def test_per_tensor_tolerance_is_decided_at_prepare_and_kept_at_convert() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 8))
    with torch.no_grad():
        model[2].weight[0] *= 50  # an outlier output channel: per-tensor would crush the rest
    quantize_(model, QAT(per_tensor_tolerance=1e-3))
    assert [model[0].per_channel, model[2].per_channel] == [False, True]
    with torch.no_grad():
        model(torch.randn(16, 64))
        model[0].weight[0] *= 50  # training made it an outlier: convert keeps prepare's grid
    quantize_(model, QAT(step="convert"))  # no tolerance here either: the choice is stored
    smooth, outlier = model[0], model[2]
    assert isinstance(smooth, QuantizedLinear) and isinstance(outlier, QuantizedLinear)
    assert torch.unique(smooth.weight_scale).numel() == 1
    assert torch.unique(outlier.weight_scale).numel() == 8
    with pytest.raises(ValueError, match="per_tensor_tolerance"):
        QAT(per_tensor_tolerance=1.0)
