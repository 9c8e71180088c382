"""The HTML page: one self-contained file (charts inline as SVG, styles inline, no scripts)."""

from __future__ import annotations

import json
from html import escape

import yaml

from tinyai.recipe.records import Measurement, RunMetrics, StageRecord
from tinyai.report.figure import CREATOR, Chart
from tinyai.report.format import (
    DASH,
    fmt_bytes,
    fmt_count,
    fmt_metric,
    fmt_ms,
    fmt_ratio,
    fmt_seconds,
    fmt_target,
)
from tinyai.report.series import Run

_CSS = """
body { font: 14px/1.45 system-ui, 'DejaVu Sans', sans-serif; color: #222; margin: 0 auto;
       max-width: 1100px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px;
     border-bottom: 1px solid #ddd; } h3 { font-size: 15px; margin: 20px 0 6px; }
.lede { color: #444; margin: 2px 0; }
figure { margin: 12px 0 20px; } figure svg { width: 100%; height: auto; display: block; }
figcaption { color: #555; font-size: 12.5px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e4e4e4; text-align: right;
         vertical-align: top; }
th { background: #f4f4f4; } td.name, th.name { text-align: left; }
.ratio { display: block; color: #666; font-size: 11.5px; }
tr.final td { background: #eef5fc; } .met { color: #17722c; font-weight: 600; }
.missed { color: #b3261e; font-weight: 600; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; font-size: 13px; }
dt { color: #555; } dd { margin: 0; }
pre { background: #f7f7f7; padding: 10px; font-size: 12px; overflow-x: auto; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 50%;
          margin-right: 6px; }
"""

# (field, header, formatter, ratio quantity or None)
_COLUMNS = (
    ("params", "params", fmt_count, "params"),
    ("bytes", "bytes on disk", fmt_bytes, "bytes"),
    ("latency_ms", "batch-1 latency", fmt_ms, "latency"),
    ("macs", "MACs", fmt_count, "macs"),
)


def page(runs: list[Run], charts: list[Chart], per_run: dict[int, list[Chart]]) -> str:
    task = runs[0].metrics.task
    title = f"tinyai report: {task.name}" + (f", {len(runs)} runs" if len(runs) > 1 else "")
    body = [f"<h1>{escape(title)}</h1>", _task_line(runs[0].metrics)]
    body += [_headline(run) for run in runs]
    body += [_figure(c) for c in charts] or ["<p>No model has been measured yet.</p>"]
    for run in runs:
        body.append(_run_section(run, per_run.get(run.index, []), several=len(runs) > 1))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta name=\"generator\" content=\"{CREATOR}\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n"  # served over http: no request for /favicon.ico
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _task_line(metrics: RunMetrics) -> str:
    task = metrics.task
    better = "higher" if task.higher_is_better else "lower"
    return (f"<p class=\"lede\">Task {escape(task.name)} ({escape(task.kind)}), scored by "
            f"{escape(task.primary_metric)} ({better} is better) on the {escape(task.split)} "
            "split. Every model is measured on its exported artifact; every figure on this "
            "page is read from the run's metrics.json.</p>")


def _headline(run: Run) -> str:
    teacher, final = run.teacher, run.final
    swatch = f"<span class=\"swatch\" style=\"background:{run.colour}\"></span>"
    if teacher is None or final is None or teacher.measure is None or final.measure is None:
        return f"<p class=\"lede\">{swatch}{escape(run.label)}: no measured result yet.</p>"
    t, f = teacher.measure, final.measure
    parts = [f"{fmt_metric(f.metric)} {escape(run.metrics.task.primary_metric)} "
             f"({fmt_ratio(f.metric, t.metric, 'metric')})"]
    if f.bytes is not None:
        parts.append(f"{fmt_bytes(f.bytes)} ({fmt_ratio(f.bytes, t.bytes, 'bytes')})")
    if f.latency_ms is not None:
        parts.append(f"{fmt_ms(f.latency_ms)} at batch 1 "
                     f"({fmt_ratio(f.latency_ms, t.latency_ms, 'latency')})")
    return (f"<p class=\"lede\" data-run=\"r{run.index}\">{swatch}<b>{escape(run.label)}</b>: "
            f"{escape(teacher.name)} → {escape(final.name)}: {', '.join(parts)}.</p>")


def _figure(chart: Chart) -> str:
    axes = escape(json.dumps(chart.axes, sort_keys=True))
    return (f"<figure class=\"chart\" id=\"chart-{chart.name}\" data-axes=\"{axes}\">\n"
            f"{chart.inline_svg()}\n<figcaption>{escape(chart.caption)}</figcaption>\n"
            "</figure>")


