"""The files `write_report` leaves: the same bytes every time, a page that needs nothing else,
and only files it wrote replaced or removed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from runs import sst2_run, write_run

from tinyai.errors import ConfigError
from tinyai.report import write_report


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "metrics.json"}


def test_redrawing_gives_identical_bytes(single_report: Path, tmp_path: Path) -> None:
    again = write_report([single_report.parent], tmp_path)
    first, second = _files(single_report.parent), _files(again.parent)
    assert sorted(first) == sorted(second) and len(first) == 9  # page + 4 charts x svg, png
    changed = [name for name in first if first[name] != second[name]]
    assert changed == []


def test_the_page_is_self_contained(compared_report: Path) -> None:
    html = compared_report.read_text()
    assert "<script" not in html and "<img" not in html
    # Nothing to fetch: no src= at all, every href a fragment inside the page, and the icon
    # an empty data URI (or a server would be asked for /favicon.ico).
    assert not re.search(r"\ssrc=", html)
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs.count("data:,") == 1 and all(h.startswith("#") for h in hrefs if h != "data:,")
    assert html.count("<svg") == 6  # 2 shared charts + per run: layers and sensitivity
    ids = re.findall(r'\sid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "two charts on one page share an id"


def test_a_narrower_report_removes_only_its_own_stale_charts(
    compared_report: Path, run_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(compared_report.parent, out)
    (out / "report-notes.png").write_bytes(b"\x89PNG not ours")
    write_report([run_dirs[0]], out)
    names = {p.name for p in out.iterdir()}
    assert "report-layers-r1.svg" not in names and "report-layers-r0.png" not in names
    assert {"report-layers.svg", "report-notes.png", "report.html"} <= names


def test_a_chart_file_tinyai_did_not_write_is_not_replaced(tmp_path: Path) -> None:
    run = write_run(tmp_path / "run", sst2_run())
    (run / "report-bubble.svg").write_text("<svg>someone's drawing</svg>")
    with pytest.raises(ConfigError, match=r"report-bubble\.svg exists and was not written"):
        write_report([run], run)
    assert (run / "report-bubble.svg").read_text() == "<svg>someone's drawing</svg>"
    assert not (run / "report.html").exists()  # nothing half-written either


def test_the_report_draws_without_torch(single_report: Path) -> None:
    """metrics.json is all it needs: drawing a report imports neither torch nor transformers."""
    code = (
        "import sys; from pathlib import Path; from tinyai.report import write_report; "
        f"write_report([Path({str(single_report.parent)!r})], Path(sys.argv[1])); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    out = single_report.parent.parent / "no-torch"
    subprocess.run([sys.executable, "-c", code, str(out)], check=True, timeout=300)
    assert (out / "report.html").read_bytes() == single_report.read_bytes()
