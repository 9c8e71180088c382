"""A user-written module holding torch's attention layers, quantized and saved: the
``unfused-attention`` record makes a fresh instance unfuse the same paths on load, before
the quantized layers replace its Linears (issue #14)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from user_archs import TinyViT

import tinyai
from tinyai.errors import ModelError
from tinyai.models import load_model, save_model
from tinyai.models.calling import call_model
from tinyai.models.unfused import Attention, EncoderLayer
from tinyai.prune import StructuredPruning, prune_
from tinyai.quantize import Int8Dynamic, Int8Static, WeightOnly, quantize_
from tinyai.tasks.spec import TaskSpec, build_task

IMAGES = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def _vit() -> TinyViT:
    torch.manual_seed(0)
    return TinyViT().eval()


def _outputs(model: nn.Module, inputs: torch.Tensor = IMAGES) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(inputs)


def _int8_dynamic(model: nn.Module) -> None:
    quantize_(model, Int8Dynamic())


def _int8_static(model: nn.Module) -> None:
    quantize_(model, Int8Static(step="prepare"))
    _outputs(model)  # calibration: the observers see real activations
    quantize_(model, Int8Static(step="convert"))


def _int4(model: nn.Module) -> None:
    quantize_(model, WeightOnly(bits=4, group_size=16))


SCHEMES: dict[str, Callable[[nn.Module], None]] = {
    "int8-dynamic": _int8_dynamic, "int8-static": _int8_static, "int4": _int4}


def _types(model: nn.Module) -> list[tuple[str, str]]:
    return [(name, type(m).__name__) for name, m in model.named_modules()]


@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_a_quantized_vit_reloads_into_a_fresh_instance(tmp_path: Path, scheme: str) -> None:
    model = _vit()
    SCHEMES[scheme](model)
    save_model(model, tmp_path / "m")
    records = json.loads((tmp_path / "m" / "structure.json").read_text())["records"]
    kinds = [r["type"] for r in records]
    # unfusing first: the quantized-layers record replaces the Linears it makes
    assert kinds.index("unfused-attention") < kinds.index("quantized-layers")
    unfused = records[kinds.index("unfused-attention")]
    assert unfused["encoder_layers"] == ["encoder.layers.0", "encoder.layers.1"]
    assert unfused["attention"] == [{"name": f"encoder.layers.{i}.self_attn", "packed": True}
                                    for i in range(2)]
    fresh = TinyViT()
    assert isinstance(fresh.encoder.layers[0].self_attn, nn.MultiheadAttention)
    loaded = load_model(tmp_path / "m", into=fresh)
    assert loaded is fresh and _types(loaded) == _types(model)
    assert isinstance(loaded.encoder.layers[1], EncoderLayer)
    assert not loaded.encoder.use_nested_tensor
    torch.testing.assert_close(_outputs(loaded), _outputs(model), rtol=0, atol=0)
    # an instance already unfused and quantized (a model loaded before) loads again too
    again = load_model(tmp_path / "m", into=load_model(tmp_path / "m", into=TinyViT()))
    torch.testing.assert_close(_outputs(again), _outputs(model), rtol=0, atol=0)


def test_a_pruned_and_quantized_vit_reloads_into_a_fresh_instance(tmp_path: Path) -> None:
    """The pruning plan (BASE) narrows torch's fused attention, which is then unfused
    (LAYERS) and quantized: the order the model went through."""
    model = _vit()
    prune_(model, StructuredPruning(ratio=0.5), example_inputs={"pixel_values": IMAGES[:1]})
    assert model.encoder.layers[0].self_attn.embed_dim < 32  # the attention was narrowed
    quantize_(model, Int8Dynamic())
    save_model(model, tmp_path / "m")
    kinds = [r["type"] for r in
             json.loads((tmp_path / "m" / "structure.json").read_text())["records"]]
    assert kinds == ["pruning-plan", "unfused-attention", "quantized-layers"]
    loaded = load_model(tmp_path / "m", into=TinyViT())
    assert _types(loaded) == _types(model)
    narrowed = model.encoder.layers[0].self_attn.embed_dim
    assert loaded.encoder.layers[0].self_attn.embed_dim == narrowed
    torch.testing.assert_close(_outputs(loaded), _outputs(model), rtol=0, atol=0)


class CrossAttender(nn.Module):
    """nn.MultiheadAttention used directly, queries from one input, keys from another: it
    unfuses unpacked (q_proj / k_proj / v_proj)."""

    def __init__(self) -> None:
        super().__init__()
        self.attend = nn.MultiheadAttention(16, 2, batch_first=True)
        self.head = nn.Linear(16, 3)

    def forward(self, queries: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        out, _ = self.attend(queries, memory, memory)
        return self.head(out.mean(dim=1))


def test_unpacked_attention_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = CrossAttender().eval()
    quantize_(model, Int8Dynamic())
    assert isinstance(model.attend, Attention) and not model.attend.packed
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", into=CrossAttender())
    assert _types(loaded) == _types(model)
    queries, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    with torch.no_grad():
        torch.testing.assert_close(loaded(queries, memory), model(queries, memory),
                                   rtol=0, atol=0)


def test_a_record_naming_another_layer_is_refused_in_one_line(tmp_path: Path) -> None:
    model = _vit()
    quantize_(model, Int8Dynamic())
    save_model(model, tmp_path / "m")
    structure = tmp_path / "m" / "structure.json"
    data = json.loads(structure.read_text())
    data["records"][0]["attention"][0]["name"] = "head"  # a Linear, not an attention
    structure.write_text(json.dumps(data))
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "m", into=TinyViT())
    message = str(info.value)
    assert "\n" not in message
    assert "record 0 (unfused-attention) does not apply to this model" in message
    assert "'head' is a Linear, not a MultiheadAttention" in message


TASK = {"name": "fashion-mnist", "limit": {"train": 64, "test": 32}}
RECIPE: dict[str, Any] = {
    "version": 1,
    "name": "given-vit",
    "task": TASK,
    "teacher": {"given": True},
    "stages": [
        {"finetune": {}, "train": {"steps": 4, "lr": 1e-3, "batch_size": 16}},
        {"int8-dynamic": {}},
        {"export": {}},
    ],
    "measure": {"latency": False, "every_stage": False, "teacher": False},
}


def test_a_given_vit_goes_through_an_int8_recipe(tmp_path: Path) -> None:
    run = tmp_path / "run"
    metrics = tinyai.compress(RECIPE, run, teacher=_vit())
    assert [s.technique for s in metrics.stages] == ["load", "finetune", "int8-dynamic",
                                                     "export"]
    final = metrics.final()
    assert final is not None and final.measure is not None and final.measure.bytes > 0
    model = load_model(run / "stages" / "03-export" / "model", into=TinyViT())
    assert isinstance(model.encoder.layers[0].self_attn, Attention)
    assert any(type(m).__name__ == "QuantizedLinear" for m in model.modules())
    task = build_task(TaskSpec(**TASK))
    batch = next(task.numpy_batches(task.eval_split, 16))
    produced = tinyai.load_artifact(run / "artifact").run(batch)
    with torch.no_grad():
        expected = call_model(model, {k: torch.from_numpy(batch[k]) for k in task.input_names})
    np.testing.assert_allclose(produced, expected.numpy(), atol=1e-4, rtol=1e-4)


def test_a_prepared_vit_is_still_refused(tmp_path: Path) -> None:
    """The unfused layers are recorded; the observers inside them are not (not converted)."""
    model = _vit()
    quantize_(model, Int8Static(step="prepare"))
    with pytest.raises(ModelError, match=r"^cannot save TinyViT: its layer .* would not be "
                       r"rebuilt on load; finish the technique first"):
        save_model(model, tmp_path / "m")