def _run_section(run: Run, charts: list[Chart], several: bool) -> str:
    m = run.metrics
    out = [f"<section class=\"run\" id=\"run-r{run.index}\">",
           f"<h2>{escape(run.label) if several else 'Stages'}</h2>",
           _stage_table(run)]
    if m.peers:
        out += ["<h3>Peers: the same task through other tools</h3>", _peer_table(run)]
    out += ["<h3>Targets</h3>", _targets(run)]
    out += [_figure(c) for c in charts]
    out += ["<h3>Machine</h3>", _machine(m), "<h3>Recipe, every default resolved</h3>",
            f"<pre class=\"recipe\">{escape(_yaml(m.recipe))}</pre>", "</section>"]
    return "\n".join(out)


def _cell(field: str, value: float | None, text: str, ratio: str = "") -> str:
    data = "" if value is None else f" data-value=\"{value!r}\""
    extra = f"<span class=\"ratio\">{escape(ratio)}</span>" if ratio else ""
    return f"<td data-field=\"{field}\"{data}>{escape(text)}{extra}</td>"


def _measure_cells(m: Measurement | None, teacher: Measurement | None, ref: bool) -> list[str]:
    m = m or Measurement(metric=None)
    t = teacher if (teacher is not None and not ref) else None
    cells = [_cell("metric", m.metric, fmt_metric(m.metric),
                   fmt_ratio(m.metric, t.metric if t else None, "metric"))]
    for field, _, fmt, quantity in _COLUMNS:
        value = getattr(m, field)
        ratio = fmt_ratio(value, getattr(t, field) if t else None, quantity)
        cells.append(_cell(field, value, fmt(value), ratio))
    return cells


def _head(first: list[str], metric: str, last: tuple[str, ...] = ()) -> str:
    names = [*first, escape(metric), *(h for _, h, _, _ in _COLUMNS), *last]
    return "<tr>" + "".join(
        f"<th class=\"name\">{n}</th>" if i < len(first) else f"<th>{n}</th>"
        for i, n in enumerate(names)) + "</tr>"


def _stage_table(run: Run) -> str:
    teacher = run.teacher.measure if run.teacher else None
    final = run.final
    rows = [_head(["#", "stage", "technique"], run.metrics.task.primary_metric, ("wall time",))]
    for stage in run.metrics.stages:
        rows.append(_stage_row(run, stage, teacher, stage is final))
    if len(rows) == 1:
        return "<p>No stage was recorded.</p>"
    return "<table class=\"stages\">" + "".join(rows) + "</table>"


def _stage_row(run: Run, stage: StageRecord, teacher: Measurement | None, final: bool) -> str:
    name = escape(stage.name) + (" (final)" if final else "")
    cells = [f"<td class=\"name\">{stage.index}</td>", f"<td class=\"name\">{name}</td>",
             f"<td class=\"name\">{escape(stage.technique)}</td>",
             *_measure_cells(stage.measure, teacher, ref=stage.index == 0),
             _cell("seconds", stage.seconds, fmt_seconds(stage.seconds))]
    css = " class=\"final\"" if final else ""
    return f"<tr{css} data-point=\"r{run.index}:s{stage.index}\">" + "".join(cells) + "</tr>"


def _peer_table(run: Run) -> str:
    teacher = run.teacher.measure if run.teacher else None
    rows = [_head(["peer", "note"], run.metrics.task.primary_metric)]
    for i, peer in enumerate(run.metrics.peers):
        cells = [f"<td class=\"name\">{escape(peer.name)}</td>",
                 f"<td class=\"name\">{escape(peer.note)}</td>",
                 *_measure_cells(peer.measure, teacher, ref=False)]
        rows.append(f"<tr data-point=\"r{run.index}:p{i}\">" + "".join(cells) + "</tr>")
    return "<table class=\"peers\">" + "".join(rows) + "</table>"


def _targets(run: Run) -> str:
    if not run.metrics.targets:
        return "<p>The recipe set no targets.</p>"
    rows = ["<tr><th class=\"name\">target</th><th>limit</th><th>measured</th>"
            "<th class=\"name\">result</th><th class=\"name\">detail</th></tr>"]
    for t in run.metrics.targets:
        verdict = "<td class=\"name met\">met</td>" if t.met else \
            "<td class=\"name missed\">missed</td>"
        rows.append(
            f"<tr data-target=\"{escape(t.name)}\"><td class=\"name\">{escape(t.name)}</td>"
            + _cell("limit", t.limit, fmt_target(t.name, t.limit))
            + _cell("value", t.value, fmt_target(t.name, t.value))
            + verdict + f"<td class=\"name\">{escape(t.detail) or DASH}</td></tr>")
    return "<table class=\"targets\">" + "".join(rows) + "</table>"


def _machine(m: RunMetrics) -> str:
    mc = m.machine
    items = [("CPU", mc.cpu), ("cores", str(mc.cores)), ("latency threads", str(mc.threads)),
             ("Python", mc.python)]
    items += sorted(mc.versions.items())
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f"<dl class=\"machine\">{body}</dl>"


def _yaml(recipe: dict) -> str:
    if not recipe:
        return "(the run recorded no recipe)"
    return yaml.safe_dump(recipe, sort_keys=False, allow_unicode=True, width=96,
                          default_flow_style=None)
