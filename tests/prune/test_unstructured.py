"""Unstructured magnitude pruning over the architecture table: masks hold, zeros ship."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from tinyai.errors import ConfigError
from tinyai.prune import (
    AGPSchedule,
    GradualPruner,
    MagnitudePruning,
    copy_model,
    make_permanent,
    masks,
    prune_,
    sparsity,
)
from tinyai.prune.masks import prunable_weights


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_masks_hold_through_training_and_become_permanent(
    arch: str, scope: str, build, run, onnx_outputs, tmp_path
) -> None:
    model, inputs = build(arch)
    prune_(model, MagnitudePruning(sparsity=0.8, scope=scope), example_inputs=inputs)
    assert sparsity(model)["__total__"] == pytest.approx(0.8, abs=1e-3)
    if scope == "layer":
        assert all(abs(s - 0.8) < 1e-2 for n, s in sparsity(model).items() if n != "__total__")
    held = masks(model)

    # Momentum and weight decay move masked entries of weight_orig; the weight used in the
    # forward pass must stay exactly zero anyway.
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.1)
    for _ in range(2):
        optimizer.zero_grad()
        model(**inputs).float().pow(2).mean().backward()
        optimizer.step()
    model.eval()
    for full, module, attr in prunable_weights(model):
        weight = getattr(module, attr)
        assert torch.all(weight[held[full] == 0] == 0), full

    make_permanent(model)
    assert not masks(model)
    assert sparsity(model)["__total__"] >= 0.8 - 1e-3
    # No -0.0 left: an empty weight is all-zero bits, which is what the codec skips.
    for _, module, attr in prunable_weights(model):
        assert not torch.signbit(getattr(module, attr)[getattr(module, attr) == 0]).any()
    np.testing.assert_allclose(
        onnx_outputs(model, inputs, tmp_path), run(model, inputs).numpy(), rtol=1e-4, atol=1e-5
    )


def test_saved_form_is_compact_and_exact(build, run, tmp_path) -> None:
    from tinyai.models import load_model, save_model

    model, inputs = build("mlp")
    dense_dir = save_model(model, tmp_path / "dense")
    prune_(model, MagnitudePruning(sparsity=0.9, scope="global"))
    out = save_model(make_permanent(copy_model(model)), tmp_path / "sparse")
    ratio = (dense_dir / "model.safetensors").stat().st_size / (
        out / "model.safetensors"
    ).stat().st_size
    assert ratio > 5, ratio
    loaded = load_model(out)
    torch.testing.assert_close(run(loaded, inputs), run(model, inputs), rtol=0, atol=0)
    # Saved with its masks still held, it reloads with them held: fine-tuning resumes exactly.
    held = load_model(save_model(model, tmp_path / "held"))
    assert masks(held).keys() == masks(model).keys()
    assert all(torch.equal(masks(held)[k], v) for k, v in masks(model).items())


def test_exported_artifact_stores_sparse_weights(build, tmp_path) -> None:
    from tinyai.export import ExportConfig, export
    from tinyai.runtime import load_artifact

    model, inputs = build("mlp")
    fast = ExportConfig(exporter="torchscript")
    dense = export(model, tmp_path / "dense", "fashion-mnist", config=fast)
    prune_(model, MagnitudePruning(sparsity=0.9, scope="global"))
    make_permanent(model)
    sparse = export(model, tmp_path / "sparse", "fashion-mnist", config=fast)

    def size(path):
        return sum(f.stat().st_size for f in path.iterdir() if f.name != "manifest.json")

    assert size(dense) / size(sparse) > 5
    logits = load_artifact(sparse).run({"pixel_values": inputs["pixel_values"].numpy()})
    np.testing.assert_allclose(logits, model(**inputs).detach().numpy(), rtol=1e-4, atol=1e-5)


def test_agp_schedule_is_cubic_and_monotone() -> None:
    schedule = AGPSchedule(initial_sparsity=0.0, start_step=0, end_step=100, frequency=10)
    values = [schedule.sparsity_at(t, 0.9) for t in range(0, 130)]
    assert values[0] == 0.0 and values[100] == values[129] == 0.9
    assert all(b >= a for a, b in itertools.pairwise(values))
    # Zhu & Gupta: s_t = s_f + (s_i - s_f)(1 - t/T)^3, held between updates.
    assert values[55] == pytest.approx(0.9 * (1 - (1 - 0.5) ** 3))
    assert len(set(values[50:60])) == 1


def test_gradual_pruner_reaches_target_in_a_user_loop(build) -> None:
    model, inputs = build("cnn-res-dw")
    config = MagnitudePruning(
        sparsity=0.9, scope="global", schedule=AGPSchedule(start_step=0, end_step=6, frequency=2)
    )
    with pytest.raises(ConfigError, match="GradualPruner"):
        prune_(model, config)
    pruner = GradualPruner(model, config)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    seen = []
    model.train()
    hook = pruner.hook()
    for _ in range(8):
        hook()
        optimizer.zero_grad()
        model(**inputs).logsumexp(-1).mean().backward()
        optimizer.step()
        seen.append(sparsity(model)["__total__"])
    assert seen == sorted(seen) and seen[0] < 0.5
    assert seen[-1] == pytest.approx(0.9, abs=1e-3)


def test_include_exclude_and_layer_overrides(build) -> None:
    model, _ = build("mlp")
    config = MagnitudePruning(
        sparsity=0.5, exclude=("layers.5.*",), layer_sparsity={"layers.1.weight": 0.95}
    )
    prune_(model, config)
    s = sparsity(model)
    assert s["layers.5.weight"] == 0.0  # excluded: left dense
    assert s["layers.1.weight"] == pytest.approx(0.95, abs=1e-3)
    assert s["layers.3.weight"] == pytest.approx(0.5, abs=1e-3)
    with pytest.raises(ConfigError, match="no weights match"):
        prune_(model, MagnitudePruning(include=("nothing.*",)))


def test_config_validation_and_json_round_trip() -> None:
    config = MagnitudePruning(sparsity=0.9, scope="global", schedule=AGPSchedule(end_step=500))
    assert MagnitudePruning.from_json(config.to_json()) == config
    with pytest.raises(ValueError, match="sparsity"):
        MagnitudePruning(sparsity=1.0)
    with pytest.raises(ValueError, match="scope"):
        MagnitudePruning(scope="row")
    with pytest.raises(ValueError, match="start_step"):
        AGPSchedule(start_step=10, end_step=5)
