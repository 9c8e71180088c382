"""How tinyai calls a model: the task's named inputs bound to the model's own parameters.

A task offers named tensors (``pixel_values``; ``input_ids`` and ``attention_mask``); a model
written outside tinyai takes whatever its author wrote: ``forward(x)``, ``forward(ids)``,
``forward(images, mask=None)``. This module is the one place that maps the first onto the
second, and every caller goes through it: the training losses, evaluation, calibration, the
pruning trace, summary's MAC count, the export and its parity check. The rules, in order:

1. an explicit mapping ``{parameter: task input}`` given with `set_input_names` (kept on the
   model; an export records it in the manifest);
2. a parameter named like a task input takes that input;
3. the remaining inputs, in the task's order, fill the remaining parameters *without a
   default*, in signature order (``forward(x)`` takes ``pixel_values``); a parameter with a
   default takes only an input of its own name, so ``forward(ids, lengths=None)`` is never
   handed an attention mask it did not ask for;
4. ``*args`` takes the inputs still left, in order; ``**kwargs`` takes them by name (and a
   ``forward(*args, **kwargs)`` that only passes its inputs on gets them all by name).

An input no parameter takes is not passed at all: a model that ignores ``attention_mask``
never sees it, and its export has only the inputs it uses.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tinyai.errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

INPUT_NAMES_ATTR = "tinyai_input_names"
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclasses.dataclass(frozen=True)
class Binding:
    """Which task input goes where, as (forward parameter, task input) pairs: `args` are
    passed by position (the parameter of an input that fills ``*args`` is written ``*name``),
    `kwargs` by keyword."""

    args: tuple[tuple[str, str], ...]
    kwargs: tuple[tuple[str, str], ...]

    @property
    def used(self) -> list[str]:
        """The task inputs the model takes, in the order they are passed."""
        return [name for _, name in (*self.args, *self.kwargs)]

    @property
    def varargs(self) -> bool:
        return any(param.startswith("*") for param, _ in self.args)

    def split(self, inputs: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """(positional values, keyword values) for a call with these named `inputs`."""
        return tuple(inputs[n] for _, n in self.args), {p: inputs[n] for p, n in self.kwargs}

    def to_dict(self) -> dict[str, str]:
        """{forward parameter: task input}, as a manifest records it."""
        return dict((*self.args, *self.kwargs))


def set_input_names(model: nn.Module, mapping: Mapping[str, str]) -> nn.Module:
    """Say which task input each of `model`'s forward parameters takes, e.g.
    ``{"x": "pixel_values"}`` or ``{"tokens": "input_ids", "mask": "attention_mask"}``;
    needed only where the rules above would guess wrong. Returns `model`."""
    setattr(model, INPUT_NAMES_ATTR, {str(k): str(v) for k, v in mapping.items()})
    return model


def input_names_of(model: nn.Module) -> dict[str, str] | None:
    """The explicit mapping `set_input_names` recorded on `model`, if any."""
    mapping = getattr(model, INPUT_NAMES_ATTR, None)
    return dict(mapping) if isinstance(mapping, Mapping) else None


def bind(model: nn.Module, names: Sequence[str]) -> Binding:
    """How `model` is called with the task inputs `names` (in the task's order)."""
    names = list(names)
    signature = _signature(model)
    if signature is None:  # a scripted or compiled forward: the tinyai contract
        return Binding((), tuple((n, n) for n in names))
    params = list(signature.parameters.values())
    if {p.kind for p in params} == {inspect.Parameter.VAR_POSITIONAL,
                                    inspect.Parameter.VAR_KEYWORD}:
        # forward(*args, **kwargs): a wrapper (torch.compile, a hook) that passes everything
        # on; the module it wraps follows the contract, so every input goes by name
        return Binding((), tuple((n, n) for n in names))
    chosen = _choose(model, params, names)
    return _arrange(model, params, chosen, [n for n in names if n not in chosen.values()])


def call_model(model: nn.Module, inputs: Any) -> Any:
    """`model` called on `inputs`: named tensors (bound by the rules above), a tuple or list
    (positional), or one tensor."""
    if isinstance(inputs, Mapping):
        args, kwargs = bind(model, list(inputs)).split(inputs)
        return model(*args, **kwargs)
    if isinstance(inputs, tuple | list):
        return model(*inputs)
    return model(inputs)


def used_inputs(model: nn.Module, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The part of the named `inputs` that `model` takes, in the order it takes them."""
    return {name: inputs[name] for name in bind(model, list(inputs)).used}


def _signature(model: nn.Module) -> inspect.Signature | None:
    try:
        return inspect.signature(model.forward)
    except (TypeError, ValueError):
        return None


def _choose(model: nn.Module, params: list[inspect.Parameter], names: list[str]) -> dict[str, str]:
    """{parameter: task input} by the explicit mapping, equal names, then position."""
    by_name = {p.name: p for p in params if p.kind is not inspect.Parameter.VAR_POSITIONAL}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    explicit = input_names_of(model) or {}
    for param, name in explicit.items():
        if name not in names:
            raise ConfigError(f"the input mapping of {type(model).__name__} names the task input "
                              f"{name!r}, which the task does not offer ({', '.join(names)}); "
                              "map the parameters to those inputs")
        if param not in by_name and not takes_any:
            raise ConfigError(f"the input mapping names parameter {param!r}, which "
                              f"{type(model).__name__}.forward{_shown(params)} does not take")
    chosen = dict(explicit)
    for param in params:
        if param.name not in chosen and param.name in names and param.name in by_name and \
                param.name not in chosen.values():
            chosen[param.name] = param.name
    left = [n for n in names if n not in chosen.values()]
    for param in params:
        if param.kind in _POSITIONAL and param.name not in chosen and left and \
                param.default is inspect.Parameter.empty:
            chosen[param.name] = left.pop(0)
    return chosen


def _arrange(model: nn.Module, params: list[inspect.Parameter], chosen: dict[str, str],
             left: list[str]) -> Binding:
    """Positional while there is no gap, keywords after; *args / **kwargs take the rest."""
    args: list[tuple[str, str]] = []
    kwargs: list[tuple[str, str]] = []
    gap = False
    for param in params:
        if param.kind in _POSITIONAL:
            if param.name not in chosen:
                if param.default is inspect.Parameter.empty:
                    raise _missing(model, params, param, chosen, left)
                gap = True
            elif gap and param.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise ConfigError(f"{type(model).__name__}.forward{_shown(params)}: cannot pass "
                                  f"{param.name!r} by position after a skipped parameter; map "
                                  "the skipped one too with set_input_names")
            elif gap:
                kwargs.append((param.name, chosen[param.name]))
            else:
                args.append((param.name, chosen[param.name]))
        elif param.kind is inspect.Parameter.VAR_POSITIONAL and left and not gap:
            args += [(f"*{param.name}", name) for name in left]
            left = []
        elif param.kind is inspect.Parameter.KEYWORD_ONLY and param.name in chosen:
            kwargs.append((param.name, chosen[param.name]))
        elif param.kind is inspect.Parameter.KEYWORD_ONLY and param.default is \
                inspect.Parameter.empty:
            raise _missing(model, params, param, chosen, left)
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            extra = [(p, n) for p, n in chosen.items() if p not in {q.name for q in params}]
            kwargs += extra + [(n, n) for n in left]
    if not args and not kwargs:
        raise ConfigError(f"{type(model).__name__}.forward{_shown(params)} takes none of the "
                          f"task's inputs; give it a parameter for one of them")
    return Binding(tuple(args), tuple(kwargs))


def _missing(model: nn.Module, params: list[inspect.Parameter], param: inspect.Parameter,
             chosen: dict[str, str], left: list[str]) -> ConfigError:
    offered = sorted({*chosen.values(), *left})
    return ConfigError(
        f"{type(model).__name__}.forward{_shown(params)} needs {param.name!r}, and the task "
        f"offers only {', '.join(offered) or 'nothing'} (all taken); map it with "
        f"tinyai.models.calling.set_input_names(model, {{{param.name!r}: 'TASK_INPUT'}})")


def _shown(params: list[inspect.Parameter]) -> str:
    return "(" + ", ".join(str(p).split(":")[0].split("=")[0].strip() for p in params) + ")"


def check_vocabulary(model: nn.Module, task: Any = None, tokenizer: Any = None) -> None:
    """Refuse, in one line, a tokenizer whose ids do not fit `model`'s embedding.

    A token-id model built with a small vocabulary, run on a text task whose tokenizer has
    30k sub-words, otherwise fails deep inside torch with "index out of range in self". No
    embedding large enough for the tokenizer's ids means some id would fall outside.
    """
    size = _vocabulary_size(tokenizer if tokenizer is not None else _task_tokenizer(task))
    rows = [int(n) for m in model.modules()
            if isinstance(n := getattr(m, "num_embeddings", None), int)]
    if size is None or not rows or max(rows) >= size:
        return
    raise ConfigError(
        f"the tokenizer has {size} tokens but the largest embedding of {type(model).__name__} "
        f"has {max(rows)} rows, so most token ids would index outside it; give the task a "
        f"tokenizer of at most {max(rows)} tokens (build one from your text with "
        f"tinyai.distill.reduce_vocab(tokenizer_dir, texts, out_dir, max_size={max(rows)})), "
        f"or build the embedding with {size} rows")


def _task_tokenizer(task: Any) -> Any:
    if task is None or "tokenizer" not in dir(type(task)):
        return None
    return task.tokenizer


def _vocabulary_size(tokenizer: Any) -> int | None:
    if tokenizer is None:
        return None
    if callable(getattr(tokenizer, "get_vocab_size", None)):  # a `tokenizers.Tokenizer`
        return int(tokenizer.get_vocab_size())
    try:
        return len(tokenizer)  # a transformers tokenizer, added tokens included
    except TypeError:
        return None
