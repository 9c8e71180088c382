"""`tinyai quantize MODEL OUT --task TASK --scheme SCHEME`: quantize and write the artifact.

The artifact's ONNX graph runs ONNX Runtime's integer kernels (DynamicQuantizeMatMul,
QuantizeLinear + MatMulIntegerToFloat, MatMulNBits, GatherBlockQuantized). Static int8
calibrates on the first --calibration examples of the task's training split.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

SCHEMES = ("int8-dynamic", "int8-static", "int4", "int2")


def _config(
    scheme: str, observer: str, group_size: int, exclude: list[str], step: str = "prepare"
) -> Any:
    from tinyai.errors import ConfigError
    from tinyai.quantize import Int8Dynamic, Int8Static, WeightOnly

    excl = tuple(exclude)
    if scheme == "int8-dynamic":
        return Int8Dynamic(exclude=excl)
    if scheme == "int8-static":
        return Int8Static(exclude=excl, observer=observer, step=step)
    if scheme in ("int4", "int2"):
        return WeightOnly(exclude=excl, bits=int(scheme[-1]), group_size=group_size)
    raise ConfigError(f"unknown scheme {scheme!r}; choose one of {', '.join(SCHEMES)}")


def _calibrate(model: Any, task: Any, examples: int) -> None:
    import numpy as np
    import torch

    data = task.dataset("train")
    data = data.subset(np.arange(min(examples, len(data))))
    with torch.no_grad():
        for batch in task.batches(data, 32):
            model(**task.model_inputs(batch))


def quantize(
    model: str = typer.Argument(
        ..., help="A tinyai model directory, a Hugging Face directory or a short name."
    ),
    out: Path = typer.Argument(..., help="Artifact directory to write."),
    task: str = typer.Option(..., "--task", "-t", help="Task name, e.g. sst2, fashion-mnist."),
    scheme: str = typer.Option("int8-dynamic", help=f"One of {', '.join(SCHEMES)}."),
    observer: str = typer.Option(
        "percentile", help="int8-static: minmax, percentile, mse or entropy."
    ),
    calibration: int = typer.Option(
        256, help="int8-static: calibration examples from the train split."
    ),
    group_size: int = typer.Option(32, help="int4/int2: weights per scale."),
    exclude: list[str] = typer.Option(
        [], help="Layer name patterns to keep in float (repeatable)."
    ),
) -> None:
    """Quantize MODEL and export it for TASK as an artifact that runs integer kernels."""
    from tinyai.cli.export import task_for
    from tinyai.export import export as export_artifact
    from tinyai.models import load_model
    from tinyai.quantize import quantize_

    config = _config(scheme, observer, group_size, exclude)  # a bad scheme fails before loading
    task_obj = task_for(task, model)
    loaded = load_model(model).eval()
    quantize_(loaded, config)
    if scheme == "int8-static":
        _calibrate(loaded, task_obj, calibration)
        config = _config(scheme, observer, group_size, exclude, step="convert")
        quantize_(loaded, config)
    history = [{"technique": "quantize", "scheme": scheme, "config": config.to_dict()}]
    path = export_artifact(loaded, out, task=task_obj, history=history)
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    typer.echo(f"wrote {path}: {size:,} bytes ({scheme})")


def register(app: typer.Typer) -> None:
    app.command()(quantize)
