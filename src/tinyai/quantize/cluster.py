"""Deep Compression stage 2: weight sharing by k-means, with centroid fine-tuning.

Each selected Linear/Conv layer's nonzero weights are clustered (1-D k-means, centroids
initialised linearly between min and max as Han et al. found best: it keeps the rare large
weights). During fine-tuning the layer's weight is ``centroids[index] * mask`` through a
parametrization, so autograd sums each weight's gradient into its centroid (the paper's
grouped gradient update) and pruned zeros stay zero. `convert` bakes the shared weights
back into ordinary float parameters: the model is a plain nn.Module again, whose weights hold
at most 2**bits distinct nonzero values — the Huffman codec stores exactly that.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from tinyai.errors import ConfigError
from tinyai.quantize.config import WeightSharing
from tinyai.quantize.ptq import selected

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)


def kmeans_1d(values: Tensor, k: int, iterations: int = 20) -> tuple[Tensor, Tensor]:
    """Centroids [k] and the index of each value's nearest centroid (linear initialisation).

    In one dimension the nearest-centroid regions are intervals, so assignment is a binary
    search on the midpoints between sorted centroids: O(n log k) per iteration.
    """
    v = values.detach().float().flatten()
    k = max(1, min(k, int(v.numel())))
    centroids = torch.linspace(float(v.min()), float(v.max()), k)
    for _ in range(iterations):
        idx = torch.bucketize(v, (centroids[1:] + centroids[:-1]) / 2)
        sums = torch.zeros(k).index_add_(0, idx, v)
        counts = torch.zeros(k).index_add_(0, idx, torch.ones_like(v))
        new = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)
        new, _ = torch.sort(new)
        if torch.allclose(new, centroids):
            break
        centroids = new
    idx = torch.bucketize(v, (centroids[1:] + centroids[:-1]) / 2)
    return centroids, idx


class SharedWeight(nn.Module):
    """Parametrization: the weight is a lookup into trainable centroids, masked by sparsity."""

    def __init__(self, weight: Tensor, bits: int, iterations: int) -> None:
        super().__init__()
        w = weight.detach()
        mask = w != 0
        centroids, idx = kmeans_1d(w[mask], 1 << bits, iterations)
        full_idx = torch.zeros(w.shape, dtype=torch.long)
        full_idx[mask] = idx
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("index", full_idx)
        self.register_buffer("mask", mask)

    def forward(self, original: Tensor) -> Tensor:
        # where, not multiply: a negative centroid times 0 is -0.0, which is not a zero byte-wise
        return torch.where(
            self.mask, self.centroids[self.index], torch.zeros((), dtype=self.centroids.dtype)
        )


def weight_sharing(model: nn.Module, config: WeightSharing) -> nn.Module:
    if config.step == "prepare":
        fold_batchnorm(model)  # cluster the weights that ship (see fold_batchnorm)
        for _, layer in selected(model, config, _LAYERS):
            if parametrize.is_parametrized(layer, "weight"):
                continue
            bits = config.bits if isinstance(layer, nn.Linear) else config.conv_bits
            shared = SharedWeight(layer.weight, bits, config.iterations)
            parametrize.register_parametrization(layer, "weight", shared, unsafe=True)
            # Only the centroids train: the original weight no longer affects the output.
            layer.parametrizations.weight.original.requires_grad_(False)
        return model
    done = 0
    for layer in model.modules():
        if parametrize.is_parametrized(layer, "weight") and isinstance(
            layer.parametrizations.weight[0], SharedWeight
        ):
            parametrize.remove_parametrizations(layer, "weight", leave_parametrized=True)
            layer.weight.requires_grad_(True)
            done += 1
    if not done:
        raise ConfigError(
            "WeightSharing(step='convert') found no clustered layers; run step='prepare' first"
        )
    return model


def distinct_values(weight: Tensor) -> int:
    """How many distinct nonzero values a weight holds (≤ 2**bits after weight sharing)."""
    w = weight.detach().flatten()
    return int(torch.unique(w[w != 0]).numel())


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Fold each Conv -> BatchNorm pair into the conv, in place (the BatchNorm becomes an
    Identity).

    Quantization and weight sharing must work on the weights that ship: the exporter folds
    BatchNorm into the conv anyway (so a quantized conv's weight would no longer be in the
    graph), and a per-channel BN scale applied after clustering would multiply the number
    of distinct values by the channel count. Zeros stay zeros under the fold. Pairs are
    found in the traced graph (a BN reading a conv's only output: ``self.bn1(self.conv1(x))``
    in a user's forward), or, for a model that does not trace, consecutive in a Sequential.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from tinyai.quantize.ptq import set_submodule

    for conv_name, bn_name in _conv_bn_pairs(model):
        conv, bn = model.get_submodule(conv_name), model.get_submodule(bn_name)
        set_submodule(model, conv_name, fuse_conv_bn_eval(conv.eval(), bn.eval()))
        set_submodule(model, bn_name, nn.Identity())
    return model


_PAIRS = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d))


def _conv_bn_pairs(model: nn.Module) -> list[tuple[str, str]]:
    from torch import fx

    modules = dict(model.named_modules())
    try:
        graph = fx.Tracer().trace(model)
    except Exception:  # data-dependent Python control flow: only what Sequentials show
        return [(f"{name}.{i}" if name else str(i), f"{name}.{i + 1}" if name else str(i + 1))
                for name, seq in modules.items() if isinstance(seq, nn.Sequential)
                for i in range(len(seq) - 1) if _pair(seq[i], seq[i + 1])]
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1
    pairs = []
    for node in graph.nodes:
        source = node.args[0] if node.op == "call_module" and node.args else None
        if not isinstance(source, fx.Node) or source.op != "call_module":
            continue
        conv, bn = str(source.target), str(node.target)
        once = calls[conv] == calls[bn] == 1 and len(source.users) == 1
        if once and _pair(modules[conv], modules[bn]):
            pairs.append((conv, bn))
    return pairs


def _pair(conv: nn.Module, bn: nn.Module) -> bool:
    return any(type(conv) is c and type(bn) is b and bn.track_running_stats
               for c, b in _PAIRS)
