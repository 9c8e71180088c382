"""Report tests: the browser harness (tests/browser.py) and the run fixtures (runs.py) are
importable (pytest runs with --import-mode=importlib); each report drawn once per session."""

import sys
from pathlib import Path

import pytest

for folder in (Path(__file__).resolve().parent, Path(__file__).resolve().parents[1]):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from runs import sst2_run, write_run  # noqa: E402


@pytest.fixture(scope="session")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two runs of one task: the SST-2 story (2-layer student) and a 3-layer variant."""
    root = tmp_path_factory.mktemp("runs")
    return (write_run(root / "sst2", sst2_run()),
            write_run(root / "sst2-l3", sst2_run(student_layers=3, width=384, shift=0.006)))


@pytest.fixture(scope="session")
def single_report(run_dirs: tuple[Path, Path]) -> Path:
    from tinyai.report import write_report

    return write_report([run_dirs[0]], run_dirs[0])


@pytest.fixture(scope="session")
def compared_report(run_dirs: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tinyai.report import write_report

    return write_report(list(run_dirs), tmp_path_factory.mktemp("compared"))
