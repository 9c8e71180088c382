"""The one table from technique names and config types to their handlers.

Every verb dispatches here on the config's type, as torchao's ``quantize_`` does:
``quantize_(model, Int8Dynamic())`` and ``prune_(model, StructuredPruning(...))`` look up
the handler registered for that config class. The CLI and YAML recipes reach the same
handlers by technique name, so a default is written once, in the config dataclass.

A technique *declares what it needs* (`Needs`) and never fetches it: the recipe runner (or
the user's own code, through the verbs) puts the task, a teacher, example inputs, a loss
batch, an evaluation function or its training loop into the `StageContext`. Multi-step
techniques carry a ``step`` field ("prepare" / "convert"); the runner feeds calibration
batches or trains between the two steps, as `Needs` says.

Technique packages call `register` when they are imported; `load_builtin_techniques`
imports them on first lookup, which keeps ``import tinyai`` free of torch.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tinyai.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

    from tinyai.config import Config

# Packages whose import registers the built-in techniques.
BUILTIN_TECHNIQUE_PACKAGES = (
    "tinyai.distill",
    "tinyai.prune",
    "tinyai.quantize",
    "tinyai.export",
)
TRAINING = ("none", "optional", "required")


@dataclass(frozen=True)
class Needs:
    """What a technique needs from whoever runs it.

    calibration: batches of the task's training data run through the model between
        ``step="prepare"`` and ``step="convert"`` (static int8).
    training: "required": the runner trains (its loop, the stage's `train` settings) between
        prepare and convert, or, for one-step techniques, the handler calls
        `StageContext.train` itself (scheduled pruning); "optional": a stage may give
        `train` settings to fine-tune after (or between the steps of) the technique; "none".
    teacher: the model being compressed is kept as a teacher (distillation).
    example_inputs: named example tensors (tracing: structured pruning).
    loss: `StageContext.loss_fn`, one training batch's loss (Taylor importance).
    evaluation: `StageContext.evaluate`, the task metric on a sample of its training split
        (sensitivity analysis: never the held-out split the run reports).
    task: the task itself (its data, loss, tokenizer).
    """

    calibration: bool = False
    training: str = "none"
    teacher: bool = False
    example_inputs: bool = False
    loss: bool = False
    evaluation: bool = False
    task: bool = False

    def __post_init__(self) -> None:
        if self.training not in TRAINING:
            raise ValueError(f"training must be one of {TRAINING}, got {self.training!r}")


@dataclass
class StageContext:
    """What a handler may use besides the model and its config (see `Needs`)."""

    task: Any = None
    teacher: nn.Module | None = None
    student: nn.Module | None = None  # a ready-made student for distillation
    tokenizer: Any = None  # the student's tokenizer when it differs from the task's
    example_inputs: dict[str, Any] | None = None
    loss_fn: Callable[[nn.Module], Any] | None = None
    evaluate: Callable[[nn.Module], float] | None = None
    train: Callable[..., Any] | None = None  # train(model, hooks=None): the caller's loop
    train_config: Any = None  # the TrainConfig `train` runs with
    hooks: Any = None  # tinyai.train.TrainHooks for a handler's own training (finetune, ...)
    workdir: Any = None  # a folder the stage may write to (reduced vocabularies, caches)
    report: dict[str, Any] = field(default_factory=dict)  # what the handler measured


Handler = Callable[["nn.Module", "Config", StageContext], "nn.Module"]


@dataclass(frozen=True)
class Technique:
    """`finalize(model)`, when given, turns what the handler leaves for further training
    into the finished form (held pruning masks become zeros); the runner calls it when the
    stage is over, before the model is saved and exported."""

    name: str
    kind: str  # "transfer", "distill", "prune", "quantize", "export"
    config_cls: type[Config]
    handler: Handler
    summary: str
    needs: Needs = Needs()
    finalize: Callable[[nn.Module], nn.Module] | None = None

    @property
    def multi_step(self) -> bool:
        return any(f.name == "step" for f in dataclasses.fields(self.config_cls))


_TECHNIQUES: dict[str, Technique] = {}
_BY_CONFIG: dict[type, Technique] = {}
_loaded = False


def register(
    name: str,
    kind: str,
    config_cls: type[Config],
    handler: Handler,
    summary: str,
    needs: Needs | None = None,
    finalize: Callable[[nn.Module], nn.Module] | None = None,
) -> None:
    """Register a technique; called once per technique by its package."""
    existing = _TECHNIQUES.get(name)
    if existing is not None and existing.config_cls is not config_cls:
        raise ValueError(f"technique {name!r} is already registered")
    owner = _BY_CONFIG.get(config_cls)
    if owner is not None and owner.name != name:
        raise ValueError(f"{config_cls.__name__} already configures technique {owner.name!r}")
    tech = Technique(name, kind, config_cls, handler, summary, needs or Needs(), finalize)
    _TECHNIQUES[name] = tech
    _BY_CONFIG[config_cls] = tech


def load_builtin_techniques() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for package in BUILTIN_TECHNIQUE_PACKAGES:
        importlib.import_module(package)


def get(name: str) -> Technique:
    load_builtin_techniques()
    try:
        return _TECHNIQUES[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_TECHNIQUES), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"unknown technique {name!r}; {hint}run 'tinyai techniques' to list them "
            f"(known: {', '.join(sorted(_TECHNIQUES))})"
        ) from None


def for_config(config: Config, kind: str | None = None) -> Technique:
    """The technique `config` configures (optionally required to be of `kind`)."""
    load_builtin_techniques()
    tech = next((_BY_CONFIG[c] for c in type(config).__mro__ if c in _BY_CONFIG), None)
    if tech is None or (kind is not None and tech.kind != kind):
        known = sorted(t.config_cls.__name__ for t in _TECHNIQUES.values()
                       if kind is None or t.kind == kind)
        what = f"a {kind} config" if kind else "a technique config"
        raise ConfigError(
            f"{type(config).__name__} is not {what}; use one of {', '.join(known)}"
        )
    return tech


def techniques() -> list[Technique]:
    load_builtin_techniques()
    return sorted(_TECHNIQUES.values(), key=lambda t: (t.kind, t.name))


def apply(
    model: nn.Module, config: Config, context: StageContext | None = None, kind: str | None = None
) -> nn.Module:
    """Run the handler registered for `config`'s type: the single dispatch of every verb."""
    return for_config(config, kind).handler(model, config, context or StageContext())
