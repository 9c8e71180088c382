"""The report in a real browser (headless Chromium): it renders cleanly, offline, and what it
plots is what metrics.json says.

How (b) proves the point: the test reads metrics.json with plain `json` (not the report's
code), then reads back from the page as Chromium laid it out each plotted element's geometry
(`getBBox`: a bubble's centre and diameter, a bar's end, a line's vertices) and maps it
through its axes (the axes' background box, as drawn, and the limits recorded beside the
chart) to data coordinates. A wrong column, a unit slip, a swapped axis, a missing or
stale point, a bubble sized by anything but bytes or a wrong Pareto front all fail here.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from browser import chromium_or_skip, open_browser, serve
from tinyai.report.format import fmt_bytes, fmt_count, fmt_metric, fmt_ms

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOT = REPO_ROOT / "docs" / "report.png"

# Everything the page draws, by chart: geometry in SVG user units, and the recorded axes.
_GEOMETRY_JS = """(chart) => {
  const fig = document.getElementById('chart-' + chart);
  const out = {axes: JSON.parse(fig.dataset.axes), boxes: {}, lines: {}};
  for (const el of fig.querySelectorAll('svg [id*="--"]')) {
    const kind = el.id.split('--')[1];
    if (/^(point|bar|axes|key):/.test(kind)) {
      const b = el.getBBox();
      out.boxes[el.id] = [b.x, b.y, b.width, b.height];
    } else if (/^(curve:|pareto)/.test(kind)) {
      out.lines[el.id] = el.querySelector(':scope > path').getAttribute('d');
    }
  }
  return out;
}"""

_DECODED_JS = """() => ({
  images: [...document.images].map(i => [i.complete, i.naturalWidth]),
  svgs: [...document.querySelectorAll('figure > svg')].map(s => {
    const r = s.getBoundingClientRect(); return [r.width, r.height]; }),
  figures: document.querySelectorAll('figure.chart').length,
})"""


@pytest.mark.parametrize("which", ["single_report", "compared_report"])
def test_report_renders_cleanly_offline(which: str, request: pytest.FixtureRequest) -> None:
    chromium_or_skip()  # before drawing the report
    report: Path = request.getfixturevalue(which)
    with open_browser() as browser:
        page = browser.open(report.as_uri())
        decoded = page.evaluate(_DECODED_JS)
        png = page.screenshot()
        if which == "single_report" and os.environ.get("TINYAI_UPDATE_DOCS") == "1":
            bottom = page.evaluate(
                "document.getElementById('chart-bubble').getBoundingClientRect().bottom")
            _write_docs_screenshot(png, round(bottom) + 8)

    assert page.errors == []
    assert page.requests == [report.as_uri()], "the page must load nothing but itself"
    charts = 4 if which == "single_report" else 6  # bubble, latency, layers and sensitivity
    assert decoded["figures"] == charts and len(decoded["svgs"]) == charts
    assert all(w > 500 and h > 200 for w, h in decoded["svgs"]), decoded["svgs"]
    assert all(done and width > 0 for done, width in decoded["images"])
    image = Image.open(io.BytesIO(png)).convert("L")
    assert image.height > 3000  # charts, tables, machine, recipe
    assert ImageStat.Stat(image).stddev[0] > 20, "the screenshot is blank"


def _write_docs_screenshot(png: bytes, height: int) -> None:
    """docs/report.png for the README: the page down to the bubble chart, in a small palette
    PNG (TINYAI_UPDATE_DOCS=1 writes it)."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.crop((0, 0, image.width, height)).quantize(colors=128, dither=0)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    assert out.tell() < 150_000, f"docs screenshot is {out.tell()} bytes"
    DOCS_SCREENSHOT.parent.mkdir(exist_ok=True)
    DOCS_SCREENSHOT.write_bytes(out.getvalue())


def _to_data(user: float, box_lo: float, box_size: float, axis: list, flip: bool) -> float:
    frac = (user - box_lo) / box_size
    frac = 1 - frac if flip else frac
    lo, hi, scale = axis
    if scale == "log":
        return 10 ** (math.log10(lo) + frac * (math.log10(hi) - math.log10(lo)))
    return lo + frac * (hi - lo)


