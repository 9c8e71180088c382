"""The Pareto front the latency chart rings, in both metric directions."""

from pathlib import Path

from runs import sst2_run

from tinyai.recipe.records import Measurement
from tinyai.report.series import Point, Run, pareto_front


def _points(pairs: list[tuple[float, float]]) -> list[Point]:
    run = Run(0, "run", Path("run"), sst2_run())
    return [Point(f"r0:s{i}", run, str(i), False, Measurement(metric=m, latency_ms=ms))
            for i, (ms, m) in enumerate(pairs)]


def test_front_keeps_only_models_no_other_beats_on_both() -> None:
    pts = _points([(8.8, 0.875), (1.0, 0.859), (1.1, 0.856), (0.6, 0.854), (0.6, 0.850)])
    front = pareto_front(pts, higher_is_better=True)
    assert [p.key for p in front] == ["r0:s3", "r0:s1", "r0:s0"]


def test_front_for_a_metric_where_lower_is_better() -> None:
    pts = _points([(8.8, 0.30), (1.0, 0.35), (2.0, 0.40), (0.5, 0.50)])
    front = pareto_front(pts, higher_is_better=False)
    assert [p.key for p in front] == ["r0:s3", "r0:s1", "r0:s0"]
