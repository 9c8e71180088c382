"""What the machine runs natively, where it changes what tinyai should do."""

from __future__ import annotations

import functools
from pathlib import Path

# CPU flags (Linux /proc/cpuinfo) that mean bfloat16 matrix products run in hardware.
_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 AVX-512/AMX; "bf16" on aarch64


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's instruction flags as Linux lists them in /proc/cpuinfo (x86 "flags", aarch64
    "Features"); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    return cpuinfo_flags(text)


def cpuinfo_flags(cpuinfo: str) -> frozenset[str]:
    return frozenset(flag for line in cpuinfo.splitlines()
                     if line.startswith(("flags", "Features"))
                     for flag in line.partition(":")[2].split())


@functools.cache
def bf16_native(device: str = "cpu") -> bool:
    """True where bfloat16 autocast is faster than float32 on `device`.

    Without avx512_bf16/AMX a CPU emulates bf16 products: MiniLM fine-tuning then runs about
    2.5x slower than in float32 (an AVX-512 Xeon without bf16, 2 cores), so asking for bf16
    there costs time and buys nothing. Where the flags cannot be read the request is trusted.
    """
    if device == "cuda":
        import torch

        return bool(torch.cuda.is_bf16_supported())
    if device != "cpu":
        return True
    return _has_bf16(cpu_flags())


def cpuinfo_has_bf16(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo text lists a bf16 instruction flag (True when it lists none
    at all: nothing to go by)."""
    return _has_bf16(cpuinfo_flags(cpuinfo))


def _has_bf16(flags: frozenset[str]) -> bool:
    return bool(flags & _BF16_FLAGS) if flags else True


def use_bf16(requested: bool, device: str = "cpu") -> bool:
    """bf16 autocast as asked, except on hardware that only emulates it (then float32)."""
    return requested and bf16_native(device)
