"""Shared test settings: one thread per process, since CI has 2 cores for everything."""

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The architectures users write (tests/models/user_archs.py) are shared by the model, recipe
# and CLI tests; pytest runs with --import-mode=importlib, so their folder goes on the path.
USER_ARCHS = str(REPO_ROOT / "tests" / "models")
if USER_ARCHS not in sys.path:
    sys.path.insert(0, USER_ARCHS)


@pytest.fixture(scope="session", autouse=True)
def _single_thread_torch() -> None:
    if "torch" in sys.modules or os.environ.get("TINYAI_TEST_IMPORT_TORCH", "1") == "1":
        import torch

        torch.set_num_threads(1)


@pytest.fixture
def run_cli():
    """Run `python -m tinyai ARGS` as a real subprocess; returns CompletedProcess."""
    import subprocess

    def run(*args: str, input: str | None = None, env: dict | None = None):
        return subprocess.run(
            [sys.executable, "-m", "tinyai", *args],
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **(env or {})},
            timeout=600,
        )

    return run
