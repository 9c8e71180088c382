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
    """Fold each Conv -> BatchNorm pair (consecutive in a Sequential) into the conv, in place.

    Weight sharing must cluster the weights that ship: the exporter folds BatchNorm into the
    conv anyway, and a per-channel BN scale applied after clustering would multiply the number
    of distinct values by the channel count. Zeros stay zeros under the fold.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if isinstance(conv, nn.Conv1d | nn.Conv2d) and isinstance(
                bn, nn.BatchNorm1d | nn.BatchNorm2d
            ):
                seq[i] = fuse_conv_bn_eval(conv.eval(), bn.eval())
                seq[i + 1] = nn.Identity()
    return model
