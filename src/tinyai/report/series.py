"""What the charts plot, picked out of the runs' `metrics.json` once: every chart and table
reads these objects, so a value is never looked up two ways."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from tinyai.errors import ConfigError
from tinyai.recipe.records import LayerRow, Measurement, RunMetrics, StageRecord

# Fixed styles, so a run keeps its colour and marker from one drawing to the next.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
PEER_COLOUR = "#7f7f7f"


@dataclasses.dataclass(frozen=True)
class Run:
    index: int
    label: str
    directory: Path
    metrics: RunMetrics

    @property
    def colour(self) -> str:
        return COLOURS[self.index % len(COLOURS)]

    @property
    def marker(self) -> str:
        return MARKERS[self.index % len(MARKERS)]

    @property
    def teacher(self) -> StageRecord | None:
        return self.metrics.teacher()

    @property
    def final(self) -> StageRecord | None:
        """The run's result; an unfinished run's last measured stage stands in for it."""
        final = self.metrics.final()
        if final is None and len(self.metrics.stages) > 1:
            return self.metrics.stages[-1]
        return final


@dataclasses.dataclass(frozen=True)
class Point:
    """One measured model: a stage (teacher included) or a peer row of one run."""

    key: str  # "r0:s2" (run 0, stage index 2) or "r0:p1" (run 0, peer 1): chart element ids
    run: Run
    label: str
    peer: bool
    measure: Measurement


def label_runs(run_dirs: list[Path], metrics: list[RunMetrics]) -> list[Run]:
    """Runs named by their folder; by the path as given where two folders share a name."""
    names = [d.resolve().name or str(d) for d in run_dirs]
    labels = [str(d) if names.count(n) > 1 else n for d, n in zip(run_dirs, names, strict=True)]
    runs = [
        Run(i, lbl, d, m)
        for i, (lbl, d, m) in enumerate(zip(labels, run_dirs, metrics, strict=True))
    ]
    _check_comparable(runs)
    return runs


def _check_comparable(runs: list[Run]) -> None:
    first = runs[0].metrics.task
    for run in runs[1:]:
        task = run.metrics.task
        if (task.primary_metric, task.higher_is_better) != (
            first.primary_metric,
            first.higher_is_better,
        ):
            raise ConfigError(
                f"{runs[0].label} is scored by {first.primary_metric} and {run.label} by "
                f"{task.primary_metric}; compare runs of tasks with the same metric"
            )


def points(runs: list[Run]) -> list[Point]:
    """Every model of every run, stages first, in recipe order."""
    out = []
    for run in runs:
        for stage in run.metrics.stages:  # an unmeasured stage is listed as not plotted
            measure = stage.measure or Measurement(metric=None)
            out.append(Point(f"r{run.index}:s{stage.index}", run, stage.name, False, measure))
        for i, peer in enumerate(run.metrics.peers):
            out.append(Point(f"r{run.index}:p{i}", run, peer.name, True, peer.measure))
    return out


def plottable(pts: list[Point], *fields: str) -> tuple[list[Point], list[Point]]:
    """(points with the metric and every field measured, finite, the fields positive (log
    axes), the points left out)."""

    def ok(p: Point) -> bool:
        values = [p.measure.metric, *(getattr(p.measure, f) for f in fields)]
        if any(v is None or not math.isfinite(v) for v in values):
            return False
        return all(getattr(p.measure, f) > 0 for f in fields)

    return [p for p in pts if ok(p)], [p for p in pts if not ok(p)]


def pareto_front(pts: list[Point], higher_is_better: bool) -> list[Point]:
    """The points no other point beats on both latency and metric, fastest first."""
    sign = 1.0 if higher_is_better else -1.0
    ordered = sorted(pts, key=lambda p: (p.measure.latency_ms, -sign * p.measure.metric))
    front: list[Point] = []
    for p in ordered:
        if not front or sign * p.measure.metric > sign * front[-1].measure.metric:
            front.append(p)
    return front


def layer_pairs(
    teacher: StageRecord, final: StageRecord
) -> list[tuple[str, LayerRow | None, LayerRow | None]]:
    """(name, teacher's row, final's row): layers matched by name, the teacher's order first,
    then the layers only the final model has."""
    mine = {row.name: row for row in final.layers}
    theirs = {row.name: row for row in teacher.layers}
    pairs = [(row.name, row, mine.get(row.name)) for row in teacher.layers]
    pairs += [(row.name, None, row) for row in final.layers if row.name not in theirs]
    return pairs
