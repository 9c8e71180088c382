"""Per-layer pruning sensitivity (`tinyai.measure.sensitivity`'s table), and sparsity
allocation from it.

Each selected weight is pruned alone (magnitude) at each sparsity while the rest stays
dense; the user's `eval_fn(model) -> metric` scores it. `allocate_sparsity` then gives each
layer the most sparsity it tolerates for a common metric drop, choosing the smallest drop
that reaches the global target (layers weighted by their size).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import torch
from torch import nn

from tinyai.errors import ConfigError
from tinyai.measure.sensitivity import SensitivityTable, sweep
from tinyai.prune.masks import prunable_weights
from tinyai.prune.unstructured import _layer_mask

DEFAULT_SPARSITIES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95)


def sensitivity(
    model: nn.Module,
    eval_fn: Callable[[nn.Module], float],
    layers: Sequence[str] | None = None,
    sparsities: Sequence[float] = DEFAULT_SPARSITIES,
    higher_is_better: bool = True,
) -> SensitivityTable:
    """Metric with each prunable weight magnitude-pruned alone at each sparsity."""
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
    weights = {full: (module, attr) for full, module, attr in selected}

    def perturb(m: nn.Module, name: str, sparsity: float) -> Callable[[], None]:
        module, attr = weights[name]
        param = getattr(module, attr)
        original = param.detach().clone()
        with torch.no_grad():
            param.copy_(original * _layer_mask(original, sparsity))

        def undo() -> None:
            with torch.no_grad():
                param.copy_(original)

        return undo

    sizes = [(full, getattr(module, attr).numel()) for full, (module, attr) in weights.items()]
    return sweep(model, sizes, sparsities, perturb, eval_fn, "sparsity", higher_is_better)


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
    for s, d in sorted(zip(table.xs, table.drop(layer), strict=True)):
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
