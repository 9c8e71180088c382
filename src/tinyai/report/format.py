"""How the report writes numbers: one rule per quantity, so a figure reads the same in every
table, caption and chart label."""

from __future__ import annotations

DASH = "—"  # a value the run did not measure


def fmt_bytes(value: float | None) -> str:
    """Decimal units, as `tinyai summary` prints them: 90.31 MB, 34.7 kB, 512 B."""
    if value is None:
        return DASH
    if value >= 1e6:
        return f"{value / 1e6:.2f} MB"
    if value >= 1e3:
        return f"{value / 1e3:.1f} kB"
    return f"{value:.0f} B"


def fmt_ms(value: float | None) -> str:
    """Two to three significant digits: 8.84 ms, 12.3 ms, 0.61 ms, 0.045 ms."""
    if value is None:
        return DASH
    for floor, decimals in ((100, 0), (10, 1), (0.1, 2)):
        if value >= floor:
            return f"{value:.{decimals}f} ms"
    return f"{value:.3f} ms"


def fmt_count(value: float | None) -> str:
    """Parameters and MACs: 22.71M, 147.5k, 512."""
    if value is None:
        return DASH
    for unit, scale, decimals in (("G", 1e9, 2), ("M", 1e6, 2), ("k", 1e3, 1)):
        if abs(value) >= scale:
            return f"{value / scale:.{decimals}f}{unit}"
    return f"{value:.0f}"


def fmt_metric(value: float | None) -> str:
    return DASH if value is None else f"{value:.4f}"


def fmt_seconds(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.1f} s" if value < 120 else f"{value / 60:.1f} min"


def fmt_fraction(value: float | None) -> str:
    return DASH if value is None else f"{value:.1%}"


# Ratio to the teacher, in the words the articles use: (word when smaller, word when larger).
_RATIO_WORDS = {
    "bytes": ("smaller", "larger"),
    "latency": ("faster", "slower"),
    "macs": ("fewer MACs", "more MACs"),
    "params": ("fewer", "more"),
}


def fmt_ratio(value: float | None, teacher: float | None, quantity: str) -> str:
    """`10.6× smaller` for bytes, `9.0× faster` for latency; `98.2% of teacher` for the metric."""
    if value is None or not teacher:
        return ""
    if quantity == "metric":
        return f"{value / teacher:.1%} of teacher"
    if value <= 0:
        return ""
    fewer, more = _RATIO_WORDS[quantity]
    times = teacher / value
    return f"{times:.1f}× {fewer}" if times >= 1 else f"{1 / times:.1f}× {more}"


def fmt_target(name: str, value: float | None) -> str:
    """A target's limit or measured value in the unit its name implies."""
    if "bytes" in name:
        return fmt_bytes(value)
    if "latency" in name or name.endswith("_ms"):
        return fmt_ms(value)
    if "fraction" in name:
        return fmt_fraction(value)
    if "ratio" in name:
        return DASH if value is None else f"{value:.1f}×"
    return fmt_metric(value)
