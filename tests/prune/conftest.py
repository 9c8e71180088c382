"""The architectures every pruning test runs over, built small so the table stays fast."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

ARCHS = ("mlp", "cnn-res-dw", "lenet5", "gru", "lstm", "bert")


def _bert() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    import transformers

    from tinyai.models import TextClassifier

    config = transformers.BertConfig(
        vocab_size=120,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=32,
    )
    torch.manual_seed(0)
    model = TextClassifier(transformers.BertModel(config), num_labels=3)
    gen = torch.Generator().manual_seed(0)
    mask = torch.ones(2, 10, dtype=torch.long)
    mask[1, 7:] = 0  # one padded example, so the attention mask matters
    return model, {
        "input_ids": torch.randint(0, 120, (2, 10), generator=gen),
        "attention_mask": mask,
    }


def build(arch: str) -> tuple[nn.Module, dict[str, torch.Tensor]]:
    """(model in eval mode, example inputs with batch 2) for one architecture."""
    from tinyai.models import (
        CharLM,
        CharLMConfig,
        FashionCNN,
        FashionCNNConfig,
        LeNet5,
        LeNet5Config,
        LeNet300100,
    )

    torch.manual_seed(0)
    if arch == "bert":
        model, inputs = _bert()
        return model.eval(), inputs
    model: Any = {
        "mlp": lambda: LeNet300100(),
        "cnn-res-dw": lambda: FashionCNN(
            FashionCNNConfig(channels=(16, 32), residual=True, depthwise=True)
        ),
        # conv -> flatten -> linear: the linear's inputs shrink in blocks of 7x7 per channel.
        "lenet5": lambda: LeNet5(LeNet5Config(channels=(8, 16), hidden=32)),
        "gru": lambda: CharLM(
            CharLMConfig(cell="gru", embed_dim=16, hidden_size=32, num_layers=2, seq_len=12)
        ),
        "lstm": lambda: CharLM(
            CharLMConfig(cell="lstm", embed_dim=16, hidden_size=32, num_layers=1, seq_len=12)
        ),
    }[arch]()
    return model.eval(), model.example_inputs(2)


def run(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    with torch.no_grad():
        return model(**inputs)


def onnx_outputs(model: nn.Module, inputs: dict[str, torch.Tensor], tmp_path: Any) -> Any:
    """Export with torch.onnx (the fast TorchScript exporter) and run it in onnxruntime."""
    import onnxruntime as ort

    path = tmp_path / "model.onnx"
    torch.onnx.export(
        model,
        tuple(inputs.values()),
        str(path),
        dynamo=False,
        input_names=list(inputs),
        output_names=["out"],
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {k: v.numpy() for k, v in inputs.items()})[0]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Tests that take `arch` run once per architecture of the table.
    if "arch" in metafunc.fixturenames:
        metafunc.parametrize("arch", ARCHS)


@pytest.fixture(name="build")
def build_fixture() -> Callable[[str], tuple[nn.Module, dict[str, torch.Tensor]]]:
    return build


@pytest.fixture(name="run")
def run_fixture() -> Callable[..., torch.Tensor]:
    return run


@pytest.fixture(name="onnx_outputs")
def onnx_outputs_fixture() -> Callable[..., Any]:
    return onnx_outputs
