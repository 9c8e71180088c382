"""Teacher outputs computed once and cached on disk (safetensors), so a long or resumed
distillation run never pays for the teacher's forward passes again.

The cache file is keyed by the caller's name for the teacher plus a hash of the token ids,
so a different tokenizer, corpus or augmentation writes a different file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import nn

from tinyai.distill.text import TokenizedText
from tinyai.models.calling import call_model
from tinyai.progress import Progress


def data_fingerprint(data: TokenizedText) -> str:
    digest = hashlib.sha256()
    for ids in data.ids:
        digest.update(ids.tobytes())
        digest.update(b"|")
    return digest.hexdigest()[:16]


@torch.no_grad()
def teacher_outputs(teacher: nn.Module, data: TokenizedText, cache_dir: str | Path | None = None,
                    key: str = "teacher", batch_size: int = 64, log: bool = False,
                    bf16: bool = False) -> torch.Tensor:
    """The teacher's output for every example, [N, ...] float32, in dataset order.

    `bf16` runs the teacher under bfloat16 autocast, as bf16 training runs the student: on a
    CPU with bf16 instructions about half the time of a float32 pass (soft targets need no
    more precision); its outputs are cached under their own name.
    """
    from tinyai.hardware import use_bf16

    device = next((p.device.type for p in teacher.parameters()), "cpu")
    bf16 = use_bf16(bf16, device)
    path = None
    if cache_dir is not None:
        precision = "-bf16" if bf16 else ""
        path = Path(cache_dir) / f"{key}{precision}-{data_fingerprint(data)}.safetensors"
        if path.is_file():
            from safetensors.torch import load_file

            return load_file(str(path))["outputs"]
    was_training = teacher.training
    teacher.eval()
    rows: list[torch.Tensor] = []
    order: list[int] = []
    # sorted by length: the least padding for a pass whose order does not matter
    batches = data.batch_indices(batch_size, shuffle=False, bucket=True)
    with Progress(len(batches), "teacher outputs", enabled=log, every=50, unit="batch") as bar, \
            torch.autocast(device, dtype=torch.bfloat16, enabled=bf16):
        for done, indices in enumerate(batches, start=1):
            batch = data.collate(indices)
            out = call_model(teacher, {"input_ids": batch["input_ids"],
                                       "attention_mask": batch["attention_mask"]})
            rows.append(out.float())
            order += indices
            bar.update(done)
    teacher.train(was_training)
    stacked = torch.cat(rows)
    outputs = torch.empty_like(stacked)
    outputs[torch.as_tensor(order)] = stacked
    if path is not None:
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")  # ranks may write at once
        save_file({"outputs": outputs.contiguous()}, str(tmp))
        tmp.replace(path)
    return outputs
