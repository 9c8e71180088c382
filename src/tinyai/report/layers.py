"""The per-model charts: per-layer bars (final model against the teacher) and the
sensitivity curves a stage computed."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tinyai.recipe.records import LayerRow, StageRecord
from tinyai.report.figure import Chart, log_x, record_axes, render
from tinyai.report.format import fmt_count
from tinyai.report.series import PEER_COLOUR, Run, layer_pairs

# (quantity, axis label, scale, where a bar starts)
_PANELS = (
    ("params", "parameters (log scale)", "log", 1.0),
    ("sparsity", "sparsity (fraction of zeros)", "linear", 0.0),
    ("bits", "bits per weight (stored)", "linear", 0.0),
)


def _value(row: LayerRow, quantity: str) -> float:
    return {"params": row.params, "sparsity": row.sparsity, "bits": row.bits_per_weight}[quantity]


def layer_chart(name: str, run: Run, teacher: StageRecord, final: StageRecord) -> Chart:
    pairs = layer_pairs(teacher, final)
    longest = max(len(n) for n, _, _ in pairs)
    height = 1.3 + 0.24 * len(pairs)

    def draw(axes: dict[str, Any]) -> Figure:
        fig = Figure(figsize=(8.6, height))
        left = min(0.45, (0.25 + longest * 4.1 / 72) / 8.6)
        fig.subplots_adjust(left=left, right=0.98, top=1 - 0.75 / height,
                            bottom=0.5 / height, wspace=0.15)
        panels = fig.subplots(1, len(_PANELS), sharey=True)
        panels[0].set_yticks(range(len(pairs)), [p[0] for p in pairs], fontsize=7)
        panels[0].set_ylim(len(pairs) - 0.5, -0.5)  # the teacher's first layer on top
        for n, (ax, panel) in enumerate(zip(panels, _PANELS, strict=True)):
            _bars(ax, name, panel, pairs, run.colour)
            record_axes(ax, name, n, axes)
        fig.legend(handles=[Patch(color=PEER_COLOUR, label=_named("teacher", teacher)),
                            Patch(color=run.colour, label=_named("final", final))],
                   loc="upper right", bbox_to_anchor=(0.98, 1 - 0.1 / height), ncols=2,
                   frameon=False)
        fig.suptitle(f"{run.label}: per-layer parameters, sparsity and bits", x=left,
                     ha="left")
        return fig

    caption = ("Weight-bearing layers, matched by name; a layer one model lacks has one bar. "
               "Bits per weight count what is stored: scales and zero points included.")
    return render(name, caption, draw)


def _named(role: str, stage: StageRecord) -> str:
    return role if stage.name == role else f"{role}: {stage.name}"


def _bars(ax: Any, name: str, panel: tuple, pairs: list, colour: str) -> None:
    """One panel: the teacher's bar above the final model's for each layer."""
    quantity, label, scale, start = panel
    if scale == "log":
        log_x(ax, fmt_count, numticks=5)
    for which, col, offset, fill in (("teacher", 1, -0.2, PEER_COLOUR), ("final", 2, 0.2, colour)):
        for i, pair in enumerate(pairs):
            row = pair[col]
            if row is None:
                continue
            bar = ax.barh(i + offset, _value(row, quantity) - start, left=start, height=0.38,
                          color=fill)
            bar.patches[0].set_gid(f"{name}--bar:{which}:{quantity}:{pair[0]}")
    _limits(ax, quantity, pairs)
    ax.set_xlabel(label)
    ax.grid(axis="y", visible=False)


def _limits(ax: Any, quantity: str, pairs: list) -> None:
    values = [_value(r, quantity) for _, *rows in pairs for r in rows if r is not None]
    if quantity == "params":
        ax.set_xlim(max(1.0, min(values) / 3), max(values) * 2)
    elif quantity == "sparsity":
        ax.set_xlim(0, 1)
    else:
        ax.set_xlim(0, max(max(values), 1.0) * 1.1)


def sensitivity_chart(name: str, run: Run, stage: StageRecord) -> Chart:
    sens = stage.sensitivity
    assert sens is not None
    many = len(sens.curves) > 18

    def draw(axes: dict[str, Any]) -> Figure:
        fig = Figure(figsize=(8.6, 4.4))
        ax = fig.add_axes((0.09, 0.12, 0.5 if many else 0.6, 0.76))
        for layer, curve in sens.curves.items():
            ax.plot([x for x, _ in curve], [y for _, y in curve], marker="o", markersize=3,
                    linewidth=1.2, label=layer, gid=f"{name}--curve:{layer}")
        ax.set_xlabel(sens.x_label)
        ax.set_ylabel(sens.y_label)
        ax.margins(x=0.05, y=0.08)
        record_axes(ax, name, 0, axes)
        fig.legend(loc="upper left", bbox_to_anchor=(0.6 if many else 0.71, 0.9),
                   frameon=False, fontsize=7, ncols=2 if many else 1)
        fig.suptitle(f"{run.label}: {sens.y_label} against {sens.x_label}, per layer "
                     f"(stage {stage.name})", x=0.09, ha="left")
        return fig

    caption = (f"What stage {stage.name} measured while choosing per-layer settings: each "
               "layer changed alone, the rest of the model as it was, scored on a sample of "
               "training examples (never on the held-out split the run reports).")
    return render(name, caption, draw)
