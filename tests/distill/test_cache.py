"""Cached teacher outputs: a bf16 pass gives the float32 pass's predictions and is cached
under its own name, so the two never answer for each other."""

from __future__ import annotations

from pathlib import Path

import torch

from tinyai.data import load_glue
from tinyai.distill.cache import teacher_outputs
from tinyai.distill.text import TokenizedText
from tinyai.hardware import bf16_native
from tinyai.models import SentenceEncoder, load_encoder, resolve


def test_a_bf16_teacher_pass_matches_float32_and_is_cached_apart(tmp_path: Path) -> None:
    encoder = SentenceEncoder(load_encoder("minilm-l6")).eval()  # the real teacher: vectors
    dev = load_glue("sst2", "dev").subset(range(64))
    tokens = TokenizedText.encode(resolve("minilm-l6"), dev.texts, max_length=64)
    full = teacher_outputs(encoder, tokens, tmp_path, key="minilm")
    half = teacher_outputs(encoder, tokens, tmp_path, key="minilm", bf16=True)

    assert half.dtype == torch.float32 and half.shape == full.shape
    names = sorted(p.name for p in tmp_path.glob("*.safetensors"))
    if not bf16_native("cpu"):  # emulated bf16 is slower: the pass runs in float32 instead
        assert torch.equal(full, half) and len(names) == 1 and "-bf16-" not in names[0]
        return
    cosine = torch.nn.functional.cosine_similarity(full, half, dim=-1)
    assert cosine.min() > 0.99  # bf16 keeps ~3 digits: the same vectors, not new ones
    assert not torch.equal(full, half)  # ... and it really ran in bf16
    assert len(names) == 2 and sum("-bf16-" in n for n in names) == 1
    again = teacher_outputs(encoder, tokens, tmp_path, key="minilm", bf16=True)
    assert torch.equal(again, half)  # read back from its own file
