"""A user-written nn.Module in a model directory: saved like tinyai's own models, loaded only
into an instance the caller builds (`load_model(DIR, into=Net())`), never by importing the
class the directory names (issue #14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from user_archs import SmallCNN

from tinyai.errors import ModelError
from tinyai.models import load_model, save_model
from tinyai.models.dir import is_user_module, user_module_class
from tinyai.models.dir.weights import read_weights
from tinyai.prune import MagnitudePruning, StructuredPruning, prune_
from tinyai.quantize import Int8Dynamic, Int8Static, quantize_


class OtherNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


IMAGES = torch.randn(4, 1, 12, 12, generator=torch.Generator().manual_seed(0))


def _trained() -> SmallCNN:
    torch.manual_seed(0)
    model = SmallCNN()
    with torch.no_grad():  # stand-in for training: distinct weights and statistics
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.1)
        model.bn1.running_mean.uniform_(-0.2, 0.2)
    return model.eval()


def _outputs(model: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(IMAGES)


def test_a_user_module_round_trips_through_its_directory(tmp_path: Path) -> None:
    model = _trained()
    assert is_user_module(model) and not is_user_module(nn.Linear(2, 2))
    save_model(model, tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config == {"_type": "user-module", "module": SmallCNN.__module__,
                      "qualname": "SmallCNN"}
    assert user_module_class(tmp_path / "m") == f"{SmallCNN.__module__}.SmallCNN"
    fresh = SmallCNN()
    loaded = load_model(tmp_path / "m", into=fresh)
    assert loaded is fresh and not loaded.training
    assert torch.equal(_outputs(loaded), _outputs(model))


def test_pruned_and_quantized_user_module_reloads_into_a_fresh_instance(
        tmp_path: Path) -> None:
    """Channels removed (a plan replayed on the unpruned widths) and int8 layers rebuilt
    from their records: a fresh SmallCNN() becomes the saved model."""
    model = _trained()
    prune_(model, StructuredPruning(ratio=0.5), example_inputs={"pixel_values": IMAGES[:1]})
    assert model.fc.in_features < 16  # channels were removed
    quantize_(model, Int8Dynamic())
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", into=SmallCNN())
    assert [type(m).__name__ for m in loaded.modules()] == [
        type(m).__name__ for m in model.modules()]
    assert torch.equal(_outputs(loaded), _outputs(model))
    # an instance already in the saved structure (the in-memory model's own kind) loads too:
    # the plan it carries is not applied twice
    again = load_model(tmp_path / "m", into=load_model(tmp_path / "m", into=SmallCNN()))
    assert torch.equal(_outputs(again), _outputs(model))


def test_held_masks_and_tied_state_come_back(tmp_path: Path) -> None:
    model = _trained()
    prune_(model, MagnitudePruning(sparsity=0.5))  # masks held, as while training
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", into=SmallCNN())
    assert torch.equal(loaded.fc.weight_mask, model.fc.weight_mask)
    assert torch.equal(_outputs(loaded), _outputs(model))
    stored = read_weights(tmp_path / "m" / "model.safetensors")
    assert set(stored) == set(model.state_dict())


def test_load_without_into_names_the_class_in_one_line(tmp_path: Path) -> None:
    save_model(_trained(), tmp_path / "m")
    with pytest.raises(ModelError) as info:
        load_model(tmp_path / "m")
    message = str(info.value)
    assert "\n" not in message
    assert message == (f"{tmp_path / 'm'} holds a user-written nn.Module "
                       f"({SmallCNN.__module__}.SmallCNN); load it into an instance: "
                       f"load_model({str(tmp_path / 'm')!r}, into=SmallCNN(...))")


def test_into_of_another_class_or_a_tinyai_dir_is_refused(tmp_path: Path) -> None:
    from tinyai.models import LeNet300100, LeNet300100Config

    save_model(_trained(), tmp_path / "m")
    with pytest.raises(ModelError, match=r"holds a .*SmallCNN, not a .*OtherNet; load it into "
                       r"an instance of SmallCNN$"):
        load_model(tmp_path / "m", into=OtherNet())
    save_model(LeNet300100(LeNet300100Config(hidden=(8,))), tmp_path / "lenet")
    with pytest.raises(ModelError, match=r"holds a tinyai model, not a user-written nn\.Module"):
        load_model(tmp_path / "lenet", into=SmallCNN())


def test_a_prepared_but_unconverted_quantization_is_refused(tmp_path: Path) -> None:
    """Observers no record rebuilds: SmallCNN() could not become this model on load."""
    model = _trained()
    quantize_(model, Int8Static(step="prepare"))
    with pytest.raises(ModelError, match=r"^cannot save SmallCNN: its layer .* would not be "
                       r"rebuilt on load; finish the technique first"):
        save_model(model, tmp_path / "m")
    assert not (tmp_path / "m").exists()


MARKER_MODULE = "import pathlib\npathlib.Path({marker!r}).write_text('imported')\n" \
    "import os\nclass Net:\n    pass\nsystem = os.system\n"


@pytest.mark.parametrize(("module", "qualname"), [("os", "system"), ("planted", "Net"),
                                                   ("planted", "system")])
def test_a_directory_never_imports_what_it_names(tmp_path: Path, module: str,
                                                 qualname: str) -> None:
    """config.json naming os.system or a planted module: the real CLI (a subprocess, the
    planted module importable on its path) refuses in one line, imports and calls nothing."""
    save_model(_trained(), tmp_path / "m")
    marker = tmp_path / "marker"
    code = tmp_path / "code"
    code.mkdir()
    (code / "planted.py").write_text(MARKER_MODULE.format(marker=str(marker)))
    config = {"_type": "user-module", "module": module, "qualname": qualname}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    # were os.system called with this directory's name as a command, it would write the marker
    proc = subprocess.run([sys.executable, "-m", "tinyai", "summary", str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              [str(code), os.environ.get("PYTHONPATH", "")])})
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"user-written nn.Module ({module}.{qualname})" in lines[0]
    assert not marker.exists()
