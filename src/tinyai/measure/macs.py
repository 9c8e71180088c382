"""Multiply-accumulates per module, from torch's own FLOP counter (FLOPs / 2).

MACs are attributed to the module whose code ran the op; a module's own MACs exclude its
children's. Two formulas are added for CPU kernels the counter does not know, and torch's
fused transformer fast path is switched off while counting (see `_no_fused_attention`).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count


def count_macs(model: nn.Module, inputs: Any) -> dict[str, int]:
    """Own MACs per module, keyed like torch's ModuleTracker ("Root.child.grandchild")."""
    was_training = {m: m.training for m in model.modules()}
    model.eval()  # train-mode BatchNorm would update its statistics while we count
    try:
        counter = FlopCounterMode(display=False, custom_mapping=extra_formulas())
        with counter, torch.no_grad(), _no_fused_attention():
            call(model, inputs)
    finally:
        for module, training in was_training.items():
            module.training = training
    totals = {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}
    totals.pop("Global", None)
    own = dict(totals)
    for key, total in totals.items():
        # Subtract from the nearest ancestor that ran: containers such as ModuleList are
        # never called, so a layer's parent in the count may be its grandparent.
        parent = key.rpartition(".")[0]
        while parent and parent not in totals:
            parent = parent.rpartition(".")[0]
        if parent:
            own[parent] -= total
    return own


def extra_formulas() -> dict[Any, Any]:
    """FLOP formulas for CPU kernels torch's counter has none for (it would count 0).

    The fused CPU attention and the oneDNN LSTM layer bypass aten.mm/bmm, so without
    these an LSTM or a transformer using SDPA on CPU would report too few MACs.
    """
    aten = torch.ops.aten

    def cpu_sdpa(query, key, value, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
        return sdpa_flop_count(query, key, value)

    def onednn_rnn_layer(inp, w_ih, w_hh, *args: Any, out_shape: Any = None, **kw: Any) -> int:
        steps = math.prod(inp[:-1])  # every (batch, time) position runs both projections
        return 2 * steps * (w_ih[0] * w_ih[1] + w_hh[0] * w_hh[1])

    return {
        aten._scaled_dot_product_flash_attention_for_cpu: cpu_sdpa,
        aten.mkldnn_rnn_layer: onednn_rnn_layer,
    }


@contextlib.contextmanager
def _no_fused_attention() -> Iterator[None]:
    """In eval mode without gradients, nn.TransformerEncoderLayer and nn.MultiheadAttention
    run one fused kernel (aten._transformer_encoder_layer_fwd / _native_multi_head_attention)
    that the FLOP counter cannot see into: a ViT's encoder counted as nearly nothing (13x too
    few MACs on tests/models/user_archs.TinyViT). The unfused path computes the same numbers
    with the ops the counter knows."""
    mha = torch.backends.mha
    before = mha.get_fastpath_enabled()
    mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        mha.set_fastpath_enabled(before)


def call(model: nn.Module, inputs: Any) -> Any:
    """`model` on `inputs` as tinyai calls every model (`tinyai.models.calling`)."""
    from tinyai.models.calling import call_model

    return call_model(model, inputs)
