"""Per-layer sensitivity: the metric with one layer perturbed at a time, the rest untouched.

One table type for every technique that sweeps layers — pruning (x = sparsity of the layer)
and quantization (x = bits of the layer) — so the CLI, the report and the allocators read
the same thing:

    table = sweep(model, layers, xs=[0.5, 0.9], perturb=..., evaluate=eval_fn)
    table.drop("fc1")          # metric lost at each x (positive = worse)
    table.to_record()          # the run report's `Sensitivity`

`perturb(model, layer, x)` changes one layer and returns a function that undoes it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


@dataclasses.dataclass
class SensitivityTable:
    x_label: str  # "sparsity" | "bits"
    xs: list[float]
    baseline: float
    metrics: dict[str, list[float]]  # layer -> metric at each x
    sizes: dict[str, int]  # layer -> number of weights
    higher_is_better: bool = True
    metric_name: str = "metric"

    def drop(self, layer: str) -> list[float]:
        """Metric lost at each x (positive = worse, whatever the metric's direction)."""
        sign = 1.0 if self.higher_is_better else -1.0
        return [sign * (self.baseline - m) for m in self.metrics[layer]]

    def drop_at(self, layer: str, x: float) -> float:
        return self.drop(layer)[self.xs.index(x)]

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(dataclasses.asdict(self), indent=1)
        if path is not None:
            from tinyai import atomic

            atomic.write_text(path, text)
        return text

    @classmethod
    def from_json(cls, text: str) -> SensitivityTable:
        return cls(**json.loads(text))

    def to_record(self) -> Any:
        from tinyai.recipe.records import Sensitivity

        curves = {layer: [[float(x), float(m)] for x, m in zip(self.xs, values, strict=True)]
                  for layer, values in self.metrics.items()}
        return Sensitivity(self.x_label, self.metric_name, curves)

    def to_markdown(self) -> str:
        fmt = (lambda x: f"{x:.0%}") if self.x_label == "sparsity" else (lambda x: f"{x:g} bit")
        head = "| layer | weights | " + " | ".join(fmt(x) for x in self.xs) + " |"
        lines = [head, "|---|---|" + "---|" * len(self.xs)]
        for layer, values in self.metrics.items():
            cells = " | ".join(f"{v:.4f}" for v in values)
            lines.append(f"| {layer} | {self.sizes[layer]:,} | {cells} |")
        return f"baseline: {self.baseline:.4f}\n\n" + "\n".join(lines)


Perturb = Callable[[Any, str, float], Callable[[], None]]


def sweep(
    model: Any,
    layers: Sequence[tuple[str, int]],
    xs: Sequence[float],
    perturb: Perturb,
    evaluate: Callable[[Any], float],
    x_label: str,
    higher_is_better: bool = True,
    metric_name: str = "metric",
) -> SensitivityTable:
    """Evaluate `model` with each (layer, size) in `layers` perturbed alone at each x."""
    baseline = float(evaluate(model))
    metrics, sizes = {}, {}
    for name, size in layers:
        row = []
        for x in xs:
            undo = perturb(model, name, x)
            try:
                row.append(float(evaluate(model)))
            finally:
                undo()
        metrics[name], sizes[name] = row, int(size)
    return SensitivityTable(x_label, [float(x) for x in xs], baseline, metrics, sizes,
                            higher_is_better, metric_name)
