"""`tinyai quantize MODEL OUT --task TASK --scheme SCHEME`: quantize and write the artifact.

    tinyai quantize runs/student runs/student-int8 --task sst2 --scheme int8-static
    tinyai quantize runs/student runs/student-int4 --task sst2 --scheme weight-only --bits 4
    tinyai quantize runs/cnn runs/cnn-qat --task fashion-mnist --scheme qat --steps 300

A one-stage recipe: SCHEME is a registered quantization technique (`tinyai techniques`),
the options are its config's fields (not given: the config's defaults). int8-static
calibrates on --calibration training examples; qat and weight-sharing train (--steps ...).
The artifact's graph runs ONNX Runtime's integer kernels; it is measured on the held-out
split, with the parity check against PyTorch.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import typer

from tinyai.cli import verbs


def _config(scheme: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options that `scheme`'s config has; one the config lacks is an error."""
    from tinyai import registry
    from tinyai.errors import ConfigError

    schemes = {t.name: t for t in registry.techniques() if t.kind == "quantize"}
    if scheme not in schemes:
        raise ConfigError(f"unknown scheme {scheme!r}; choose one of {', '.join(schemes)}")
    tech = schemes[scheme]
    fields = {f.name for f in dataclasses.fields(tech.config_cls)}
    for name in options:
        if name not in fields:
            flag = "--" + name.replace("_", "-")
            raise ConfigError(f"{flag} does not apply to {scheme} (its settings: "
                              f"{', '.join(sorted(fields - {'step'}))})")
    return options


def quantize(
    model: str = typer.Argument(..., help="A tinyai model dir, a HF dir or a short name."),
    out: Path = typer.Argument(..., help="Artifact directory to write."),
    task: str | None = typer.Option(None, "--task", "-t", help="Task name, e.g. sst2 "
                                    "(default: the one the model records)."),
    scheme: str = typer.Option("int8-dynamic", help="int8-dynamic, int8-static, weight-only, "
                               "mixed-precision, qat, weight-sharing."),
    bits: int | None = typer.Option(None, help="weight-only / qat / weight-sharing: bits."),
    group_size: int | None = typer.Option(None, "--group-size", help="Weights per scale."),
    observer: str | None = typer.Option(None, help="int8-static: minmax (default), "
                                        "percentile, mse or entropy."),
    per_tensor_tolerance: float | None = typer.Option(None, "--per-tensor-tolerance"),
    full_range_weights: bool | None = typer.Option(
        None, "--full-range-weights", help="int8-dynamic / int8-static / qat: weights in "
        "[-127, 127] instead of the 7-bit default that is exact on every CPU; 8 bits saturate "
        "in ONNX Runtime on x86 CPUs without VNNI (ARM and VNNI CPUs compute them exactly)."),
    embedding_bits: int | None = typer.Option(None, "--embedding-bits",
                                              help="Embedding tables: 0 (float), 4 or 8."),
    budget_bytes: int | None = typer.Option(None, "--budget-bytes",
                                            help="mixed-precision: bytes of the quantized layers."),
    exclude: Annotated[list[str] | None, typer.Option(
        "--exclude", help="Layer name patterns to keep in float (repeatable).")] = None,
    calibration: int | None = typer.Option(None, help="int8-static: calibration examples "
                                           "(default 512)."),
    save_model: Path | None = typer.Option(None, "--save-model",
                                           help="Also save the quantized model directory here."),
    data: str | None = verbs.DATA, holdout: float | None = verbs.HOLDOUT,
    limit: int | None = verbs.LIMIT, eval_limit: int | None = verbs.EVAL_LIMIT,
    max_length: int | None = verbs.MAX_LENGTH,
    steps: int | None = verbs.STEPS, epochs: float | None = verbs.EPOCHS,
    batch_size: int | None = verbs.BATCH, lr: float | None = verbs.LR,
    bf16: bool | None = verbs.BF16, seed: int | None = verbs.SEED,
    resume: bool = verbs.RESUME, no_bench: bool = verbs.NO_BENCH, force: bool = verbs.FORCE,
) -> None:
    """Quantize MODEL and export it for TASK as an artifact that runs integer kernels."""
    config = _config(scheme, verbs.given(
        bits=bits, group_size=group_size, observer=observer, embedding_bits=embedding_bits,
        per_tensor_tolerance=per_tensor_tolerance, budget_bytes=budget_bytes,
        full_range_weights=full_range_weights,
        exclude=list(exclude) if exclude else None))
    train = verbs.given(steps=steps, epochs=epochs, batch_size=batch_size, lr=lr, bf16=bf16,
                        seed=seed)
    stage = verbs.given(calibration=calibration)
    verbs.check_target(out, "artifact", force)
    if save_model is not None:
        verbs.check_target(save_model, "model", force)
    recipe = verbs.one_stage_recipe(
        model, verbs.task_spec(task, data, holdout, limit, eval_limit, max_length, model),
        scheme,
        config, train=train or None, bench=not no_bench, **stage)
    metrics, stage_dir, _ = verbs.run(recipe, out, resume)
    verbs.place(stage_dir / "artifact", out, "artifact", force)
    if save_model is not None:
        verbs.place(stage_dir / "model", save_model, "model", force)
    verbs.report(metrics, out, f"the {scheme} artifact to")


def register(app: typer.Typer) -> None:
    app.command()(quantize)