class _Axes:
    """An axes' data <-> SVG mapping, from its drawn background box and recorded limits."""

    def __init__(self, geometry: dict, axes_id: str) -> None:
        self.box = geometry["boxes"][axes_id]
        self.limits = geometry["axes"][axes_id]

    def x(self, user: float) -> float:
        return _to_data(user, self.box[0], self.box[2], self.limits["x"], flip=False)

    def y(self, user: float) -> float:
        return _to_data(user, self.box[1], self.box[3], self.limits["y"], flip=True)

    def close(self, axis: str, got: float, want: float) -> bool:
        lo, hi, scale = self.limits[axis]
        if scale == "log":
            return abs(math.log10(got / want)) < 1e-3 * abs(math.log10(hi / lo))
        return abs(got - want) < 1e-3 * abs(hi - lo)


def _centre(box: list) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _vertices(d: str) -> list[tuple[float, float]]:
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", d)]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _models(metrics: list[dict]) -> dict[str, dict]:
    """key (as the page names it) -> measure, for every stage and peer of every run."""
    out = {}
    for r, run in enumerate(metrics):
        for stage in run["stages"]:
            if stage["measure"] is not None:
                out[f"r{r}:s{stage['index']}"] = stage["measure"]
        for p, peer in enumerate(run["peers"]):
            out[f"r{r}:p{p}"] = peer["measure"]
    return out


@pytest.fixture(scope="module")
def compared_geometry(run_dirs: tuple[Path, Path], request: pytest.FixtureRequest) -> dict:
    chromium_or_skip()  # before drawing the report
    compared_report: Path = request.getfixturevalue("compared_report")
    charts = ["bubble", "latency", "layers-r0", "layers-r1", "sensitivity-r0-s2"]
    with open_browser() as browser:
        page = browser.open(compared_report.as_uri())
        geometry = {c: page.evaluate(_GEOMETRY_JS, c) for c in charts}
        geometry["table"] = page.evaluate("""() => [...document.querySelectorAll(
            'tr[data-point] td[data-field], tr[data-target] td[data-field]')].map(td => [
            td.closest('tr').dataset.point || td.closest('tr').dataset.target,
            td.closest('section').id, td.dataset.field, td.dataset.value ?? null,
            td.firstChild ? td.firstChild.textContent : ''])""")
        geometry["text"] = page.evaluate("document.body.innerText")
    assert page.errors == []
    geometry["metrics"] = [json.loads((d / "metrics.json").read_text()) for d in run_dirs]
    return geometry


def test_bubbles_sit_at_params_and_metric_with_area_proportional_to_bytes(
    compared_geometry: dict,
) -> None:
    g = compared_geometry["bubble"]
    axes = _Axes(g, "bubble--axes:0")
    models = _models(compared_geometry["metrics"])
    seen = {k.split("point:")[1]: box for k, box in g["boxes"].items() if "--point:" in k}
    assert set(seen) == set(models)  # every stage and peer of both runs, and nothing else
    per_byte = []
    for key, measure in models.items():
        x, y = _centre(seen[key])
        assert axes.close("x", axes.x(x), measure["params"]), key
        assert axes.close("y", axes.y(y), measure["metric"]), key
        width, height = seen[key][2:]
        assert width == pytest.approx(height, rel=1e-3)  # a circle
        per_byte.append(math.pi * (width / 2) ** 2 / measure["bytes"])
    assert max(per_byte) == pytest.approx(min(per_byte), rel=0.01)
    keys = {int(k.split("key:")[1]): box for k, box in g["boxes"].items() if "--key:" in k}
    assert keys, "the chart has no size key"
    for ref_bytes, box in keys.items():  # the key's bubbles are drawn at the same scale
        assert math.pi * (box[2] / 2) ** 2 / ref_bytes == pytest.approx(per_byte[0], rel=0.01)


def test_latency_points_and_pareto_front(compared_geometry: dict) -> None:
    g = compared_geometry["latency"]
    axes = _Axes(g, "latency--axes:0")
    models = _models(compared_geometry["metrics"])
    for key, measure in models.items():
        x, y = _centre(g["boxes"][f"latency--point:{key}"])
        assert axes.close("x", axes.x(x), measure["latency_ms"]), key
        assert axes.close("y", axes.y(y), measure["metric"]), key
    # The front, computed here from metrics.json alone: no model both faster and better
    # (both runs share their teacher: one point).
    front = sorted({
        (m["latency_ms"], m["metric"]) for m in models.values()
        if not any(o["latency_ms"] <= m["latency_ms"] and o["metric"] >= m["metric"]
                   and (o["latency_ms"], o["metric"]) != (m["latency_ms"], m["metric"])
                   for o in models.values())
    })
    drawn = [(axes.x(x), axes.y(y)) for x, y in _vertices(g["lines"]["latency--pareto"])]
    assert len(drawn) == len(front)
    for (x, y), (ms, metric) in zip(drawn, front, strict=True):
        assert axes.close("x", x, ms) and axes.close("y", y, metric)
    peer = models["r0:p0"]
    assert (peer["latency_ms"], peer["metric"]) not in front  # the fixture's dominated model


