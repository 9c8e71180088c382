"""Mixed precision to a size budget: measure each layer's sensitivity to its bit-width, then
choose per-layer bits that fit the budget with the least total measured loss.

    sens = layer_sensitivity(model, evaluate, bits=(8, 4, 2))      # evaluate(model) -> metric
    layer_bits = allocate_bits(sens, layer_params(model), budget_bytes=6_000_000)
    quantize_(model, MixedPrecision(layer_bits=layer_bits))

Sensitivity is measured one layer at a time (the rest in float), the usual first-order
assumption that per-layer losses add up; the allocation is then a multiple-choice knapsack,
solved greedily by giving up, at each step, the bits that cost the least metric per byte.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from tinyai.quantize.config import QuantConfig
from tinyai.quantize.modules import LowBitLinear
from tinyai.quantize.ptq import selected, set_submodule


def _linears(model: nn.Module, config: QuantConfig | None) -> list[tuple[str, nn.Linear]]:
    cfg = config or QuantConfig()
    return [(n, m) for n, m in selected(model, cfg, (nn.Linear,)) if type(m) is nn.Linear]


def layer_params(model: nn.Module, config: QuantConfig | None = None) -> dict[str, int]:
    return {name: lin.weight.numel() for name, lin in _linears(model, config)}


def layer_sensitivity(
    model: nn.Module,
    evaluate: Callable[[nn.Module], float],
    bits: tuple[int, ...] = (8, 4, 2),
    group_size: int = 32,
    config: QuantConfig | None = None,
) -> dict[str, dict[int, float]]:
    """Metric drop (higher metric = better) when only that layer is quantized to each width."""
    base = evaluate(model)
    table: dict[str, dict[int, float]] = {}
    for name, lin in _linears(model, config):
        if lin.in_features % group_size:
            continue
        table[name] = {}
        for b in bits:
            set_submodule(model, name, LowBitLinear(lin.weight, lin.bias, b, group_size))
            table[name][b] = base - evaluate(model)
            set_submodule(model, name, lin)  # restore: layers are measured one at a time
    return table


def layer_bytes(params: int, bits: int, group_size: int = 32) -> float:
    """Stored bytes of a layer at `bits` (packed codes + fp32 scale + zero point per group)."""
    if bits == 32:
        return 4.0 * params
    return params * bits / 8 + params / group_size * (4 + bits / 8)


def allocate_bits(
    sensitivity: dict[str, dict[int, float]],
    params: dict[str, int],
    budget_bytes: float,
    group_size: int = 32,
) -> dict[str, int]:
    """Per-layer bits meeting `budget_bytes` (for these layers) with the least summed loss.

    Start every layer at its widest option and repeatedly take the narrowing step with the
    smallest loss increase per byte saved; raises ValueError if even the narrowest fits not.
    """
    options = {n: sorted(s, reverse=True) for n, s in sensitivity.items()}
    choice = {n: 0 for n in options}  # index into options[n]

    def size() -> float:
        return sum(layer_bytes(params[n], options[n][i], group_size) for n, i in choice.items())

    while size() > budget_bytes:
        best, best_cost = None, float("inf")
        for n, i in choice.items():
            if i + 1 >= len(options[n]):
                continue
            hi, lo = options[n][i], options[n][i + 1]
            saved = layer_bytes(params[n], hi, group_size) - layer_bytes(params[n], lo, group_size)
            cost = (sensitivity[n][lo] - sensitivity[n][hi]) / saved
            if cost < best_cost:
                best, best_cost = n, cost
        if best is None:
            raise ValueError(
                f"budget {budget_bytes:.0f} B is below the narrowest allocation ({size():.0f} B)"
            )
        choice[best] += 1
    return {n: options[n][i] for n, i in choice.items()}
