"""Masks held through training, and turned into real zeros afterwards.

We use torch.nn.utils.prune (weight = weight_orig * weight_mask, recomputed by a forward
pre-hook): the gradient reaching weight_orig is multiplied by the mask, and even if an
optimizer's momentum or weight decay moves a masked weight_orig entry, the weight used in
the forward pass stays exactly zero. `make_permanent` folds the mask into a plain weight.

A weight tied between modules (an LM's embedding and output layer) is one weight: it is
selected once, every owner holds the same mask, and it is tied again once the masks are
folded in. nn.MultiheadAttention's bare ``in_proj_weight`` (or q/k/v_proj_weight) is pruned
like any projection.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

# Modules whose weights unstructured pruning touches by default: the ones that carry
# nearly all parameters and multiply-accumulates. Norm scales and biases are left dense.
_PRUNABLE_TYPES = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.Embedding,
    nn.RNNBase,
    nn.MultiheadAttention,
)


def prunable_weights(
    model: nn.Module, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> list[tuple[str, nn.Module, str]]:
    """(full parameter name, owning module, attribute name) for every selected weight; a
    tied weight once, under its first owner's name."""
    found = []
    seen: set[int] = set()
    for module_name, module in model.named_modules():
        if not isinstance(module, _PRUNABLE_TYPES):
            continue
        for attr in _weight_attrs(module):
            tensor = getattr(module, attr + "_orig", None) if is_masked(module, attr) else \
                getattr(module, attr)
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            full = f"{module_name}.{attr}" if module_name else attr
            if include and not any(fnmatch.fnmatchcase(full, p) for p in include):
                continue
            if any(fnmatch.fnmatchcase(full, p) for p in exclude):
                continue
            found.append((full, module, attr))
    return found


def _weight_attrs(module: nn.Module) -> Iterator[str]:
    if isinstance(module, nn.RNNBase):
        yield from (n for n in module._flat_weights_names if n.startswith("weight"))
    elif isinstance(module, nn.MultiheadAttention):  # out_proj is a Linear of its own
        names = ("in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight")
        yield from (n for n in names if getattr(module, n, None) is not None or
                    is_masked(module, n))
    else:
        yield "weight"


def current_weight(module: nn.Module, attr: str) -> torch.Tensor:
    """The weight as the forward pass sees it (mask applied)."""
    if is_masked(module, attr):
        return getattr(module, attr + "_orig").detach() * getattr(module, attr + "_mask")
    return getattr(module, attr).detach()


def is_masked(module: nn.Module, attr: str = "weight") -> bool:
    return hasattr(module, attr + "_mask") and hasattr(module, attr + "_orig")


def set_mask(module: nn.Module, attr: str, mask: torch.Tensor) -> None:
    """Attach `mask` (1 = keep) or replace the one already held, in place."""
    source = attr + "_orig" if is_masked(module, attr) else attr
    mask = mask.to(dtype=getattr(module, source).dtype)
    if is_masked(module, attr):
        getattr(module, attr + "_mask").copy_(mask)
    else:
        torch_prune.custom_from_mask(module, attr, mask)
    _refresh(module, attr)
    if isinstance(module, nn.RNNBase):
        # RNNs read weights from _flat_weights; the hook's setattr keeps it in sync, but
        # cuDNN-style flattened buffers would not be, so drop them.
        module._flat_weights = [getattr(module, n) for n in module._flat_weights_names]


def _refresh(module: nn.Module, attr: str) -> None:
    with torch.no_grad():
        setattr(module, attr, getattr(module, attr + "_orig") * getattr(module, attr + "_mask"))


def copy_model(model: nn.Module) -> nn.Module:
    """copy.deepcopy that also works on a masked model after a forward pass.

    The pre-hook leaves `weight = weight_orig * mask` as a non-leaf tensor, which deepcopy
    refuses; recompute it without autograd first (the next forward recomputes it anyway).
    """
    import copy

    for module in model.modules():
        for name, _ in list(module.named_buffers(recurse=False)):
            attr = name[: -len("_mask")]
            if name.endswith("_mask") and is_masked(module, attr):
                _refresh(module, attr)
    return copy.deepcopy(model)


def masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every held mask, keyed by full parameter name."""
    out = {}
    for module_name, module in model.named_modules():
        for name, buf in module.named_buffers(recurse=False):
            if name.endswith("_mask") and hasattr(module, name[: -len("_mask")] + "_orig"):
                attr = name[: -len("_mask")]
                out[f"{module_name}.{attr}" if module_name else attr] = buf.detach().clone()
    return out


def apply_masks(model: nn.Module, held: dict[str, torch.Tensor]) -> None:
    """Attach masks from `masks()` output (e.g. a lottery ticket) to a same-shaped model;
    the owners a weight is tied to get the same mask."""
    from tinyai.models.ties import tied_groups

    partners = {owner: group for group in tied_groups(model) for owner in group}
    modules = dict(model.named_modules())
    for full, mask in held.items():
        module_name, _, attr = full.rpartition(".")
        for owner, owner_attr in partners.get((module_name, attr), [(module_name, attr)]):
            set_mask(modules[owner], owner_attr, mask)


def make_permanent(model: nn.Module) -> nn.Module:
    """Fold held masks into the weights and remove the hooks: an ordinary module with zeros
    (weights that were tied stay tied)."""
    from tinyai.models.ties import retie, tied_groups

    groups = tied_groups(model)
    for module in model.modules():
        for attr in [
            n[: -len("_mask")]
            for n, _ in module.named_buffers(recurse=False)
            if n.endswith("_mask")
        ]:
            if is_masked(module, attr):
                torch_prune.remove(module, attr)
                with torch.no_grad():
                    # orig * 0 is -0.0 for negative weights; +0.0 has all bits zero, which
                    # is what the sparse codec (and any bitwise check) counts as empty.
                    weight = getattr(module, attr)
                    weight.masked_fill_(weight == 0, 0.0)
        if isinstance(module, nn.RNNBase):
            module._flat_weights = [getattr(module, n) for n in module._flat_weights_names]
    retie(model, groups)
    return model


def sparsity(
    model: nn.Module, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
) -> dict[str, float]:
    """Fraction of exact zeros per selected weight, plus "__total__" over all of them."""
    out: dict[str, float] = {}
    zeros = total = 0
    for full, module, attr in prunable_weights(model, include, exclude):
        w = current_weight(module, attr)
        z = int((w == 0).sum())
        out[full] = z / w.numel()
        zeros += z
        total += w.numel()
    out["__total__"] = zeros / total if total else 0.0
    return out
