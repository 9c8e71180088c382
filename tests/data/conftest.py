from pathlib import Path

import pytest

from tinyai.paths import data_root


@pytest.fixture(scope="session")
def real_root() -> Path:
    """The real data root (resolved before any test re-points TINYAI_DATA)."""
    return data_root()


@pytest.fixture
def fake_root(real_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty data root that TINYAI_DATA points at; tests put (damaged) copies in it."""
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("TINYAI_DATA", str(root))
    monkeypatch.setenv("TINYAI_CACHE", str(tmp_path / "cache"))
    return root
