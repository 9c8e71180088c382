"""Reference image models for 28x28 grayscale input (Fashion-MNIST): a small CNN, LeNet-5 and
LeNet-300-100.

Both take ``pixel_values: float32[B, C, H, W]`` and return ``logits: float32[B, num_classes]``.
Layers are plain ``nn.Sequential`` stacks of Conv/BatchNorm/ReLU/Linear so dependency-graph
pruners (torch-pruning) and ONNX export see ordinary modules; forward never reads a width
from the config, so a model whose channels were pruned still runs and round-trips.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from tinyai.config import Config
from tinyai.models.base import register_model


def _check_positive(name: str, values: tuple[int, ...] | int) -> None:
    items = values if isinstance(values, tuple) else (values,)
    if not items or any(int(v) < 1 for v in items):
        raise ValueError(f"{name} must be positive integers, got {values!r}")


def _check_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {p}")


def _example_pixels(batch_size: int, channels: int, size: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {"pixel_values": torch.randn(batch_size, channels, size, size, generator=gen)}


@dataclass
class FashionCNNConfig(Config):
    """A CNN of ``len(channels)`` stages; every stage but the last halves the resolution.

    channels: output width of each stage (kept up to date by `FashionCNN.sync_config`
    after structured pruning). residual: add a two-conv identity block per stage.
    depthwise: use depthwise-separable convs (3x3 depthwise + 1x1 pointwise) after the
    first conv. batchnorm: BatchNorm after every conv.
    """

    channels: tuple[int, ...] = (32, 64, 128)
    in_channels: int = 1
    num_classes: int = 10
    residual: bool = False
    depthwise: bool = False
    batchnorm: bool = True
    dropout: float = 0.2
    image_size: int = 28

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        _check_positive("channels", self.channels)
        _check_positive("in_channels", self.in_channels)
        _check_positive("image_size", self.image_size)
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        _check_dropout(self.dropout)


def conv_unit(
    c_in: int, c_out: int, *, depthwise: bool, batchnorm: bool, stride: int = 1
) -> nn.Sequential:
    """Conv(+BN)+ReLU, or its depthwise-separable version (dw 3x3 then pw 1x1)."""
    layers: list[nn.Module] = []
    if depthwise and c_in > 1:
        layers += [nn.Conv2d(c_in, c_in, 3, stride, 1, groups=c_in, bias=not batchnorm)]
        layers += [nn.BatchNorm2d(c_in)] if batchnorm else []
        layers += [nn.ReLU(inplace=True), nn.Conv2d(c_in, c_out, 1, bias=not batchnorm)]
    else:
        layers += [nn.Conv2d(c_in, c_out, 3, stride, 1, bias=not batchnorm)]
    layers += [nn.BatchNorm2d(c_out)] if batchnorm else []
    layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """relu(x + body(x)); body is conv_unit then conv(+BN) without the final ReLU."""

    def __init__(self, channels: int, *, depthwise: bool, batchnorm: bool) -> None:
        super().__init__()
        last = conv_unit(channels, channels, depthwise=depthwise, batchnorm=batchnorm)
        self.body = nn.Sequential(
            conv_unit(channels, channels, depthwise=depthwise, batchnorm=batchnorm),
            *list(last)[:-1],  # no ReLU before the sum, as in ResNet
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


@register_model(FashionCNNConfig)
class FashionCNN(nn.Module):
    kind = "image-classification"
    input_names = ("pixel_values",)

    def __init__(self, config: FashionCNNConfig | None = None) -> None:
        super().__init__()
        # A private copy: sync_config() after pruning must not edit a config the caller shares.
        self.config = config = dataclasses.replace(config or FashionCNNConfig())
        stages: list[nn.Module] = []
        c_in = config.in_channels
        opts = {"depthwise": config.depthwise, "batchnorm": config.batchnorm}
        for i, c_out in enumerate(config.channels):
            stage: list[nn.Module] = [conv_unit(c_in, c_out, **opts)]
            if config.residual:
                stage.append(ResidualBlock(c_out, **opts))
            if i < len(config.channels) - 1:
                stage.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*stage))
            c_in = c_out
        self.features = nn.Sequential(*stages)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(c_in, config.num_classes),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(pixel_values))

    def sync_config(self) -> FashionCNNConfig:
        """Record the current stage widths in the config (after structured pruning)."""
        widths = []
        for stage in self.features:
            convs = [m for m in stage[0].modules() if isinstance(m, nn.Conv2d)]
            widths.append(convs[-1].out_channels)
        self.config.channels = tuple(widths)
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        cfg = self.config
        return _example_pixels(batch_size, cfg.in_channels, cfg.image_size)


@dataclass
class LeNet300100Config(Config):
    """The LeNet-300-100 MLP of the pruning literature (Han et al. 2015)."""

    hidden: tuple[int, ...] = (300, 100)
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    dropout: float = 0.0

    def __post_init__(self) -> None:
        self.hidden = tuple(self.hidden)
        _check_positive("hidden", self.hidden)
        _check_positive("in_channels", self.in_channels)
        _check_positive("image_size", self.image_size)
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        _check_dropout(self.dropout)


@register_model(LeNet300100Config)
class LeNet300100(nn.Module):
    kind = "image-classification"
    input_names = ("pixel_values",)

    def __init__(self, config: LeNet300100Config | None = None) -> None:
        super().__init__()
        # A private copy: sync_config() after pruning must not edit a config the caller shares.
        self.config = config = dataclasses.replace(config or LeNet300100Config())
        width = config.in_channels * config.image_size**2
        layers: list[nn.Module] = [nn.Flatten()]
        for hidden in config.hidden:
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            layers += [nn.Dropout(config.dropout)] if config.dropout else []
            width = hidden
        layers.append(nn.Linear(width, config.num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.layers(pixel_values)

    def sync_config(self) -> LeNet300100Config:
        linears = [m for m in self.layers if isinstance(m, nn.Linear)]
        self.config.hidden = tuple(m.out_features for m in linears[:-1])
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        cfg = self.config
        return _example_pixels(batch_size, cfg.in_channels, cfg.image_size)


@dataclass
class LeNet5Config(Config):
    """A LeNet-5 variant in the spirit of the one Deep Compression (Han et al. 2016) pruned
    (theirs: 20/50 channels, 500 hidden, no padding or BatchNorm, 431k weights): two 5x5
    conv stages (padded conv+BN+ReLU+2x2 max-pool), a hidden fully connected layer and the
    classifier.

    Most weights sit in the first fully connected layer (channels[-1] * (image_size/4)^2 ->
    hidden), which is what unstructured pruning and weight sharing compress best.
    channels / hidden are kept up to date by `LeNet5.sync_config` after structured pruning.
    """

    channels: tuple[int, ...] = (32, 64)
    hidden: int = 256
    in_channels: int = 1
    image_size: int = 28
    num_classes: int = 10
    dropout: float = 0.3

    def __post_init__(self) -> None:
        self.channels = tuple(self.channels)
        if len(self.channels) != 2:
            raise ValueError(f"channels must hold two widths (conv1, conv2), got {self.channels!r}")
        _check_positive("channels", self.channels)
        _check_positive("hidden", self.hidden)
        _check_positive("in_channels", self.in_channels)
        if self.image_size < 4 or self.image_size % 4:
            raise ValueError(f"image_size must be a positive multiple of 4, got {self.image_size}")
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {self.num_classes}")
        _check_dropout(self.dropout)


def _lenet_stage(c_in: int, c_out: int) -> nn.Sequential:
    # padding=2 keeps the resolution, so each stage's pool halves it: 28 -> 14 -> 7.
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 5, padding=2, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


@register_model(LeNet5Config)
class LeNet5(nn.Module):
    kind = "image-classification"
    input_names = ("pixel_values",)

    def __init__(self, config: LeNet5Config | None = None) -> None:
        super().__init__()
        # A private copy: sync_config() after pruning must not edit a config the caller shares.
        self.config = config = dataclasses.replace(config or LeNet5Config())
        c1, c2 = config.channels
        self.features = nn.Sequential(_lenet_stage(config.in_channels, c1), _lenet_stage(c1, c2))
        side = config.image_size // 4
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * side * side, config.hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.hidden, config.num_classes),
        )

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(pixel_values))

    def sync_config(self) -> LeNet5Config:
        """Record the current conv widths and hidden size in the config (after pruning)."""
        self.config.channels = tuple(stage[0].out_channels for stage in self.features)
        self.config.hidden = self.classifier[1].out_features
        return self.config

    def example_inputs(self, batch_size: int = 1) -> dict[str, torch.Tensor]:
        cfg = self.config
        return _example_pixels(batch_size, cfg.in_channels, cfg.image_size)
