from pathlib import Path

import pytest

from tinyai import paths
from tinyai.errors import DataError


def test_default_data_root_is_shared_data_beside_repo(monkeypatch) -> None:
    monkeypatch.delenv("TINYAI_DATA", raising=False)
    root = paths.data_root()
    assert (root / "PROVENANCE.md").is_file()


def test_env_var_overrides_and_bad_root_is_one_line(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TINYAI_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        paths.data_root()
    assert "TINYAI_DATA" in str(err.value) and "\n" not in str(err.value)


def test_missing_file_names_the_file(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TINYAI_DATA", str(tmp_path))
    with pytest.raises(DataError, match=r"glue/SST-2/dev\.tsv"):
        paths.data_file("glue", "SST-2", "dev.tsv")


def test_cache_dir_is_outside_repo(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TINYAI_CACHE", str(tmp_path))
    assert paths.cache_dir("x").is_dir()
    assert paths.cache_dir("x").parent == tmp_path
