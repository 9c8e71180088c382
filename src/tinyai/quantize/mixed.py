"""Mixed precision to a size budget: measure each layer's sensitivity to its bit-width, then
choose per-layer bits that fit the budget with the least total measured loss.

    table = layer_sensitivity(model, evaluate, bits=(8, 4, 2))     # evaluate(model) -> metric
    layer_bits = allocate_bits(table, layer_params(model), budget_bytes=6_000_000)
    quantize_(model, MixedPrecision(layer_bits=layer_bits))

or in one step, where something supplies the evaluation (the recipe runner does):
``MixedPrecision(budget_bytes=6_000_000)`` measures, allocates and quantizes.

Sensitivity is measured one layer at a time (the rest in float), the usual first-order
assumption that per-layer losses add up; the allocation is then a multiple-choice knapsack,
solved greedily by giving up, at each step, the bits that cost the least metric per byte.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from tinyai.errors import ConfigError
from tinyai.measure.sensitivity import SensitivityTable, sweep
from tinyai.quantize.config import MixedPrecision, QuantConfig
from tinyai.quantize.modules import LowBitLinear
from tinyai.quantize.ptq import quantize_mixed, selected, set_submodule
from tinyai.registry import StageContext


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
    higher_is_better: bool = True,
) -> SensitivityTable:
    """The metric when only that layer is quantized to each width (the rest in float)."""
    linears = {n: lin for n, lin in _linears(model, config) if not lin.in_features % group_size}

    def perturb(m: nn.Module, name: str, b: float) -> Callable[[], None]:
        lin = linears[name]
        set_submodule(m, name, LowBitLinear(lin.weight, lin.bias, int(b), group_size))
        return lambda: set_submodule(m, name, lin)  # layers are measured one at a time

    sizes = [(n, lin.weight.numel()) for n, lin in linears.items()]
    return sweep(model, sizes, bits, perturb, evaluate, "bits", higher_is_better)


def layer_bytes(params: int, bits: int, group_size: int = 32) -> float:
    """Stored bytes of a layer at `bits` (packed codes + fp32 scale + zero point per group)."""
    if bits == 32:
        return 4.0 * params
    return params * bits / 8 + params / group_size * (4 + bits / 8)


def allocate_bits(
    table: SensitivityTable,
    params: dict[str, int],
    budget_bytes: float,
    group_size: int = 32,
) -> dict[str, int]:
    """Per-layer bits meeting `budget_bytes` (for these layers) with the least summed loss.

    Start every layer at its widest option and repeatedly take the narrowing step with the
    smallest loss increase per byte saved; raises ConfigError if even the narrowest does not
    fit.
    """
    sensitivity = {n: dict(zip((int(x) for x in table.xs), table.drop(n), strict=True))
                   for n in table.metrics}
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
            raise ConfigError(
                f"budget_bytes {budget_bytes:.0f} is below the narrowest allocation "
                f"({size():.0f} B for the quantized layers); raise the budget"
            )
        choice[best] += 1
    return {n: options[n][i] for n, i in choice.items()}


def mixed_precision(model: nn.Module, config: MixedPrecision, ctx: StageContext) -> nn.Module:
    """The registered handler: allocate bits to `budget_bytes` first when asked to."""
    if config.budget_bytes is not None and not config.layer_bits:
        if ctx.evaluate is None:
            raise ConfigError(
                "MixedPrecision(budget_bytes=...) measures each layer's sensitivity and needs "
                "an evaluation: run it from a recipe, or call layer_sensitivity and "
                "allocate_bits yourself and pass layer_bits"
            )
        higher = bool(getattr(ctx.task, "higher_is_better", True))
        table = layer_sensitivity(model, ctx.evaluate, config.choices, config.group_size,
                                  config, higher_is_better=higher)
        table.metric_name = str(getattr(ctx.task, "primary_metric", "metric"))
        ctx.report["sensitivity"] = table
        bits = allocate_bits(table, layer_params(model, config), config.budget_bytes,
                             config.group_size)
        config = config.replace(layer_bits=bits)
        ctx.report["resolved_config"] = config
    return quantize_mixed(model, config)
