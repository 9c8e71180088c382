"""`tinyai demo`: the shipped demo recipe (recipes/demo.yaml) through `tinyai compress`, then
the teacher against the final model (both measured on their artifacts) and one prediction
through the final artifact in the torch-free runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from tinyai.paths import REPO_ROOT

SENTENCE = "a gripping, funny and beautifully acted film"


def demo(
    out: Path = typer.Option(Path("runs/demo"), "--out", "-o", help="The run directory."),
    recipe: Path = typer.Option(REPO_ROOT / "recipes" / "demo.yaml",
                                help="The recipe to run (default: the shipped demo)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted demo."),
    sentence: str = typer.Option(SENTENCE, help="What the final artifact predicts (text)."),
) -> None:
    """Run the demo recipe end to end and print what was measured on the artifacts."""
    from tinyai.cli.compress import run_and_print, wide_console
    from tinyai.recipe.schema import load_recipe

    loaded = load_recipe(recipe)
    metrics = run_and_print(loaded, out, resume=resume, force=not resume)
    stdout = wide_console()
    stdout.print(teacher_vs_final(metrics))
    stdout.print(f"report: {out / 'report.html'}")
    artifact = out / "artifact"
    example, shown = _example(artifact, loaded.task, sentence)
    if example is None:
        stdout.print(f"predict: tinyai predict {artifact} INPUT  (no built-in example for "
                     f"a {shown} artifact)")
        return
    from tinyai.runtime import load_artifact

    result = load_artifact(artifact).predict([example])[0]
    typer.echo(f"$ tinyai predict {artifact} {shown}")  # as `tinyai predict` prints it
    typer.echo(f"{result['label']}\t{result['score']:.4f}")


def teacher_vs_final(metrics: Any) -> Any:
    """Teacher and final artifact side by side: metric, MB on disk, batch-1 ms, and ratios."""
    from rich.table import Table

    teacher, final = metrics.teacher(), metrics.final()
    t = teacher.measure if teacher is not None else None
    f = final.measure if final is not None else None
    metric = metrics.task.primary_metric
    examples = f"{f.examples} " if f is not None and f.examples else ""
    table = Table("", f"{metric} ({examples}{metrics.task.split})", "MB on disk",
                  "batch-1 ms", title=f"{metrics.task.name}: the teacher and the final "
                  "model, each measured on its artifact")
    for name, record, m in (("teacher", teacher, t), ("final", final, f)):
        label = f"{name} ({record.name})" if record is not None else name
        if m is None:
            table.add_row(label, "—", "—", "—")
            continue
        megabytes = None if m.bytes is None else m.bytes / 1e6
        table.add_row(label, _fmt(m.metric, ".4f"), _fmt(megabytes, ".2f"),
                      _fmt(m.latency_ms, ".3f"))
    table.add_row("ratio", _share(t, f, metrics.task.higher_is_better),
                  _times(t and t.bytes, f and f.bytes, "smaller"),
                  _times(t and t.latency_ms, f and f.latency_ms, "faster"))
    return table


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _share(teacher: Any, final: Any, higher_is_better: bool) -> str:
    """The final metric as a share of the teacher's (direction-aware, as the targets are)."""
    if teacher is None or final is None or not teacher.metric or not final.metric:
        return "—"
    share = final.metric / teacher.metric if higher_is_better else teacher.metric / final.metric
    return f"{share:.1%} of the teacher"


def _times(base: float | None, value: float | None, word: str) -> str:
    return "—" if not base or not value else f"{base / value:.1f}x {word}"


def _example(artifact: Path, spec: Any, sentence: str) -> tuple[Any, str]:
    """What the demo predicts and how the command line would name it: the sentence for a
    text classifier, the first held-out example (with its true label) for images and audio."""
    from tinyai.runtime import read_manifest

    kind = read_manifest(artifact)["kind"]
    if kind == "text-classification":
        return sentence, f'"{sentence}"'
    if kind not in ("image-classification", "audio-classification"):
        return None, kind
    from tinyai.tasks.spec import build_task

    task = build_task(spec)
    data = task.dataset(task.eval_split)
    raw = data.images[0] if kind == "image-classification" else data.waveforms[0]
    return raw, f"<{task.eval_split} example 0, labelled {data.label_names[data.labels[0]]}>"


def register(app: typer.Typer) -> None:
    app.command()(demo)
