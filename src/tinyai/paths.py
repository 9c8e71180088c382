"""Where data and caches live.

The data root is `TINYAI_DATA` if set, else ``../shared/data`` beside the repository (the
layout this project is developed in). Caches go to the user cache directory (or
`TINYAI_CACHE`), never into the repository.
"""

from __future__ import annotations

import os
from pathlib import Path

from tinyai.errors import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]  # a checkout: recipes/, ../shared/data
FASHION_MNIST_DEFAULT = Path("/usr/share/datasets/fashion-mnist")


def data_root() -> Path:
    """The folder holding glue/, tinyshakespeare/ and speech_commands_test_v0.02/."""
    env = os.environ.get("TINYAI_DATA")
    root = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        how = "TINYAI_DATA points to" if env else "the default data root"
        raise DataError(
            f"{how} {root}, which is not a directory; "
            "set TINYAI_DATA to the folder that holds glue/, tinyshakespeare/ "
            "and speech_commands_test_v0.02/"
        )
    return root


def data_file(*parts: str) -> Path:
    """A file under the data root; a missing file is one clear error naming it."""
    path = data_root().joinpath(*parts)
    if not path.is_file():
        raise DataError(
            f"missing data file {path}; restore it from shared/data "
            "(see its PROVENANCE.md) or point TINYAI_DATA at a complete copy"
        )
    return path


def fashion_mnist_dir() -> Path:
    env = os.environ.get("TINYAI_FASHION_MNIST")
    root = Path(env).expanduser() if env else FASHION_MNIST_DEFAULT
    if not (root / "train-images-idx3-ubyte.gz").is_file():
        raise DataError(
            f"Fashion-MNIST not found in {root}; run 'make setup' (installs Debian's "
            "dataset-fashion-mnist) or set TINYAI_FASHION_MNIST to a folder with the idx .gz files"
        )
    return root


def cache_dir(*parts: str) -> Path:
    """A per-user cache folder (decoded features, teacher outputs), created on demand."""
    env = os.environ.get("TINYAI_CACHE")
    if env:
        base = Path(env).expanduser()
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "tinyai"
    path = base.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def why_not_a_file(path: Path) -> str | None:
    """Why `path` cannot be read as a regular file ("is a folder", "does not exist", ...);
    None when it can. Devices and pipes are refused: /dev/zero would be read forever."""
    if path.is_file():
        return None
    if path.is_dir():
        return "is a folder, not a file"
    return "is not a regular file" if path.exists() else "does not exist"
