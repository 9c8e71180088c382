"""Every verb on every architecture: tinyai's reference models and five written as a user
writes them (issue #14). A cell passes, or raises the one-line TinyAIError its row names
as not supported; no cell crashes inside torch, and every figure is checked against a count
made here (zeros, parameters, bytes in the ONNX file, outputs in ONNX Runtime).

Exports use torchscript (about 1 s each here, where dynamo takes 5-15 s on these 2 shared
cores); the "export" column uses the default exporter, so each row also runs dynamo once.
"""

from __future__ import annotations

import copy
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from any_module_cases import ARCHS, TASKS, Arch
from onnx import numpy_helper
from torch.utils.flop_counter import FlopCounterMode

import tinyai
from tinyai.distill import DistillConfig, FinetuneConfig, distill, finetune, pruned_copy
from tinyai.errors import TinyAIError
from tinyai.export import ExportConfig
from tinyai.measure.macs import extra_formulas
from tinyai.models.calling import bind, call_model
from tinyai.prune import MagnitudePruning, StructuredPruning, make_permanent, prune_, sparsity
from tinyai.quantize import QAT, Int8Dynamic, Int8Static, WeightOnly, quantize_
from tinyai.recipe.stages import calibrate
from tinyai.train import TrainConfig, TrainHooks

FAST = ExportConfig(exporter="torchscript")
STEPS = TrainConfig(steps=2, batch_size=16, log=False)
VERBS = ("summary", "unstructured", "structured", "int8-dynamic", "int8-static", "int4", "qat",
         "distill", "export")
WEIGHT_LAYERS = (torch.nn.Linear, torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Embedding,
                 torch.nn.RNNBase, torch.nn.MultiheadAttention)
_TASKS: dict[str, Any] = {}


def _task(name: str) -> Any:
    if name not in _TASKS:
        _TASKS[name] = TASKS[name]()
    return _TASKS[name]


@pytest.fixture(scope="module")
def built() -> dict[str, torch.nn.Module]:
    """One seeded model per row, its weights jittered to stand in for a trained one (a fresh
    nn.TransformerEncoder's layers are equal copies, which an exporter would store once);
    each cell works on a copy."""
    out = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        model = arch.build().eval()
        with torch.no_grad():
            for param in {id(p): p for p in model.parameters()}.values():
                param.add_(torch.randn_like(param) * 0.02)
        out[arch.name] = model
    return out


@pytest.mark.parametrize("verb", VERBS)
@pytest.mark.parametrize("arch", ARCHS, ids=str)
def test_verb_on_architecture(arch: Arch, verb: str, built, tmp_path: Path) -> None:
    task = _task(arch.task)
    model = copy.deepcopy(built[arch.name])
    expected = arch.unsupported.get(verb)
    if expected is None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*kept float.*")
            CELLS[verb](model, task, tmp_path)
        return
    with pytest.raises(TinyAIError, match=expected) as info:
        CELLS[verb](model, task, tmp_path)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------- cells
def _summary(model: Any, task: Any, tmp: Path) -> None:
    table = tinyai.summary(model, task.example_inputs(1))
    _check_counts(model, table)
    # MACs are counted through torch's fused attention: the same as in training mode, where
    # torch never takes its fast path
    assert table.macs == _macs_in_training_mode(model, task.example_inputs(1)) > 0


def _unstructured(model: Any, task: Any, tmp: Path) -> None:
    dense = _artifact_bytes_on_disk(tinyai.export(model, tmp / "dense", task, config=FAST))
    prune_(model, MagnitudePruning(sparsity=0.8))
    make_permanent(model)
    figures = sparsity(model)
    weights: dict[int, tuple[str, torch.Tensor]] = {}  # a tied weight under its first owner
    for m, layer in model.named_modules():
        for n, p in layer.named_parameters(recurse=False):
            if isinstance(layer, WEIGHT_LAYERS) and p.dim() >= 2:
                weights.setdefault(id(p), (f"{m}.{n}" if m else n, p))
    assert {n for n, _ in weights.values()} <= set(figures)  # every layer weight, once
    zeros = sum(int((p == 0).sum()) for _, p in weights.values())
    assert figures["__total__"] == pytest.approx(zeros / sum(p.numel() for _, p in
                                                             weights.values()))
    assert figures["__total__"] == pytest.approx(0.8, abs=0.01)
    table = _check_counts(model, tinyai.summary(model, task.example_inputs(1)))
    assert table.sparsity == pytest.approx(1 - table.nonzero / table.params)
    artifact = _export(model, task, tmp / "sparse", rewritten=False)
    stats = json.loads((artifact / "manifest.json").read_text())["model"]["weights"]
    assert stats["float_zero_fraction"] >= 0.7  # the zeros are in the file ...
    assert _artifact_bytes_on_disk(artifact) <= dense  # ... packed where that pays


def _structured(model: Any, task: Any, tmp: Path) -> None:
    before = tinyai.summary(model, task.example_inputs(1))
    prune_(model, StructuredPruning(ratio=0.5), example_inputs=task.example_inputs(1))
    after = _check_counts(model, tinyai.summary(model, task.example_inputs(1)))
    assert after.params < 0.8 * before.params
    _export(model, task, tmp / "narrow", rewritten=False)


def _int8_dynamic(model: Any, task: Any, tmp: Path) -> None:
    quantize_(model, Int8Dynamic())
    _run(model, task)
    _export(model, task, tmp / "int8", rewritten=True)


