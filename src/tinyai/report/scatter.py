"""The two charts that compare whole models: metric against parameters (bubble area = bytes
on disk) and metric against batch-1 latency with the Pareto front."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tinyai.report.figure import Chart, log_x, record_axes, render
from tinyai.report.format import fmt_bytes, fmt_count
from tinyai.report.series import PEER_COLOUR, Point, Run, pareto_front, plottable

MAX_AREA = 2000.0  # points², the largest bubble (~50 pt across)
SIZE = (8.6, 5.0)  # inches
PLOT_BOX = (0.09, 0.11, 0.6, 0.79)  # left, bottom, width, height: keys go on the right


def bubble_chart(runs: list[Run], pts: list[Point], metric: str) -> Chart | None:
    shown, left_out = plottable(pts, "params", "bytes")
    if not shown:
        return None
    scale = MAX_AREA / max(p.measure.bytes for p in shown)  # type: ignore[type-var]

    def draw(axes: dict[str, Any]) -> Figure:
        fig = Figure(figsize=SIZE)
        ax = fig.add_axes(PLOT_BOX)
        log_x(ax, fmt_count)
        _paths(ax, runs, shown, "params")
        for p in shown:
            area = p.measure.bytes * scale  # type: ignore[operator]
            colour = PEER_COLOUR if p.peer else p.run.colour
            ax.scatter([p.measure.params], [p.measure.metric], s=[area], color=colour,
                       alpha=0.45, edgecolors=colour, linewidths=1, zorder=3,
                       gid=f"bubble--point:{p.key}")
        ax.margins(x=0.15, y=0.18)
        ax.set_xlabel("parameters (log scale)")
        ax.set_ylabel(_direction(metric, runs))
        fig.suptitle(f"{metric} against parameters; bubble area is bytes on disk", x=0.4)
        record_axes(ax, "bubble", 0, axes)
        for p in shown:  # once the limits are fixed: a label must know where it falls
            _label(ax, p, p.measure.params, math.sqrt(p.measure.bytes * scale / math.pi))
        fig.legend(handles=_run_handles(runs, pts), loc="upper left",
                   bbox_to_anchor=(0.71, 0.9), frameon=False)
        _size_key(fig, ax, [p.measure.bytes for p in shown], scale)  # type: ignore[misc]
        return fig

    caption = "Each bubble is one model measured on its exported artifact: the teacher, " \
              "every stage and any peer rows; the line follows a run's stages in order."
    return render("bubble", caption + _left_out(left_out, "params or bytes"), draw)


def latency_chart(runs: list[Run], pts: list[Point], metric: str) -> Chart | None:
    shown, left_out = plottable(pts, "latency_ms")
    if not shown:
        return None
    front = pareto_front(shown, runs[0].metrics.task.higher_is_better)

    def draw(axes: dict[str, Any]) -> Figure:
        fig = Figure(figsize=SIZE)
        ax = fig.add_axes(PLOT_BOX)
        log_x(ax, lambda v: f"{v:g}")
        ax.plot([p.measure.latency_ms for p in front], [p.measure.metric for p in front],
                linestyle="--", color="black", linewidth=1, marker="o", markersize=13,
                markerfacecolor="none", markeredgewidth=0.8, zorder=2,
                gid="latency--pareto", label="Pareto front")
        for p in shown:
            colour = PEER_COLOUR if p.peer else p.run.colour
            ax.scatter([p.measure.latency_ms], [p.measure.metric], s=[45], marker=p.run.marker,
                       color=colour, zorder=3, gid=f"latency--point:{p.key}")
        ax.margins(x=0.12, y=0.15)
        ax.set_xlabel("batch-1 latency, ms (log scale)")
        ax.set_ylabel(_direction(metric, runs))
        threads = sorted({r.metrics.machine.threads for r in runs})
        unit = "thread" if threads == [1] else "threads"
        fig.suptitle(f"{metric} against batch-1 latency ({'/'.join(map(str, threads))} {unit})",
                     x=0.4)
        record_axes(ax, "latency", 0, axes)
        for p in shown:
            _label(ax, p, p.measure.latency_ms, 7.0)
        handles = [*_run_handles(runs, pts, marker=True), ax.get_lines()[0]]
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.71, 0.9),
                   frameon=False)
        return fig

    caption = "Latency is the median batch-1 time through the torch-free runtime; the ringed " \
              "models form the Pareto front: no other model is both faster and better."
    return render("latency", caption + _left_out(left_out, "latency"), draw)


def _paths(ax: Axes, runs: list[Run], shown: list[Point], field: str) -> None:
    """A thin line through each run's stages in recipe order: the way the model shrank."""
    for run in runs:
        stages = [p for p in shown if p.run is run and not p.peer]
        ax.plot([getattr(p.measure, field) for p in stages], [p.measure.metric for p in stages],
                color=run.colour, linewidth=1, alpha=0.6, zorder=2, label=run.label)


def _label(ax: Axes, p: Point, x: Any, radius: float) -> None:
    """The model's name beside its marker, toward the middle of the plot (never over the keys
    on the right)."""
    offset = radius * 0.7 + 2
    where = ax.transAxes.inverted().transform(ax.transData.transform((x, p.measure.metric)))
    left = where[0] > 0.6
    ax.annotate(p.label, (x, p.measure.metric), xytext=(-offset if left else offset, offset),
                textcoords="offset points", fontsize=8, zorder=4, ha="right" if left else "left",
                color="#444444" if p.peer else "black")


def _run_handles(runs: list[Run], pts: list[Point], marker: bool = False) -> list:
    from matplotlib.lines import Line2D

    handles: list = []
    for run in runs:
        handles.append(Line2D([], [], color=run.colour, marker=run.marker if marker else "o",
                              linewidth=0 if marker else 1, label=f"{run.label}: stages"))
    if any(p.peer for p in pts):
        handles.append(Line2D([], [], color=PEER_COLOUR, marker="o", linewidth=0,
                              label="peers (other tools)"))
    return handles


def _size_key(fig: Figure, ax: Axes, sizes: list[int], scale: float) -> None:
    """Reference bubbles at whole decades of bytes, drawn at the plot's own scale."""
    top = 10 ** math.floor(math.log10(max(sizes)))
    refs = [r for r in (top, top / 10, top / 100) if r >= min(sizes) / 10] or [top]
    handles = [ax.scatter([], [], s=[r * scale], color="#bbbbbb", edgecolors="#666666",
                          linewidths=1, label=fmt_bytes(r)) for r in refs]
    spacing = max(1.0, 2 * math.sqrt(refs[0] * scale / math.pi) / 8 * 0.9)
    key = fig.legend(handles=handles, loc="lower left", bbox_to_anchor=(0.71, 0.08),
                     frameon=False, title="bubble area = bytes on disk", labelspacing=spacing,
                     borderpad=1, handletextpad=2, scatterpoints=1, alignment="left")
    for drawn, ref in zip(key.legend_handles, refs, strict=True):
        drawn.set_gid(f"bubble--key:{ref:.0f}")  # bytes: a reader can check the key's scale
    for handle in handles:  # the key keeps its own copies; the plot itself must not
        handle.remove()


def _direction(metric: str, runs: list[Run]) -> str:
    better = "higher" if runs[0].metrics.task.higher_is_better else "lower"
    return f"{metric} ({better} is better)"


def _left_out(left_out: list[Point], what: str) -> str:
    if not left_out:
        return ""
    names = ", ".join(f"{p.run.label}/{p.label}" for p in left_out)
    return f" Not plotted (no metric or {what} measured): {names}."
