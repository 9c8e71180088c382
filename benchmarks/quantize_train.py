"""Training for benchmarks/quantize_peers.py (cached): the SST-2 classifier and the QAT students."""

from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tinyai.paths import cache_dir


@dataclasses.dataclass
class Plan:
    cls_steps: int = 300  # own SST-2 fine-tune, used only when sst2_distill's teacher is not cached
    qat_steps: int = 40
    batch: int = 16
    calib_sentences: int = 64
    fidelity_sentences: int = 256
    latency_sentences: int = 64
    rounds: int = 11
    sst2_dev: int = 0  # 0 = all 872
    skip: tuple[str, ...] = ()
    tag: str = "full"


QUICK = Plan(
    cls_steps=4,
    qat_steps=3,
    calib_sentences=8,
    fidelity_sentences=32,
    latency_sentences=4,
    rounds=1,
    sst2_dev=64,
    tag="quick",
    skip=("torchao int8 + compile",),  # inductor takes minutes to compile: not a quick check
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sentences(n: int) -> list[str]:
    from tinyai.data import load_glue

    return list(load_glue("stsb", "dev").texts[:n])


def _root(plan: Plan) -> Path:
    return cache_dir("quantize_peers", plan.tag)


def _save(model: nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))


def load_state(model: nn.Module, path: Path) -> nn.Module:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
    return model.eval()


def _new_classifier() -> nn.Module:
    from tinyai.models import TextClassifier, load_encoder

    return TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean")


def _sst2_batches(steps: int, batch: int, seed: int = 0):
    from tinyai.data import load_glue
    from tinyai.models import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    train = load_glue("sst2", "train")
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        idx = rng.choice(len(train), batch, replace=False)
        enc = tok(
            [train.texts[i] for i in idx],
            padding=True,
            truncation=True,
            max_length=64,
            return_tensors="pt",
        )
        yield (
            {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]},
            torch.from_numpy(np.asarray(train.labels)[idx]),
        )


def load_classifier(plan: Plan) -> nn.Module:
    """The SST-2 classifier every row is built from, frozen in this benchmark's cache.

    The fine-tuned teacher of benchmarks/sst2_distill.py is copied in if it is cached
    when this first runs, else a cheap fine-tune of our own; either way all rows, QAT ones
    included, start from the same weights.
    """
    ours = _root(plan) / "classifier.safetensors"
    if ours.exists():
        return load_state(_new_classifier(), ours)
    theirs = cache_dir("sst2_distill", "full") / "teacher.safetensors"
    if plan.tag == "full" and theirs.exists():
        model = load_state(_new_classifier(), theirs)
        _save(model, ours)
        return model
    log(f"fine-tuning the SST-2 classifier for {plan.cls_steps} steps")
    model = _new_classifier().train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5)
    for inputs, labels in _sst2_batches(plan.cls_steps, 32):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = F.cross_entropy(model(**inputs).float(), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    _save(model, ours)
    return model.eval()


def qat_config(bits: int, step: str) -> Any:
    from tinyai.quantize import QAT

    return QAT(bits=bits, step=step, group_size=32, embedding_bits=8 if bits == 8 else 4)


def _qat_train(
    student: nn.Module, teacher: nn.Module, plan: Plan, classifier: bool, bits: int
) -> None:
    """Distillation with a quantized student and the float teacher."""
    from tinyai.quantize import quantize_

    quantize_(student, qat_config(bits, "prepare"))
    # Only the fake-quant layers train-mode (they track activation ranges); the rest stays in
    # eval so no dropout (HF attention checks its own .training) perturbs the student.
    from tinyai.quantize.qat import FakeQuantLinear

    student.eval()
    for module in student.modules():
        if isinstance(module, FakeQuantLinear):
            module.train()
    opt = torch.optim.AdamW(
        [p for p in student.parameters() if p.requires_grad], lr=2e-5 if bits == 8 else 5e-5
    )
    for step, (inputs, labels) in enumerate(_sst2_batches(plan.qat_steps, plan.batch, seed=1)):
        with torch.no_grad():
            target = teacher(**inputs)
        out = student(**inputs)
        if classifier:
            kd = (
                F.kl_div(
                    F.log_softmax(out / 2, -1), F.softmax(target / 2, -1), reduction="batchmean"
                )
                * 4
            )
            loss = 0.5 * F.cross_entropy(out, labels) + 0.5 * kd
        else:
            loss = (1 - F.cosine_similarity(out, target, dim=-1)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 20 == 0:
            log(
                f"QAT int{bits} {'classifier' if classifier else 'encoder'} "
                f"step {step}: loss {loss.item():.4f}"
            )
    student.eval()


def qat_path(plan: Plan, classifier: bool, bits: int) -> Path:
    # int8 QAT trains on the 7-bit grid of the integer kernels (tinyai.quantize.primitives);
    # checkpoints trained on the earlier 8-bit grid ("qat8-...") are not reused for it.
    grid = "qat8w7" if bits == 8 else f"qat{bits}"
    return _root(plan) / f"{grid}-{'classifier' if classifier else 'encoder'}.safetensors"


def train_all(plan: Plan) -> None:
    from tinyai.models import load_model

    torch.set_num_threads(1)
    classifier = load_classifier(plan)
    encoder = load_model("minilm-l6").eval()
    for bits in (8, 4):
        for is_clf, teacher in ((False, encoder), (True, classifier)):
            path = qat_path(plan, is_clf, bits)
            if path.exists():
                continue
            student = copy.deepcopy(teacher)
            _qat_train(student, teacher, plan, is_clf, bits)
            _save(student, path)
