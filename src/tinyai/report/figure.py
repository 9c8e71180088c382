"""Drawing a chart the same way every time, and handing it out as SVG, PNG and inline SVG.

Charts are plain `matplotlib.figure.Figure`s (no pyplot: no global state, no GUI backend),
drawn inside a fixed style so that re-drawing the same metrics gives identical bytes: one
bundled font, text rendered as paths (the page does not depend on the viewer's fonts),
`svg.hashsalt` for stable ids, no dates in the metadata.

Each axes' background patch gets the id ``<chart>--axes:<n>`` and its limits are recorded,
and every plotted value is drawn as its own element with an id naming what it is: a reader
(the browser test) can map an element's position back to data coordinates.
"""

from __future__ import annotations

import dataclasses
import io
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

CREATOR = "tinyai report"  # in every file the report writes: marks the files it may replace

_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "svg.fonttype": "path",
    "path.simplify": False,  # keep every plotted vertex: the test reads them back
    "text.parse_math": False,  # a stage named "cost $5" is text, not TeX
    "figure.dpi": 100,
    "savefig.dpi": 100,
}


@dataclasses.dataclass(frozen=True)
class Chart:
    name: str  # file stem suffix and id prefix: "bubble", "latency", "layers-r0", ...
    caption: str
    svg: str  # the SVG file as written
    png: bytes
    axes: dict[str, dict[str, list[Any]]]  # axes id -> {"x": [lo, hi, scale], "y": [...]}

    def inline_svg(self) -> str:
        """The SVG for embedding in HTML: no XML prolog, every id prefixed by the chart's name
        so that several charts on one page never share an id."""
        text = self.svg[self.svg.index("<svg") :]
        text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
        prefix = f"{self.name}--"
        text = re.sub(rf'\bid="(?!{re.escape(prefix)})([^"]*)"', rf'id="{prefix}\1"', text)
        text = re.sub(r'href="#([^"]*)"', rf'href="#{prefix}\1"', text)
        return re.sub(r"url\(#([^)]*)\)", rf"url(#{prefix}\1)", text)


@contextmanager
def chart_style(name: str) -> Iterator[None]:
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": f"tinyai-report-{name}"}):
        yield


def record_axes(ax: Axes, chart: str, n: int, axes: dict[str, dict[str, list[Any]]]) -> None:
    """Freeze the axes' limits (so what is recorded is what is drawn) and record them under
    the id given to the axes' background."""
    gid = f"{chart}--axes:{n}"
    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    ax.patch.set_gid(gid)
    axes[gid] = {
        "x": [*map(float, ax.get_xlim()), ax.get_xscale()],
        "y": [*map(float, ax.get_ylim()), ax.get_yscale()],
    }


class _PlainLogLocator(LogLocator):
    """Whole decades, with 2 and 5 between them while the axis spans under two decades."""

    def tick_values(self, vmin: float, vmax: float) -> Any:
        span = abs(math.log10(vmax / vmin)) if vmin > 0 and vmax > 0 else math.inf
        self.set_params(subs=(1.0, 2.0, 5.0) if span < 2 else (1.0,))
        return super().tick_values(vmin, vmax)


def log_x(ax: Axes, label: Callable[[float], str], numticks: int = 9) -> None:
    """A log x axis labelled in plain numbers (2M, 5M; 0.5, 1, 2), not TeX powers."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(_PlainLogLocator(numticks=numticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: re.sub(r"\.0+(?!\d)", "", label(v))))
    ax.xaxis.set_minor_formatter(NullFormatter())


def render(
    name: str, caption: str, draw: Callable[[dict[str, dict[str, list[Any]]]], Figure]
) -> Chart:
    """Run `draw` (which fills the axes record) inside the fixed style and save both formats."""
    axes: dict[str, dict[str, list[Any]]] = {}
    with chart_style(name):
        fig = draw(axes)
        svg, png = io.BytesIO(), io.BytesIO()
        fig.savefig(svg, format="svg", metadata={"Creator": CREATOR, "Date": None})
        fig.savefig(png, format="png", metadata={"Software": CREATOR})
    return Chart(name, caption, svg.getvalue().decode("utf-8"), png.getvalue(), axes)
