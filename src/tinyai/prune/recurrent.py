"""Hidden-unit slicing for nn.GRU / nn.LSTM / nn.RNN, which Torch-Pruning lacks or gets wrong.

Torch-Pruning 1.6 has no GRU pruner, and its LSTM pruner slices weight_hh along the wrong
dimensions (rows twice, never the columns). A hidden unit j lives in every gate's rows of
weight_ih/weight_hh/biases, in column j of weight_hh, and (for stacked layers) in column j
of the next layer's weight_ih; PyTorch keeps one `hidden_size` for all layers, so we remove
the same units from every layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch_pruning.pruner.function import BasePruningFunc

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _check(layer: nn.RNNBase) -> None:
    if layer.bidirectional or getattr(layer, "proj_size", 0):
        raise NotImplementedError(
            "structured pruning of bidirectional or projected RNNs "
            "is not supported; add the layer to `ignored`"
        )


def _slice(layer: nn.RNNBase, name: str, keep: torch.Tensor, dim: int) -> None:
    old = getattr(layer, name)
    new = nn.Parameter(
        torch.index_select(old.data, dim, keep).contiguous(), requires_grad=old.requires_grad
    )
    setattr(layer, name, new)


class RecurrentPruner(BasePruningFunc):
    TARGET_MODULES = (nn.GRU, nn.LSTM, nn.RNN)

    def prune_out_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        assert isinstance(layer, nn.RNNBase)
        _check(layer)
        hidden = layer.hidden_size
        keep = torch.tensor(sorted(set(range(hidden)) - set(idxs)), dtype=torch.long)
        gates = _GATES[layer.mode]
        rows = torch.cat([keep + g * hidden for g in range(gates)])
        for i in range(layer.num_layers):
            _slice(layer, f"weight_ih_l{i}", rows, 0)
            _slice(layer, f"weight_hh_l{i}", rows, 0)
            _slice(layer, f"weight_hh_l{i}", keep, 1)
            if i > 0:
                _slice(layer, f"weight_ih_l{i}", keep, 1)
            if layer.bias:
                _slice(layer, f"bias_ih_l{i}", rows, 0)
                _slice(layer, f"bias_hh_l{i}", rows, 0)
        layer.hidden_size = len(keep)
        _refresh_flat(layer)
        return layer

    def prune_in_channels(self, layer: nn.Module, idxs: Sequence[int]) -> nn.Module:
        assert isinstance(layer, nn.RNNBase)
        _check(layer)
        keep = torch.tensor(sorted(set(range(layer.input_size)) - set(idxs)), dtype=torch.long)
        _slice(layer, "weight_ih_l0", keep, 1)
        layer.input_size = len(keep)
        _refresh_flat(layer)
        return layer

    def get_out_channels(self, layer: nn.Module) -> int:
        return int(layer.hidden_size)

    def get_in_channels(self, layer: nn.Module) -> int:
        return int(layer.input_size)


def _refresh_flat(layer: nn.RNNBase) -> None:
    layer._flat_weights = [getattr(layer, n) for n in layer._flat_weights_names]
