"""Tied weights: one tensor used by several modules (an LM's embedding and output layer).

A technique that replaces a module's weight by a new tensor (pruning's mask folding,
quantization's converted layers) silently unties it: both copies are then stored, the model
grows, and the two uses drift apart under further training. Techniques find the ties before
they change anything (`tied_groups`) and put them back after (`retie`), or leave a tied
weight alone.
"""

from __future__ import annotations

from torch import nn

Owner = tuple[str, str]  # (module name, parameter attribute)
_ORIG = "_orig"  # torch.nn.utils.prune keeps a masked weight as <name>_orig


def tied_groups(model: nn.Module) -> list[list[Owner]]:
    """Every parameter used by more than one (module, attribute), as groups of owners in
    module order; a weight held under a pruning mask counts by its ``*_orig`` tensor."""
    owners: dict[int, list[Owner]] = {}
    for module_name, module in model.named_modules(remove_duplicate=False):
        for attr, param in module.named_parameters(recurse=False):
            name = attr[: -len(_ORIG)] if attr.endswith(_ORIG) else attr
            group = owners.setdefault(id(param), [])
            if (module_name, name) not in group:
                group.append((module_name, name))
    return [group for group in owners.values() if len(group) > 1]


def tied_modules(model: nn.Module) -> dict[str, str]:
    """{module name: the other owners of its tied weight, as text} for every tied module."""
    out: dict[str, str] = {}
    for group in tied_groups(model):
        for owner in group:
            others = [f"{m}.{a}" if m else a for m, a in group if (m, a) != owner]
            out[owner[0]] = ", ".join(others)
    return out


def retie(model: nn.Module, groups: list[list[Owner]]) -> None:
    """Make every owner in each group use its first owner's current parameter again."""
    for group in groups:
        first_module, first_attr = group[0]
        shared = getattr(model.get_submodule(first_module), first_attr)
        for module_name, attr in group[1:]:
            module = model.get_submodule(module_name)
            current = getattr(module, attr)
            if current is shared:
                continue
            if current.shape != shared.shape:
                raise RuntimeError(f"cannot re-tie {module_name}.{attr}: its shape "
                                   f"{list(current.shape)} is not {list(shared.shape)}")
            setattr(module, attr, shared)
            if isinstance(module, nn.RNNBase):
                module._flat_weights = [getattr(module, n) for n in module._flat_weights_names]
