"""bf16 only where the hardware runs it natively."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinyai.hardware import bf16_native, cpuinfo_has_bf16, use_bf16
from tinyai.train import TrainConfig, train

XEON_NO_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n"
GRAVITON3 = "Features\t: fp asimd sve bf16 i8mm\n"


@pytest.mark.parametrize(("text", "native"), [
    (XEON_NO_BF16, False), (SAPPHIRE_RAPIDS, True), (GRAVITON3, True), ("", True)])
def test_cpuinfo_flags_decide(text: str, native: bool) -> None:
    assert cpuinfo_has_bf16(text) is native


def test_a_request_is_kept_only_where_native() -> None:
    assert use_bf16(False) is False
    assert use_bf16(True) is bf16_native("cpu")


def test_training_says_when_it_falls_back(capsys: pytest.CaptureFixture[str]) -> None:
    model = nn.Linear(4, 2)
    batch = {"x": torch.randn(8, 4), "y": torch.randint(0, 2, (8,))}
    loss = lambda m, b: nn.functional.cross_entropy(m(b["x"]), b["y"])  # noqa: E731
    result = train(model, lambda epoch: [batch], TrainConfig(steps=2, bf16=True, log=True),
                   loss)
    assert result.steps == 2
    said = "training in float32" in capsys.readouterr().err
    assert said is not bf16_native("cpu")