def _int8_static(model: Any, task: Any, tmp: Path) -> None:
    quantize_(model, Int8Static(step="prepare"))
    calibrate(model, task, 32, seed=0)
    quantize_(model, Int8Static(step="convert"))
    _run(model, task)
    _export(model, task, tmp / "static", rewritten=True)


def _int4(model: Any, task: Any, tmp: Path) -> None:
    quantize_(model, WeightOnly(bits=4, group_size=16))
    _run(model, task)
    _export(model, task, tmp / "int4", rewritten=True)


def _qat(model: Any, task: Any, tmp: Path) -> None:
    quantize_(model, QAT(bits=8, step="prepare"))
    finetune(model, task, FinetuneConfig(train=STEPS))
    quantize_(model, QAT(bits=8, step="convert"))
    _run(model, task)
    _export(model, task, tmp / "qat", rewritten=True)


def _distill(model: Any, task: Any, tmp: Path) -> None:
    student = pruned_copy(model, StructuredPruning(ratio=0.5), task.example_inputs(1))
    before = copy.deepcopy(student.state_dict())
    losses: list[float] = []
    hooks = TrainHooks(after_step=lambda step, loss: losses.append(loss))
    distill(student, model, task, DistillConfig(train=STEPS, cache=False), hooks=hooks)
    assert len(losses) == 2 and all(np.isfinite(losses))
    assert any(not torch.equal(before[k], v) for k, v in student.state_dict().items())


def _export_parity(model: Any, task: Any, tmp: Path) -> None:
    """The default export path (dynamo, or torchscript for RNNs), run by the runtime."""
    artifact = tinyai.export(model, tmp / "float", task)
    manifest = json.loads((artifact / "manifest.json").read_text())
    used = bind(model, list(task.input_names)).used
    assert [spec["name"] for spec in manifest["inputs"]] == used
    batch = next(task.numpy_batches(task.eval_split, 5))
    produced = tinyai.load_artifact(artifact).run(batch)
    with torch.no_grad():
        expected = call_model(model, {k: torch.from_numpy(batch[k]) for k in task.input_names})
    np.testing.assert_allclose(produced, expected.numpy(), atol=1e-4, rtol=1e-4)


CELLS = {"summary": _summary, "unstructured": _unstructured, "structured": _structured,
         "int8-dynamic": _int8_dynamic, "int8-static": _int8_static, "int4": _int4,
         "qat": _qat, "distill": _distill, "export": _export_parity}


# ------------------------------------------------------------------------------ figures
def _check_counts(model: Any, table: Any) -> Any:
    """summary's parameters and non-zeros are the model's own, each tensor counted once."""
    unique = {id(p): p for p in model.parameters()}.values()
    assert table.params == sum(p.numel() for p in unique)
    assert table.nonzero == sum(int(torch.count_nonzero(p)) for p in unique)
    return table


def _macs_in_training_mode(model: Any, inputs: dict[str, torch.Tensor]) -> int:
    counted = copy.deepcopy(model).train()
    for module in counted.modules():  # no dropout noise, no statistics updates
        if isinstance(module, torch.nn.Dropout | torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    counter = FlopCounterMode(display=False, custom_mapping=extra_formulas())
    with counter, torch.no_grad():
        call_model(counted, inputs)
    return counter.get_total_flops() // 2


def _run(model: Any, task: Any) -> None:
    """The converted model still runs in PyTorch, in eval mode (torch's fast paths on)."""
    with torch.no_grad():
        out = call_model(model.eval(), task.example_inputs(3))
    assert torch.isfinite(out).all()


def _export(model: Any, task: Any, out: Path, rewritten: bool) -> Path:
    """Export; the ONNX weights are what summary counts, and ORT agrees with PyTorch."""
    table = tinyai.summary(model, task.example_inputs(1))
    artifact = tinyai.export(model, out, task, config=FAST)
    manifest = json.loads((artifact / "manifest.json").read_text())
    stored = _artifact_weight_bytes(artifact)
    # The file holds what summary counts, less what export folds away (BatchNorm into the
    # conv before it), plus the graph's own small constants (shapes, axes)
    slack = 0.05 * table.bytes + 512 + _qdq_bytes(model)
    assert table.bytes - _batchnorm_bytes(model) - slack <= stored <= table.bytes + slack, (
        stored, table.bytes)
    check = manifest["export_check"]
    bound = 1e-4 + (0.1 if rewritten else 1e-3) * check["max_abs_reference"]
    assert check["max_abs_diff"] <= bound
    return artifact


def _qdq_bytes(model: Any) -> int:
    """What ONNX's QDQ form of a static int8 conv stores per output channel besides the
    layer's own tensors: weight and bias zero points and the bias scale (9 bytes)."""
    return sum(9 * m.out_channels for m in model.modules() if type(m).__name__ ==
               "QuantizedConv2d")


def _batchnorm_bytes(model: Any) -> int:
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    return sum(t.numel() * t.element_size() for m in norms for t in m.state_dict().values())


def _artifact_weight_bytes(artifact: Path) -> int:
    """Bytes of every initializer the graph stores (packed ones at their unpacked size)."""
    proto = onnx.load(str(artifact / "model.onnx"), load_external_data=False)
    total = 0
    for init in proto.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
            total += int(np.prod(init.dims)) * np.dtype(dtype).itemsize
        else:
            total += numpy_helper.to_array(init).nbytes
    return total


def _artifact_bytes_on_disk(artifact: Path) -> int:
    return sum(p.stat().st_size for p in artifact.iterdir()
               if p.name in ("model.onnx", "weights.packed"))
