"""How the report writes numbers: one rule per quantity."""

import pytest

from tinyai.report.format import fmt_bytes, fmt_count, fmt_metric, fmt_ms, fmt_ratio, fmt_target

ROWS = [
    (fmt_bytes, 90_307_801, "90.31 MB"),
    (fmt_bytes, 34_669, "34.7 kB"),
    (fmt_bytes, 512, "512 B"),
    (fmt_ms, 8.84, "8.84 ms"),
    (fmt_ms, 12.34, "12.3 ms"),
    (fmt_ms, 0.61, "0.61 ms"),
    (fmt_ms, 0.045, "0.045 ms"),
    (fmt_ms, 140.2, "140 ms"),
    (fmt_count, 22_713_216, "22.71M"),
    (fmt_count, 147_456, "147.5k"),
    (fmt_count, 1_420_000_000, "1.42G"),
    (fmt_metric, 0.875, "0.8750"),
    (fmt_bytes, None, "—"),
]


@pytest.mark.parametrize(("fmt", "value", "text"), ROWS)
def test_format(fmt, value, text) -> None:
    assert fmt(value) == text


def test_ratios_to_the_teacher_say_which_way() -> None:
    assert fmt_ratio(8_531_449, 90_307_801, "bytes") == "10.6× smaller"
    assert fmt_ratio(0.98, 8.84, "latency") == "9.0× faster"
    assert fmt_ratio(10.0, 8.0, "latency") == "1.2× slower"
    assert fmt_ratio(0.8589, 0.875, "metric") == "98.2% of teacher"
    assert fmt_ratio(5.0, None, "bytes") == ""  # the teacher was not measured


def test_targets_take_the_unit_of_their_name() -> None:
    assert fmt_target("max_bytes", 4_515_390) == "4.52 MB"
    assert fmt_target("max_latency_ms", 1.768) == "1.77 ms"
    assert fmt_target("min_teacher_fraction", 0.98) == "98.0%"
    assert fmt_target("min_size_ratio", 60.47) == "60.5×"
