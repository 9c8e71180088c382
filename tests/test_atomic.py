"""tinyai.atomic: directories are replaced whole or not at all, and never when they are not ours.

A tiny "owned directory" convention stands in for the artifact's manifest: a folder is ours
when it holds OWNED.txt listing its files.
"""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tinyai import atomic
from tinyai.errors import TinyAIError

MARK = "OWNED.txt"


def _write_owned(folder: Path, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / MARK).write_text("\n".join(files))
    return folder


def _unknown_files(folder: Path) -> list[str] | None:
    if not (folder / MARK).is_file():
        return None
    listed = set((folder / MARK).read_text().split()) | {MARK}
    return sorted(set(os.listdir(folder)) - listed)


def _stage(target: Path, text: str) -> Path:
    staging = atomic.staging_dir(target)
    _write_owned(staging, **{"data.txt": text})
    return staging


def _siblings(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name != target.name)


def test_new_and_owned_targets_are_replaced_whole(tmp_path):
    target = tmp_path / "out"
    atomic.replace_dir(_stage(target, "one"), target, _unknown_files)
    assert (target / "data.txt").read_text() == "one"
    atomic.replace_dir(_stage(target, "two"), target, _unknown_files)
    assert (target / "data.txt").read_text() == "two"
    assert _siblings(target) == []  # the swapped-out copy is gone
    # staging folders get the umask's mode, not mkdtemp's 0700
    assert target.stat().st_mode & 0o777 == 0o777 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_foreign_folder_is_never_replaced_even_with_force(tmp_path):
    target = tmp_path / "webapp"
    target.mkdir()
    (target / "manifest.json").write_text('{"name": "my web app"}')
    staging = _stage(target, "new")
    for force in (False, True):
        with pytest.raises(TinyAIError, match="not written by tinyai") as info:
            atomic.replace_dir(staging, target, _unknown_files, force=force)
        assert "\n" not in str(info.value)
    assert os.listdir(target) == ["manifest.json"]


def test_extra_user_files_need_force(tmp_path):
    target = _write_owned(tmp_path / "out", **{"data.txt": "old"})
    (target / "notes.md").write_text("mine")
    with pytest.raises(TinyAIError, match=r"did not write \(notes\.md\).*--force"):
        atomic.replace_dir(_stage(target, "new"), target, _unknown_files)
    assert (target / "notes.md").read_text() == "mine"
    atomic.replace_dir(_stage(target, "new"), target, _unknown_files, force=True)
    assert (target / "data.txt").read_text() == "new" and not (target / "notes.md").exists()


def test_a_file_or_link_at_the_target_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(_write_owned(tmp_path / "real", **{"data.txt": "x"}))
    for name in ("file", "link"):
        with pytest.raises(TinyAIError, match="not a directory"):
            atomic.check_replaceable(tmp_path / name, _unknown_files)
    assert (tmp_path / "real" / "data.txt").read_text() == "x"


def test_the_fallback_restores_the_old_copy_when_the_second_rename_fails(tmp_path):
    target = _write_owned(tmp_path / "out", **{"data.txt": "old"})
    with pytest.raises(OSError):
        atomic.move_aside_then_rename(tmp_path / "no-such-staging", target)
    assert (target / "data.txt").read_text() == "old" and _siblings(target) == []


def test_the_fallback_swaps_when_directories_cannot_be_exchanged(tmp_path):
    target = _write_owned(tmp_path / "out", **{"data.txt": "old"})
    atomic.move_aside_then_rename(_stage(target, "new"), target)
    assert (target / "data.txt").read_text() == "new" and _siblings(target) == []


KILL_SCRIPT = """
import sys
from pathlib import Path
from tinyai import atomic
sys.path.insert(0, {tests!r})
from test_atomic import _stage, _unknown_files
target = Path(sys.argv[1])
staging = _stage(target, "new")
if sys.argv[2] == "fallback":
    atomic.move_aside_then_rename(staging, target)
else:
    atomic.replace_dir(staging, target, _unknown_files)
"""


@pytest.mark.parametrize(
    ("phase", "path"),
    [("staged", "exchange"), ("swapped", "exchange"), ("cleanup", "exchange"),
     ("aside", "fallback"), ("cleanup", "fallback")],
)
def test_a_kill_at_any_phase_leaves_old_or_new_and_the_next_run_cleans_up(tmp_path, phase, path):
    target = _write_owned(tmp_path / "out", **{"data.txt": "old", "more.txt": "old"})
    script = KILL_SCRIPT.format(tests=str(Path(__file__).parent))
    proc = subprocess.run(
        [sys.executable, "-c", script, str(target), path],
        env={**os.environ, "TINYAI_TEST_KILL_AT": phase},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert _siblings(target), "the killed run left its folder behind"
    atomic.recover(target)  # what readers (load_artifact) do first
    assert (target / "data.txt").read_text() in ("old", "new")
    assert _unknown_files(target) == []
    atomic.replace_dir(_stage(target, "next"), target, _unknown_files)
    assert (target / "data.txt").read_text() == "next"
    assert _siblings(target) == []


def test_leftovers_of_live_processes_are_kept(tmp_path):
    target = tmp_path / "out"
    mine = atomic.staging_dir(target)  # this process is alive
    other = atomic.staging_dir(target)
    assert mine.exists() and other.exists() and mine != other
    assert mine.name.startswith(f".out.partial-{os.getpid()}-")


def test_an_unwritable_parent_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TinyAIError, match="cannot write in") as info:
        atomic.staging_dir(blocker / "out")
    assert "\n" not in str(info.value)


def test_write_bytes_keeps_the_umask_mode_and_leaves_no_temporary(tmp_path):
    path = atomic.write_text(tmp_path / "a.json", "{}")
    assert path.read_text() == "{}"
    assert path.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert os.listdir(tmp_path) == ["a.json"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="renameat2 is Linux's")
def test_linux_swaps_two_directories_in_one_step(tmp_path):
    a = _write_owned(tmp_path / "a", **{"data.txt": "a"})
    b = _write_owned(tmp_path / "b", **{"data.txt": "b"})
    assert atomic._exchange(a, b)  # glibc >= 2.28 on a filesystem that supports it
    assert (a / "data.txt").read_text() == "b" and (b / "data.txt").read_text() == "a"