_LAYER_PANELS = {"params": 0, "sparsity": 1, "bits": 2}  # the chart's panels, left to right


@pytest.mark.parametrize("run", [0, 1])
def test_layer_bars_equal_layer_rows(compared_geometry: dict, run: int) -> None:
    g = compared_geometry[f"layers-r{run}"]
    metrics = compared_geometry["metrics"][run]
    final = next(s for s in metrics["stages"] if s["index"] == metrics["final_stage"])
    checked = 0
    for which, stage in (("teacher", metrics["stages"][0]), ("final", final)):
        for row in stage["layers"]:
            values = {"params": row["params"], "bits": row["bits_per_weight"],
                      "sparsity": 1 - row["nonzero"] / row["params"]}
            for quantity, want in values.items():
                axes = _Axes(g, f"layers-r{run}--axes:{_LAYER_PANELS[quantity]}")
                box = g["boxes"][f"layers-r{run}--bar:{which}:{quantity}:{row['name']}"]
                assert axes.close("x", axes.x(box[0] + box[2]), want), (which, row["name"])
                checked += 1
    bars = [k for k in g["boxes"] if "--bar:" in k]
    assert checked == len(bars) > 100  # every bar is a layer row, every layer row a bar


def test_sensitivity_curves_equal_the_stage_record(compared_geometry: dict) -> None:
    g = compared_geometry["sensitivity-r0-s2"]
    axes = _Axes(g, "sensitivity-r0-s2--axes:0")
    curves = compared_geometry["metrics"][0]["stages"][2]["sensitivity"]["curves"]
    drawn = {k.split("curve:")[1]: v for k, v in g["lines"].items()}
    assert set(drawn) == set(curves)
    for layer, points in curves.items():
        got = [(axes.x(x), axes.y(y)) for x, y in _vertices(drawn[layer])]
        assert len(got) == len(points)
        for (x, y), (want_x, want_y) in zip(got, points, strict=True):
            assert axes.close("x", x, want_x) and axes.close("y", y, want_y), layer


def test_tables_show_the_numbers_in_metrics_json(compared_geometry: dict) -> None:
    metrics = compared_geometry["metrics"]
    formats = {"metric": fmt_metric, "params": fmt_count, "bytes": fmt_bytes,
               "latency_ms": fmt_ms, "macs": fmt_count}
    models = _models(metrics)
    cells = 0
    for key, section, field, value, text in compared_geometry["table"]:
        run = int(section.removeprefix("run-r"))
        if field in formats:
            want = models[key][field]
            assert float(value) == want and text == formats[field](want), (key, field)
        elif field == "seconds":
            stage = metrics[run]["stages"][int(key.split(":s")[1])]
            assert float(value) == stage["seconds"]
        else:  # a target's limit or measured value
            target = next(t for t in metrics[run]["targets"] if t["name"] == key)
            assert float(value) == target[field]
        cells += 1
    assert cells == 2 * (4 * 6 + 1 * 5 + 3 * 2)  # per run: 4 stages, 1 peer, 3 targets
    text = compared_geometry["text"]
    assert "prune <50%>" in text and "ORT quantize_dynamic <defaults>" in text  # escaped
    assert text.count("missed") == 1 and "AMD EPYC 7B13" in text  # run 0 misses one target
    assert "min_teacher_fraction: 0.98" in text  # the resolved recipe


def test_report_served_over_http(single_report: Path) -> None:
    """The same page from a 127.0.0.1 server (the harness's other way in): one request."""
    chromium_or_skip()
    with serve(single_report.parent) as base, open_browser() as browser:
        page = browser.open(base + "report.html")
        figures = page.evaluate("document.querySelectorAll('figure.chart svg').length")
    assert page.errors == [] and page.requests == [base + "report.html"]
    assert figures == 4
