"""The HTML report of one or more compression runs, drawn from their metrics.json alone.

    write_report([run_dir], out_dir) -> out_dir/report.html

One self-contained page (charts inline as SVG; no network, no scripts) and each chart as
report-NAME.svg and report-NAME.png beside it: metric against parameters with bubble area
proportional to bytes on disk, metric against batch-1 latency with the Pareto front,
per-layer bars of the final model against the teacher, sensitivity curves, the stage table
with ratios to the teacher, the targets, the machine and the resolved recipe. Re-drawing the
same metrics gives identical bytes.
"""

from tinyai.report.write import REPORT_FILE, write_report

__all__ = ["REPORT_FILE", "write_report"]
