"""`tinyai report` through the real command line, in a subprocess: one run, two runs compared,
and a table of bad inputs (each one line on stderr, exit status 2)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from runs import sst2_run, write_run

from tinyai.recipe.records import TaskInfo

CHARTS_ONE_RUN = ("bubble", "latency", "layers", "sensitivity-s2")


def test_report_redraws_one_run_in_its_directory(tmp_path: Path, run_cli) -> None:
    run = write_run(tmp_path / "run", sst2_run())
    for _ in range(2):  # the second time it replaces its own files
        result = run_cli("report", str(run))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(run / "report.html")
    names = sorted(p.name for p in run.iterdir())
    charts = [f"report-{c}.{ext}" for c in CHARTS_ONE_RUN for ext in ("png", "svg")]
    assert names == sorted(["metrics.json", "report.html", *charts])
    for chart in CHARTS_ONE_RUN:
        with Image.open(run / f"report-{chart}.png") as png:
            assert png.width >= 800 and png.height >= 400
        assert ET.parse(run / f"report-{chart}.svg").getroot().tag.endswith("svg")
    html = (run / "report.html").read_text()
    assert html.count("<figure class=\"chart\"") == len(CHARTS_ONE_RUN)


def test_report_compares_two_runs_on_one_page(run_dirs: tuple[Path, Path], tmp_path: Path,
                                              run_cli) -> None:
    out = tmp_path / "compared"
    result = run_cli("report", *map(str, run_dirs), "-o", str(out))
    assert result.returncode == 0, result.stderr
    html = (out / "report.html").read_text()
    for r, run in enumerate(run_dirs):
        assert f"<section class=\"run\" id=\"run-r{r}\">" in html
        assert f"<b>{run.name}</b>" in html  # each run's headline, named by its folder
        assert (out / f"report-layers-r{r}.svg").is_file()
    assert "id=\"bubble--point:r1:s3\"" in html and "id=\"latency--point:r0:p0\"" in html


def _edit(root: Path, edit: Callable[[dict], object]) -> list[str]:
    """The run's metrics.json after `edit` changed its parsed contents."""
    path = root / "run" / "metrics.json"
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return [str(root / "run")]


def _truncated(root: Path) -> list[str]:
    path = root / "run" / "metrics.json"
    path.write_text(path.read_text()[:500])
    return [str(root / "run")]


def _other_metric(root: Path) -> list[str]:
    metrics = sst2_run()
    metrics.task = TaskInfo("stsb", "regression", "spearman", True, "validation")
    return [str(root / "run"), str(write_run(root / "stsb", metrics)), "-o", str(root / "o")]


def _foreign_page(root: Path) -> list[str]:
    (root / "run" / "report.html").write_text("<html>my own notes</html>")
    return [str(root / "run")]


# case -> (prepare the run directory and return the command's arguments, the message)
BAD_INPUTS: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "not a run directory": (lambda root: [str(root)], "has no metrics.json"),
    "missing directory": (lambda root: [str(root / "nope")], "has no metrics.json"),
    "truncated metrics.json": (_truncated, "cannot read"),
    "someone else's json": (
        lambda root: _edit(root, lambda d: (d.clear(), d.update(loss=1.0))),
        "is not a tinyai run's metrics file",
    ),
    "a number that is text": (
        lambda root: _edit(root, lambda d: d["stages"][1]["measure"].update(bytes="8 MB")),
        "stages[1].measure.bytes: expected int | None, got str",
    ),
    "newer schema": (
        lambda root: _edit(root, lambda d: d.update(schema_version=99)), "upgrade tinyai"
    ),
    "runs scored by different metrics": (_other_metric, "compare runs of tasks with the same"),
    "two runs, no -o": (lambda root: [str(root / "run")] * 2, "say where it goes with -o"),
    "-o is a file": (
        lambda root: [str(root / "run"), "-o", str(root / "run" / "metrics.json")],
        "is a file",
    ),
    "a page tinyai did not write": (_foreign_page, "was not written by tinyai report"),
}


# Through a real subprocess: the command turns each error into one line and exit status 2.
CLI_ROWS = ("not a run directory", "truncated metrics.json", "two runs, no -o")


@pytest.mark.parametrize("case", CLI_ROWS)
def test_report_bad_input_is_one_line_and_exit_2(case: str, tmp_path: Path, run_cli) -> None:
    write_run(tmp_path / "run", sst2_run())
    make_args, message = BAD_INPUTS[case]
    result = run_cli("report", *make_args(tmp_path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert not (tmp_path / "run" / "report-bubble.svg").exists()


@pytest.mark.parametrize("case", [c for c in BAD_INPUTS if c != "two runs, no -o"])
def test_write_report_refuses_bad_input_before_drawing(case: str, tmp_path: Path) -> None:
    """Every row, in-process (fast): a TinyAIError, whose one line the CLI prints."""
    from tinyai.errors import TinyAIError
    from tinyai.report import write_report

    write_run(tmp_path / "run", sst2_run())
    make_args, message = BAD_INPUTS[case]
    args = make_args(tmp_path)
    dirs, out = (args[: args.index("-o")], args[-1]) if "-o" in args else (args, args[0])
    with pytest.raises(TinyAIError) as error:
        write_report([Path(d) for d in dirs], Path(out))
    assert message in str(error.value) and "\n" not in str(error.value)
    assert not (tmp_path / "run" / "report-bubble.svg").exists()  # refused before drawing
