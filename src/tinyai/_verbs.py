"""Packages that share their name with a public verb (`tinyai.export`, `tinyai.distill`).

``tinyai.export`` is both the package and the function. Once anything imports the package,
Python binds the attribute ``tinyai.export`` to the module, shadowing the lazy verb in
tinyai/__init__.py. Making the module callable keeps ``tinyai.export(model, ...)`` working
and ``tinyai.export.ExportConfig`` too, whichever was imported first.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any


def make_package_callable(package: str, verb: Callable[..., Any]) -> None:
    """Calling the module `package` calls `verb`."""

    class _VerbModule(types.ModuleType):
        __doc__ = sys.modules[package].__doc__

        def __call__(self, *args: Any, **kwargs: Any) -> Any:
            return verb(*args, **kwargs)

    sys.modules[package].__class__ = _VerbModule
