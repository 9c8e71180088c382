"""Benchmark tables of students measured on their exported artifacts against their teacher.

    from benchmarks.artifacts import teacher_relative_table
    print(teacher_relative_table(rows, "accuracy", "SST-2 dev acc"))
"""

from __future__ import annotations

from typing import Any


def teacher_relative_table(rows: list[dict[str, Any]], metric: str, label: str) -> str:
    """Students against the teacher (first row): score (`<metric>_artifact`, else
    `<metric>_torch`), share of the teacher's score, size and speed ratios."""
    teacher = rows[0]

    def score(r: dict[str, Any]) -> float:
        return r.get(f"{metric}_artifact", r[f"{metric}_torch"])

    lines = [
        f"| model | {label} | % of teacher | params | file bytes | x smaller | "
        "latency b=1 (ms) | x faster |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {score(r):.2f} | {100 * score(r) / score(teacher):.1f}% | "
            f"{r['params'] / 1e6:.2f}M | {r.get('bytes', 0):,} | "
            f"{teacher.get('bytes', 0) / max(1, r.get('bytes', 1)):.1f} | "
            f"{r.get('latency_ms', float('nan')):.2f} | "
            f"{teacher.get('latency_ms', 0) / max(1e-9, r.get('latency_ms', 1e-9)):.1f} |"
        )
    return "\n".join(lines)
