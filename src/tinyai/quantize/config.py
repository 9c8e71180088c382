"""Quantization configs: one dataclass per scheme; `quantize_` dispatches on the type.

Multi-step flows (static calibration, QAT, weight clustering) carry a `step` field:
``quantize_(m, Int8Static(step="prepare"))`` -> the user's loop runs calibration batches ->
``quantize_(m, Int8Static(step="convert"))``. The library never owns the data loader.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from tinyai.config import Config
from tinyai.quantize.observers import OBSERVERS

STEPS = ("prepare", "convert")


def _check_step(step: str) -> None:
    if step not in STEPS:
        raise ValueError(f"step must be 'prepare' or 'convert', got {step!r}")


@dataclass
class QuantConfig(Config):
    """Layer selection shared by every scheme: fnmatch patterns on module names.

    `exclude` is how layers are left in float by name; `tinyai.quantize.sensitivity` fills it
    from measured per-layer sensitivity.
    """

    include: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    # Embedding tables (>= 1024 rows) as group-wise 4/8-bit ONNX GatherBlockQuantized; 0 keeps
    # them float. In a small transformer the word embeddings are half the bytes.
    embedding_bits: int = 0
    embedding_group_size: int = 128

    def __post_init__(self) -> None:
        self.include = tuple(self.include)
        self.exclude = tuple(self.exclude)
        if self.embedding_bits not in (0, 4, 8):
            raise ValueError(f"embedding_bits must be 0 (float), 4 or 8, got {self.embedding_bits}")
        _check_group(self.embedding_group_size)


@dataclass(kw_only=True)  # keyword-only: the positional order of older fields stays as it was
class IntegerKernels:
    """Weights that run in ONNX Runtime's integer kernels (int8 GEMMs, QLinearConv).

    They use 7 bits ([-63, 63]) by default: on x86 CPUs without VNNI, ONNX Runtime's u8 x s8
    kernels saturate with full-range weights, so an 8-bit artifact computes wrong outputs
    there (see `tinyai.quantize.primitives.PORTABLE_WEIGHT_QMAX`). `full_range_weights=True`
    keeps [-127, 127], twice the resolution, for artifacts that will only run on ARM or on
    x86 CPUs with VNNI.
    """

    # 2: full_range_weights added; a version-1 config (no such field) meant [-127, 127].
    VERSION: ClassVar[int] = 2

    full_range_weights: bool = False


def _check_tolerance(tolerance: float) -> None:
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"per_tensor_tolerance must be in [0, 1), got {tolerance}")


def _check_group(group_size: int) -> None:
    if group_size < 16 or group_size & (group_size - 1):
        raise ValueError(f"group sizes must be powers of two >= 16, got {group_size}")


@dataclass
class Int8Dynamic(IntegerKernels, QuantConfig):
    """int8 weights, activations quantized per batch at run time (ONNX: DynamicQuantizeMatMul).

    `per_tensor_tolerance` (see `Int8Static`) lets smooth layers take one weight scale.
    """

    per_channel: bool = True
    per_tensor_tolerance: float = 0.0
    embedding_bits: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_tolerance(self.per_tensor_tolerance)


@dataclass
class Int8Static(IntegerKernels, QuantConfig):
    """int8 weights and activations; activation ranges come from calibration batches.

    Covers nn.Linear and nn.Conv2d (grouped / depthwise included). `prepare` first folds every
    Conv -> BatchNorm pair (consecutive in a Sequential) into the conv, so the exported graph
    has no float BatchNorm after an int8 conv, and takes a ReLU right after a conv into that
    layer (its output is quantized after the ReLU, as ONNX Runtime's QLinearConv fuses it).
    Convs are observed at input and output: the output must be quantized for ORT to run the
    integer kernel (see `tinyai.quantize.onnx_conv`).

    `per_tensor_tolerance` > 0 gives a Linear one weight scale instead of one per output
    channel when that keeps its weight noise-to-signal power ratio (mean over output
    channels, `primitives.per_tensor_noise`) at or below the tolerance. ONNX Runtime's
    per-channel int8 GEMM sets up one multiplier per output column on every call, which at
    batch 1 is a measurable share of a small transformer's time; layers with outlier output
    channels (whose per-tensor ratio is orders of magnitude higher) stay per channel.
    0 (the default) keeps every layer per channel. The ratio is that of the grid deployed:
    on the default 7-bit grid a layer's rounding noise is 4x (6 dB) that of the 8-bit one, so
    a tolerance tuned for full-range weights selects the same layers at about 4x the value.
    """

    step: str = "prepare"
    observer: str = "minmax"
    percentile: float = 99.99
    per_channel: bool = True
    per_tensor_tolerance: float = 0.0
    symmetric_activations: bool = False
    bins: int = 2048
    embedding_bits: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_step(self.step)
        _check_tolerance(self.per_tensor_tolerance)
        if self.observer not in OBSERVERS:
            raise ValueError(
                f"observer must be one of {', '.join(OBSERVERS)}, got {self.observer!r}"
            )
        if not 50.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile must be in (50, 100], got {self.percentile}")


@dataclass
class WeightOnly(QuantConfig):
    """Group-wise 8/4/2-bit weights, bit-packed; runs through ONNX Runtime's MatMulNBits."""

    bits: int = 4
    group_size: int = 32
    symmetric: bool = False
    clip_search: bool = True
    embedding_bits: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.bits not in (2, 4, 8):
            raise ValueError(f"bits must be 2, 4 or 8, got {self.bits}")
        _check_group(self.group_size)


@dataclass
class MixedPrecision(QuantConfig):
    """Per-layer bit-widths; layers not listed keep `default_bits`.

    Either give `layer_bits` (e.g. from `allocate_bits`), or a `budget_bytes` for the
    quantized Linear layers: then each layer's sensitivity to every width in `choices` is
    measured (one layer at a time, with the evaluation the caller supplies — the recipe
    runner uses the task's metric on a sample of its training split, never the held-out
    split it reports) and the widths that fit the budget with the least measured loss are
    chosen.
    """

    layer_bits: dict[str, int] = field(default_factory=dict)
    default_bits: int = 8
    group_size: int = 32
    embedding_bits: int = 4
    budget_bytes: int | None = None
    choices: tuple[int, ...] = (8, 4, 2)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.choices = tuple(self.choices)
        bad = {k: v for k, v in self.layer_bits.items() if v not in (2, 4, 8, 32)}
        if bad or self.default_bits not in (2, 4, 8, 32):
            raise ValueError(
                f"bit-widths must be 2, 4, 8 or 32 (float); got {bad or self.default_bits}"
            )
        if self.budget_bytes is not None and self.budget_bytes <= 0:
            raise ValueError(f"budget_bytes must be > 0, got {self.budget_bytes}")
        if not self.choices or any(b not in (2, 4, 8) for b in self.choices):
            raise ValueError(f"choices must be a non-empty subset of (8, 4, 2), got {self.choices}")


@dataclass
class QAT(IntegerKernels, QuantConfig):
    """Quantization-aware training: fake-quant with a straight-through estimator.

    bits=8: per-channel int8 weights and fake-quantized activations (ranges `running` EMA of
    min/max, or `learned` LSQ scales); converts to the Int8Static deployable form, Conv2d
    included (grouped / depthwise too): `prepare` folds every Conv+BatchNorm pair (also of
    convs left float by include/exclude, as Int8Static does) and takes a
    following ReLU into the layer as Int8Static does, so convert yields the same
    QuantizedConv2d (QLinearConv in ONNX Runtime); conv activation ranges are always `running`
    (chained convs must share one grid for ORT's fusion). With activations="none", Linears convert
    to the Int8Dynamic form and convs stay float (QLinearConv needs static ranges).
    bits=4 (or 2): group-wise Linear weights only; converts to the WeightOnly form. Convs stay
    float: there is no low-bit conv kernel to deploy to.

    `per_tensor_tolerance` is Int8Static's (bits=8 Linears only): a layer whose per-tensor
    weight noise is within it trains and deploys with one weight scale. It is decided at
    `prepare` from the starting weights, so training sees the grid that is deployed.
    """

    step: str = "prepare"
    bits: int = 8
    group_size: int = 32
    activations: str = "running"
    ema: float = 0.9
    per_tensor_tolerance: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_step(self.step)
        _check_tolerance(self.per_tensor_tolerance)
        if self.bits not in (2, 4, 8):
            raise ValueError(f"bits must be 2, 4 or 8, got {self.bits}")
        if self.activations not in ("running", "learned", "none"):
            raise ValueError(
                f"activations must be running, learned or none, got {self.activations!r}"
            )
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")


@dataclass
class WeightSharing(QuantConfig):
    """Deep Compression stage 2: k-means weight sharing with fine-tuned centroids.

    prepare: fold BatchNorm into the convs it follows (as static int8 does: the clustered
    weights must be the ones that ship), then cluster each layer's nonzero weights into
    2**bits centroids (linear init as in Han et al.); the layer then trains only its
    centroids (gradients summed per cluster), and pruned zeros stay zero. convert: bake the
    shared weights back into plain float weights that hold at most 2**bits distinct values,
    which the Huffman codec stores losslessly.
    """

    step: str = "prepare"
    bits: int = 4
    conv_bits: int = 8
    iterations: int = 20

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_step(self.step)
        if not 1 <= self.bits <= 8 or not 1 <= self.conv_bits <= 8:
            raise ValueError(f"bits must be in 1..8, got {self.bits}/{self.conv_bits}")
        if self.iterations < 1:
            raise ValueError("iterations must be >= 1")
