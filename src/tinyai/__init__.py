"""tinyai: shrink PyTorch models for on-device inference.

Importing this package is cheap and has no side effects: the public verbs below are
resolved on first use, so ``import tinyai`` does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "summary": "tinyai.measure.summary",
    "load_model": "tinyai.models",
    "save_model": "tinyai.models",
    "export": "tinyai.export",
    "evaluate": "tinyai.measure.evaluate",
    "bench": "tinyai.runtime.bench",
    "load_artifact": "tinyai.runtime",
    "finetune": "tinyai.distill",
    "distill": "tinyai.distill",
    "prune_": "tinyai.prune",
    "quantize_": "tinyai.quantize",
    "compress": "tinyai.recipe.runner",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tinyai' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
