"""Export of modules written outside tinyai: only the inputs they take, errors that name the
real cause on one line, tied weights stored once, token ids that must fit the embedding."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from torch import nn

import tinyai
from tinyai.errors import ConfigError, ModelError
from tinyai.export.dedup import dedup_initializers
from tinyai.export.errors import export_error_line
from tinyai.tasks import get_task

RNG = np.random.default_rng(0)


class _IdsOnly(nn.Module):
    """Never looks at the attention mask the task offers."""

    def __init__(self, vocab: int = 50) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, ids):
        return self.out(self.embedding(ids).mean(dim=1))


def _token_task() -> object:
    ids = RNG.integers(0, 50, (24, 7))
    data = {"input_ids": ids, "attention_mask": np.ones_like(ids), "labels": ids[:, 0] % 2}
    return get_task("array-classification", data={"train": data})


def test_a_model_that_ignores_the_mask_exports_without_it(tmp_path) -> None:
    task = _token_task()
    model = _IdsOnly().eval()
    artifact = tinyai.export(model, tmp_path / "ids", task)
    manifest = json.loads((artifact / "manifest.json").read_text())
    assert [i["name"] for i in manifest["inputs"]] == ["input_ids"]
    assert manifest["model"]["input_binding"] == {"ids": "input_ids"}
    assert manifest["export_check"]["max_abs_diff"] < 1e-5
    batch = next(task.numpy_batches("train", 4))  # holds the mask too: the runtime drops it
    expected = model(torch.from_numpy(batch["input_ids"])).detach().numpy()
    np.testing.assert_allclose(tinyai.load_artifact(artifact).run(batch), expected, atol=1e-5)


class _Broken(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        raise ValueError("\x1b[96mboom\x1b[0m: the real cause\nwith a second line")


def test_an_export_error_is_one_line_with_the_real_cause(tmp_path) -> None:
    with pytest.raises(ModelError) as info:
        tinyai.export(_Broken(), tmp_path / "x", example_inputs=torch.randn(2, 4))
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message
    assert message.count("ValueError: boom: the real cause") == 2  # dynamo and torchscript


def test_the_innermost_meaningful_exception_is_named() -> None:
    try:
        try:
            raise TypeError("forward() takes 2 positional arguments but 3 were given")
        except TypeError as inner:
            raise RuntimeError("Failed to export the model with torch.export. \x1b[96mThis is "
                               "step 1/3\x1b[0m\n## Exception summary") from inner
    except RuntimeError as outer:
        line = export_error_line(outer)
    assert line == "TypeError: forward() takes 2 positional arguments but 3 were given"


def test_a_tied_matrix_is_stored_once() -> None:
    weight = RNG.standard_normal((40, 16)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["rows"]),
         helper.make_node("MatMul", ["rows", "table_t"], ["logits"])],
        "tied", [helper.make_tensor_value_info("ids", onnx.TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, [2, 40])],
        [numpy_helper.from_array(weight, "table"),
         numpy_helper.from_array(np.ascontiguousarray(weight.T), "table_t")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert dedup_initializers(proto) == 1
    assert [i.name for i in proto.graph.initializer] == ["table"]
    import onnxruntime as ort

    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"ids": np.array([3, 7])})[0]
    np.testing.assert_allclose(got, weight[[3, 7]] @ weight.T, rtol=1e-5)


def test_token_ids_must_fit_the_embedding(tmp_path) -> None:
    (tmp_path / "train.tsv").write_text("text\tlabel\na fine film\t1\na dull one\t0\n")
    task = get_task("text-classification", data={"train": str(tmp_path / "train.tsv")})
    with pytest.raises(ConfigError, match=r"has 30522 tokens.*50 rows.*reduce_vocab") as info:
        tinyai.evaluate(_IdsOnly(), task)
    assert "\n" not in str(info.value)
