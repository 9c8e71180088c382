"""Keyword-spotting models: a DS-CNN student and a small residual CNN teacher.

Both take ``features: float32[B, frames, n_mels]`` (`tinyai.features.audio`: log-mel or MFCC;
``n_mels`` is the number of values per frame either way) and return
``logits: float32[B, num_classes]``; global average pooling makes them independent of the
number of frames, so ``frames``/``n_mels`` only shape the example inputs.

* `KwsDSCNN`: Zhang et al., "Hello Edge" (2017), DS-CNN-S as MLPerf Tiny uses it: one strided
  10x4 conv, then depthwise-separable blocks (3x3 depthwise + 1x1 pointwise, each with
  BatchNorm + ReLU). With the default 64 channels it has 23,180 parameters, about MLPerf
  Tiny's 23,756 (whose int8 TFLite file is 53,936 B).
* `KwsResNet`: a res8/res15-style teacher (Tang & Lin, "Deep Residual Learning for
  Small-Footprint Keyword Spotting", 2018): a 3x3 conv, then residual blocks of two 3x3 convs
  whose dilation doubles per block, so the receptive field covers the whole 49-frame clip
  without pooling away the time resolution.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from tinyai.config import Config
from tinyai.models.base import register_model


@dataclass
class KwsDSCNNConfig(Config):
    """channels[0] is the first conv's width, the rest one DS block each (pruning updates them)."""

    channels: tuple[int, ...] = (64, 64, 64, 64, 64)
    first_kernel: tuple[int, int] = (10, 4)
    first_stride: tuple[int, int] = (2, 2)
    num_classes: int = 12
    n_mels: int = 10  # values per frame (KWS_MFCC's 10 coefficients)
    frames: int = 49
    dropout: float = 0.2

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        self.first_kernel = tuple(self.first_kernel)  # type: ignore[assignment]
        self.first_stride = tuple(self.first_stride)  # type: ignore[assignment]
        for name in ("channels", "first_kernel", "first_stride"):
            values = getattr(self, name)
            if not values or any(int(v) < 1 for v in values):
                raise ValueError(f"{name} must be positive integers, got {values!r}")
        if len(self.first_kernel) != 2 or len(self.first_stride) != 2:
            raise ValueError("first_kernel and first_stride must be (time, frequency) pairs")
        if self.num_classes < 1 or self.n_mels < 1 or self.frames < 1:
            raise ValueError("num_classes, n_mels and frames must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def _ds_block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False),
        nn.BatchNorm2d(c_in),
        nn.ReLU(inplace=True),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


@register_model(KwsDSCNNConfig)
class KwsDSCNN(nn.Module):
    kind = "audio-classification"
    input_names = ("features",)

    def __init__(self, config: KwsDSCNNConfig | None = None) -> None:
        super().__init__()
        # A private copy: sync_config() after pruning must not edit a config the caller shares.
        self.config = config = dataclasses.replace(config or KwsDSCNNConfig())
        first = config.channels[0]
        # "same"-style padding keeps the 10x4 kernel centred, as in the paper's TF code.
        padding = tuple(k // 2 for k in config.first_kernel)
        blocks: list[nn.Module] = [
            nn.Sequential(
                nn.Conv2d(1, first, config.first_kernel, config.first_stride, padding, bias=False),
                nn.BatchNorm2d(first),
                nn.ReLU(inplace=True),
            )
        ]
        for c_in, c_out in zip(config.channels, config.channels[1:], strict=False):
            blocks.append(_ds_block(c_in, c_out))
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(config.channels[-1], config.num_classes),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # [B, frames, n_mels] -> [B, 1, frames, n_mels]: time and frequency are the image axes.
        return self.classifier(self.features(features.unsqueeze(1)))

    def sync_config(self) -> KwsDSCNNConfig:
        widths = []
        for block in self.features:
            convs = [m for m in block.modules() if isinstance(m, nn.Conv2d)]
            widths.append(convs[-1].out_channels)
        self.config.channels = tuple(widths)
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        shape = (batch_size, self.config.frames, self.config.n_mels)
        return {"features": torch.randn(*shape, generator=gen)}


@dataclass
class KwsResNetConfig(Config):
    """channels: width of every conv; blocks: residual blocks, block i dilated by 2**i in time."""

    channels: int = 48
    blocks: int = 3
    num_classes: int = 12
    n_mels: int = 10
    frames: int = 49
    dropout: float = 0.1

    def __post_init__(self) -> None:
        for name in ("channels", "blocks", "num_classes", "n_mels", "frames"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class _ResidualBlock(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        pad = (dilation, 1)
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=pad, dilation=(dilation, 1), bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=pad, dilation=(dilation, 1), bias=False),
            nn.BatchNorm2d(channels),
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


@register_model(KwsResNetConfig)
class KwsResNet(nn.Module):
    kind = "audio-classification"
    input_names = ("features",)

    def __init__(self, config: KwsResNetConfig | None = None) -> None:
        super().__init__()
        self.config = config = dataclasses.replace(config or KwsResNetConfig())
        width = config.channels
        self.stem = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.blocks = nn.Sequential(*(_ResidualBlock(width, 2**i) for i in range(config.blocks)))
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(width, config.num_classes),
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(self.stem(features.unsqueeze(1))))

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        gen = torch.Generator().manual_seed(0)
        shape = (batch_size, self.config.frames, self.config.n_mels)
        return {"features": torch.randn(*shape, generator=gen)}
