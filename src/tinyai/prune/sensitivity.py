"""Per-layer pruning sensitivity, and sparsity allocation from it.

Each selected weight is pruned alone (magnitude) at each sparsity while the rest stays
dense; the user's `eval_fn(model) -> metric` scores it. `allocate_sparsity` then gives each
layer the most sparsity it tolerates for a common metric drop, choosing the smallest drop
that reaches the global target (layers weighted by their size).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from tinyai.errors import ConfigError
from tinyai.prune.masks import prunable_weights
from tinyai.prune.unstructured import _layer_mask

DEFAULT_SPARSITIES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


@dataclass
class SensitivityTable:
    baseline: float
    sparsities: list[float]
    metrics: dict[str, list[float]]  # layer -> metric at each sparsity
    sizes: dict[str, int]  # layer -> number of weights
    higher_is_better: bool = True

    def drop(self, layer: str) -> list[float]:
        sign = 1.0 if self.higher_is_better else -1.0
        return [sign * (self.baseline - m) for m in self.metrics[layer]]

    def to_json(self, path: str | Path | None = None) -> str:
        text = json.dumps(asdict(self), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def to_markdown(self) -> str:
        head = "| layer | weights | " + " | ".join(f"{s:.0%}" for s in self.sparsities) + " |"
        lines = [head, "|---|---|" + "---|" * len(self.sparsities)]
        for layer, values in self.metrics.items():
            cells = " | ".join(f"{v:.4f}" for v in values)
            lines.append(f"| {layer} | {self.sizes[layer]:,} | {cells} |")
        return f"baseline: {self.baseline:.4f}\n\n" + "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        import matplotlib

        matplotlib.use("Agg")  # files only; never needs a display
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(7, 4.5))
        for layer, values in self.metrics.items():
            ax.plot(self.sparsities, values, marker="o", label=layer)
        ax.axhline(self.baseline, color="black", linestyle="--", label="dense")
        ax.set_xlabel("sparsity of the layer (others dense)")
        ax.set_ylabel("metric")
        ax.legend(fontsize="small")
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
        return Path(path)


def sensitivity(
    model: nn.Module,
    eval_fn: Callable[[nn.Module], float],
    layers: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    higher_is_better: bool = True,
) -> SensitivityTable:
    selected = prunable_weights(model)
    if layers is not None:
        wanted = set(layers)
        selected = [s for s in selected if s[0] in wanted]
        missing = wanted - {s[0] for s in selected}
        if missing:
            raise ConfigError(
                f"no prunable weight named {sorted(missing)}; names are "
                "parameter names such as 'features.0.0.weight'"
            )
    baseline = float(eval_fn(model))
    metrics, sizes = {}, {}
    for full, module, attr in selected:
        param = getattr(module, attr)
        original = param.detach().clone()
        row = []
        for s in sparsities:
            with torch.no_grad():
                param.copy_(original * _layer_mask(original, s))
            row.append(float(eval_fn(model)))
        with torch.no_grad():
            param.copy_(original)
        metrics[full], sizes[full] = row, original.numel()
    return SensitivityTable(
        baseline, [float(s) for s in sparsities], metrics, sizes, higher_is_better
    )


def allocate_sparsity(table: SensitivityTable, target: float) -> dict[str, float]:
    """Per-layer sparsities whose size-weighted mean is `target` (for layer_sparsity=).

    Every layer gets the sparsity at which its (interpolated, monotone) metric drop reaches a
    common tolerance; the tolerance is bisected until the layers together hit the target.
    """
    total = sum(table.sizes.values())
    curves = {layer: _drop_curve(table, layer) for layer in table.metrics}

    def allocation(tolerance: float) -> dict[str, float]:
        return {layer: _sparsity_at(curve, tolerance) for layer, curve in curves.items()}

    def overall(tolerance: float) -> float:
        alloc = allocation(tolerance)
        return sum(alloc[n] * table.sizes[n] for n in alloc) / total

    low, high = 0.0, max(d for curve in curves.values() for _, d in curve) + 1e-9
    if overall(high) < target:
        raise ConfigError(
            f"the sensitivity table reaches at most {overall(high):.3f} overall "
            f"sparsity; add higher sparsities to the sweep to target {target}"
        )
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if overall(mid) < target else (low, mid)
    alloc, reached = allocation(high), overall(high)
    # Bisection lands a hair above the target; trim proportionally to hit it exactly.
    return {n: v * target / reached for n, v in alloc.items()} if reached else alloc


def _drop_curve(table: SensitivityTable, layer: str) -> list[tuple[float, float]]:
    """(sparsity, drop) points from (0, 0), made non-decreasing so it can be inverted."""
    points, worst = [(0.0, 0.0)], 0.0
    for s, d in sorted(zip(table.sparsities, table.drop(layer), strict=True)):
        worst = max(worst, d)
        points.append((s, worst))
    return points


def _sparsity_at(curve: list[tuple[float, float]], tolerance: float) -> float:
    """The largest sparsity whose linearly interpolated drop stays within `tolerance`."""
    best = 0.0
    for (s0, d0), (s1, d1) in itertools.pairwise(curve):
        if d1 <= tolerance:
            best = s1
            continue
        if d0 <= tolerance < d1:
            best = s0 + (s1 - s0) * (tolerance - d0) / (d1 - d0)
        break
    return best
