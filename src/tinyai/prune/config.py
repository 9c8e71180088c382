"""Configs for the pruning techniques (all JSON round-trippable via tinyai.config.Config)."""

from __future__ import annotations

from dataclasses import dataclass, field

from tinyai.config import Config

STRUCTURED_TARGETS = ("channels", "neurons", "heads", "ffn")
IMPORTANCES = ("l1", "l2", "taylor")


def _check_fraction(name: str, value: float, *, allow_one: bool = False) -> None:
    upper_ok = value <= 1.0 if allow_one else value < 1.0
    if not (value >= 0.0 and upper_ok):
        bound = "[0, 1]" if allow_one else "[0, 1)"
        raise ValueError(f"{name} must be in {bound}, got {value}")


@dataclass
class AGPSchedule(Config):
    """Zhu & Gupta (2017) gradual pruning: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(t1 - t0))^3.

    Sparsity rises fast at first, while the network still has redundancy to lose, then
    slowly, giving fine-tuning time to recover. Masks are recomputed every `frequency` steps
    between `start_step` and `end_step`; after `end_step` the final sparsity holds.
    """

    initial_sparsity: float = 0.0
    start_step: int = 0
    end_step: int = 1000
    frequency: int = 100

    def __post_init__(self) -> None:
        _check_fraction("initial_sparsity", self.initial_sparsity)
        if self.start_step < 0 or self.end_step <= self.start_step:
            raise ValueError(
                f"need 0 <= start_step < end_step, got start_step={self.start_step}, "
                f"end_step={self.end_step}"
            )
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1 step, got {self.frequency}")

    def sparsity_at(self, step: int, final_sparsity: float) -> float:
        if step <= self.start_step:
            return self.initial_sparsity
        if step >= self.end_step:
            return final_sparsity
        # Hold the value between mask updates so masks only change on update steps.
        step = self.start_step + (step - self.start_step) // self.frequency * self.frequency
        progress = (step - self.start_step) / (self.end_step - self.start_step)
        return final_sparsity + (self.initial_sparsity - final_sparsity) * (1.0 - progress) ** 3


@dataclass
class MagnitudePruning(Config):
    """Unstructured magnitude pruning: zero the smallest |w| of every selected weight.

    scope="layer" prunes each tensor to `sparsity`; "global" ranks all selected weights
    together, so layers with many small weights lose more. `layer_sparsity` overrides the
    target per parameter name (e.g. from `allocate_sparsity`). `include`/`exclude` are
    fnmatch patterns on parameter names such as ``"encoder.*.weight"``.
    """

    sparsity: float = 0.5
    scope: str = "layer"
    schedule: AGPSchedule | None = None
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    layer_sparsity: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check_fraction("sparsity", self.sparsity)
        if self.scope not in ("layer", "global"):
            raise ValueError(f"scope must be 'layer' or 'global', got {self.scope!r}")
        for name, value in self.layer_sparsity.items():
            _check_fraction(f"layer_sparsity[{name!r}]", value)
        if self.schedule is not None and self.schedule.initial_sparsity > self.sparsity:
            raise ValueError("schedule.initial_sparsity must not exceed sparsity")


@dataclass
class StructuredPruning(Config):
    """Physically remove channels / neurons / attention heads / FFN units.

    `ratio` is the fraction of units removed in every prunable layer (per group of coupled
    layers), ranked by `importance`: "l1"/"l2" weight magnitude or first-order "taylor"
    (|w * dL/dw|, needs a loss). `targets` picks what to remove: "channels" (convolutions),
    "neurons" (linear layers), "heads" and "ffn" (transformer blocks); None, the default,
    takes what the model has: heads and FFN units of a BERT-style encoder, else channels and
    neurons (one default for the library, the CLI and recipes). `ignored` lists
    module names (fnmatch patterns) never pruned; the layer that produces the model output
    is always kept so the output shape does not change.
    """

    ratio: float = 0.5
    importance: str = "l2"
    targets: tuple[str, ...] | None = None
    ignored: tuple[str, ...] = ()
    round_to: int | None = None
    global_ranking: bool = False

    def __post_init__(self) -> None:
        _check_fraction("ratio", self.ratio)
        if self.importance not in IMPORTANCES:
            raise ValueError(f"importance must be one of {IMPORTANCES}, got {self.importance!r}")
        if self.targets is not None:
            self.targets = tuple(self.targets)
            bad = [t for t in self.targets if t not in STRUCTURED_TARGETS]
            if bad or not self.targets:
                raise ValueError(f"targets must be a non-empty subset of {STRUCTURED_TARGETS}")
        if self.round_to is not None and self.round_to < 1:
            raise ValueError(f"round_to must be >= 1, got {self.round_to}")


@dataclass
class LotteryConfig(Config):
    """Iterative magnitude pruning with rewinding (Frankle & Carbin 2019; Frankle et al. 2020).

    Each round trains, prunes `prune_per_round` of the remaining weights (global magnitude),
    then rewinds the survivors to their values at `rewind_step` (0 = initialisation).
    """

    rounds: int = 5
    prune_per_round: float = 0.2
    rewind_step: int = 0
    scope: str = "global"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.rounds < 1:
            raise ValueError(f"rounds must be >= 1, got {self.rounds}")
        if not 0.0 < self.prune_per_round < 1.0:
            raise ValueError(f"prune_per_round must be in (0, 1), got {self.prune_per_round}")
        if self.rewind_step < 0:
            raise ValueError(f"rewind_step must be >= 0, got {self.rewind_step}")
        if self.scope not in ("layer", "global"):
            raise ValueError(f"scope must be 'layer' or 'global', got {self.scope!r}")

    def sparsity_after(self, round_index: int) -> float:
        """Fraction of weights removed after `round_index` + 1 rounds."""
        return 1.0 - (1.0 - self.prune_per_round) ** (round_index + 1)
