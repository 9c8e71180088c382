"""`tinyai export` over an existing folder: whole artifacts or nothing, and never a user's files.

Old and new artifacts come from two LeNet-300-100 sizes, told apart by their weight count.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import tinyai
from tinyai.errors import ArtifactError
from tinyai.export import ExportConfig
from tinyai.runtime import load_artifact

FAST = ExportConfig(exporter="torchscript", verify=False)
CLI_FAST = ("--task", "fashion-mnist", "--exporter", "torchscript", "--no-verify")


def _model(hidden: int):
    import torch

    from tinyai.models import LeNet300100, LeNet300100Config

    torch.manual_seed(0)
    return LeNet300100(LeNet300100Config(hidden=(hidden,))).eval()


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """(old artifact, model dir of the new model, weight count of old, of new)."""
    from tinyai.models import save_model

    root = tmp_path_factory.mktemp("sources")
    old = tinyai.export(_model(8), root / "old", task="fashion-mnist", config=FAST)
    new_dir = save_model(_model(16), root / "new-model")
    return old, new_dir, _elements(old), 784 * 16 + 16 + 16 * 10 + 10


def _elements(artifact: Path) -> int:
    return load_artifact(artifact).manifest["model"]["weights"]["elements"]


def _export_cli(model_dir: Path, out: Path, *extra: str, kill_at: str | None = None):
    env = {**os.environ, "TINYAI_TEST_KILL_AT": kill_at or ""}
    return subprocess.run(
        [sys.executable, "-m", "tinyai", "export", str(model_dir), str(out), *CLI_FAST, *extra],
        capture_output=True, text=True, input="yes\n", env=env, timeout=300,
    )


def _leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


@pytest.mark.parametrize(("phase", "expect"), [
    ("staged", "old"),  # the new artifact is written, nothing at the target has changed yet
    ("swapped", "new"),  # right after the atomic exchange: the old copy is not yet deleted
    ("cleanup", "new"),  # while the old copy is being deleted
])
def test_a_killed_export_leaves_a_whole_artifact_and_the_next_one_cleans_up(
    tmp_path, sources, phase, expect
):
    old, new_model, old_elements, new_elements = sources
    target = Path(shutil.copytree(old, tmp_path / "out" / "art"))
    proc = _export_cli(new_model, target, kill_at=phase)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _leftovers(target), "a killed export leaves its hidden folder behind"
    assert _elements(target) == {"old": old_elements, "new": new_elements}[expect]
    tinyai.export(_model(16), target, task="fashion-mnist", config=FAST)
    assert _elements(target) == new_elements
    assert _leftovers(target) == []


KILL_BETWEEN_RENAMES = """
import shutil, sys
from pathlib import Path
from tinyai import atomic
target, new = Path(sys.argv[1]), Path(sys.argv[2])
staging = atomic.staging_dir(target)
shutil.copytree(new, staging, dirs_exist_ok=True)
atomic.move_aside_then_rename(staging, target)  # where renameat2 cannot exchange
"""


def test_a_kill_between_the_fallbacks_two_renames_is_undone_by_the_next_reader(
    tmp_path, sources
):
    old, _, old_elements, new_elements = sources
    new = tinyai.export(_model(16), tmp_path / "new", task="fashion-mnist", config=FAST)
    target = Path(shutil.copytree(old, tmp_path / "out" / "art"))
    proc = subprocess.run(
        [sys.executable, "-c", KILL_BETWEEN_RENAMES, str(target), str(new)],
        env={**os.environ, "TINYAI_TEST_KILL_AT": "aside"}, capture_output=True, timeout=120,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not target.exists() and len(_leftovers(target)) == 2  # old aside, new staged
    assert _elements(target) == old_elements  # load_artifact put the old one back
    tinyai.export(_model(16), target, task="fashion-mnist", config=FAST)
    assert _elements(target) == new_elements and _leftovers(target) == []


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _one_line_refusal(proc, reason: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.strip().count("\n") == 0
    assert reason in proc.stderr


@pytest.mark.parametrize("force", [False, True])
def test_a_foreign_folder_is_never_replaced(tmp_path, sources, force):
    _, new_model, _, _ = sources
    webapp = tmp_path / "webapp"
    (webapp / "icons").mkdir(parents=True)
    (webapp / "manifest.json").write_text('{"name": "My PWA", "start_url": "/"}')
    (webapp / "index.html").write_text("<h1>mine</h1>")
    (webapp / "icons" / "192.png").write_bytes(b"\x89PNG...")
    before = _snapshot(webapp)
    proc = _export_cli(new_model, webapp, *(["--force"] if force else []))
    _one_line_refusal(proc, "was not written by tinyai")
    assert _snapshot(webapp) == before and _leftovers(webapp) == []


def test_an_artifact_with_a_users_file_needs_force(tmp_path, sources):
    old, new_model, _, new_elements = sources
    target = Path(shutil.copytree(old, tmp_path / "art"))
    (target / "NOTES.md").write_text("my measurements")
    before = _snapshot(target)
    _one_line_refusal(_export_cli(new_model, target), "did not write (NOTES.md)")
    assert _snapshot(target) == before and _leftovers(target) == []
    proc = _export_cli(new_model, target, "--force")
    assert proc.returncode == 0, proc.stderr
    assert not (target / "NOTES.md").exists() and _elements(target) == new_elements


def test_a_tampered_artifact_is_not_ours_to_replace(tmp_path, sources):
    """Only a sealed manifest proves tinyai wrote the folder."""
    old, _, _, _ = sources
    target = Path(shutil.copytree(old, tmp_path / "art"))
    manifest = target / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"fashion-mnist"', '"mine"', 1))
    with pytest.raises(ArtifactError, match="was not written by tinyai"):
        tinyai.export(_model(16), target, task="fashion-mnist", config=FAST, force=True)


def test_an_artifact_from_before_manifests_were_sealed_is_still_replaced(tmp_path, sources):
    old, _, _, new_elements = sources
    target = Path(shutil.copytree(old, tmp_path / "art"))
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["format_version"] = 1
    del manifest["digest"]
    (target / "manifest.json").write_text(json.dumps(manifest))
    tinyai.export(_model(16), target, task="fashion-mnist", config=FAST)
    assert _elements(target) == new_elements
