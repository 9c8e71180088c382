"""`write_report`: read the runs' metrics.json, draw the charts, write the page and the chart
files beside it (each atomically), and nothing else."""

from __future__ import annotations

from pathlib import Path

from tinyai import atomic
from tinyai.errors import ConfigError
from tinyai.recipe.records import read_metrics
from tinyai.report.figure import CREATOR, Chart
from tinyai.report.layers import layer_chart, sensitivity_chart
from tinyai.report.page import page
from tinyai.report.scatter import bubble_chart, latency_chart
from tinyai.report.series import Run, label_runs, points

REPORT_FILE = "report.html"
CHART_PREFIX = "report-"  # report-bubble.svg, report-bubble.png, ...


def write_report(run_dirs: list[Path], out: Path) -> Path:
    """Write OUT/report.html for one run (its story) or several (compared on one page), with
    each chart as report-NAME.svg and .png beside it; returns the page's path."""
    if not run_dirs:
        raise ConfigError("no run directory given; pass one or more directories tinyai compress "
                          "wrote")
    dirs = [Path(d) for d in run_dirs]
    runs = label_runs(dirs, [read_metrics(d) for d in dirs])
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out} is a file; pass a directory for the report (-o)")
    _refuse_foreign(out / REPORT_FILE)  # before minutes of drawing, not after
    shared, per_run = _charts(runs)
    files = {REPORT_FILE: page(runs, shared, per_run).encode("utf-8")}
    for chart in [*shared, *(c for cs in per_run.values() for c in cs)]:
        files[f"{CHART_PREFIX}{chart.name}.svg"] = chart.svg.encode("utf-8")
        files[f"{CHART_PREFIX}{chart.name}.png"] = chart.png
    for name in files:
        _refuse_foreign(out / name)
    for name, data in files.items():
        atomic.write_bytes(out / name, data)
    _remove_stale_charts(out, set(files))
    return out / REPORT_FILE


def _charts(runs: list[Run]) -> tuple[list[Chart], dict[int, list[Chart]]]:
    metric = runs[0].metrics.task.primary_metric
    pts = points(runs)
    drawn = [bubble_chart(runs, pts, metric), latency_chart(runs, pts, metric)]
    shared = [c for c in drawn if c is not None]
    per_run: dict[int, list[Chart]] = {}
    for run in runs:
        suffix = f"-r{run.index}" if len(runs) > 1 else ""
        charts = per_run.setdefault(run.index, [])
        teacher, final = run.teacher, run.final
        if teacher and final and (teacher.layers or final.layers):
            charts.append(layer_chart(f"layers{suffix}", run, teacher, final))
        for stage in run.metrics.stages:
            if stage.sensitivity is not None and stage.sensitivity.curves:
                name = f"sensitivity{suffix}-s{stage.index}"
                charts.append(sensitivity_chart(name, run, stage))
    return shared, per_run


def _ours(path: Path) -> bool:
    """Whether a file was written by this report (its generator mark is in the first bytes)."""
    with path.open("rb") as fh:
        return CREATOR.encode() in fh.read(4096)


def _refuse_foreign(path: Path) -> None:
    if path.exists() and (not path.is_file() or not _ours(path)):
        raise ConfigError(f"{path} exists and was not written by tinyai report; move it or "
                          "choose another output directory (-o)")


def _remove_stale_charts(out: Path, keep: set[str]) -> None:
    """Charts an earlier report drew that this one does not (e.g. a run no longer compared)."""
    for path in out.glob(f"{CHART_PREFIX}*"):
        if path.suffix in (".svg", ".png") and path.name not in keep and _ours(path):
            path.unlink()
