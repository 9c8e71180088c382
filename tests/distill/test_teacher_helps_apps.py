"""The two applications' students learn more from their teacher than from the labels alone.

For each track a small teacher is trained once on a larger slice of the real data; then the
same student (same architecture, seed, data slice and steps) is trained twice on a small
labelled slice: on the labels alone, and distilled from the teacher. Few labelled examples
and a teacher that saw more is the setting where the effect is robust (Hinton et al.'s
"soft targets carry the knowledge"); the held-out metric must be better with the teacher.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tinyai.distill import DistillConfig, FinetuneConfig, distill, finetune
from tinyai.measure.evaluate import evaluate
from tinyai.models import (
    CharTransformer,
    CharTransformerConfig,
    KwsDSCNN,
    KwsDSCNNConfig,
    KwsResNet,
    KwsResNetConfig,
)
from tinyai.tasks import get_task
from tinyai.train import TrainConfig


def _sliced(task: Any, split: str, count: int, seed: int = 0) -> Any:
    """`task` with a seeded random `count` examples of `split` (the datasets are stored
    grouped by class, so the first N would be a few classes only)."""
    data = task.dataset(split)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(data))[:count])
    task._datasets[split] = data.subset(chosen)
    return task


def _metric(model: torch.nn.Module, task: Any) -> float:
    result = evaluate(model.eval(), task)
    return float(result["metrics"][result["primary_metric"]])


def _student_pair(make: Any, teacher: torch.nn.Module, task: Any, train: TrainConfig,
                  soft: DistillConfig) -> tuple[float, float]:
    """Held-out metric of the student trained on labels alone, and distilled."""
    torch.manual_seed(0)
    alone = finetune(make(), task, FinetuneConfig(train=train), label="labels")
    torch.manual_seed(0)
    taught = distill(make(), teacher, task, soft.replace(train=train, cache=False))
    return _metric(alone, task), _metric(taught, task)


# --------------------------------------------------------------------------- keyword spotting
@pytest.fixture(scope="module")
def kws_teacher() -> KwsResNet:
    """A small residual teacher trained on every training speaker (MFCCs computed once)."""
    task = get_task("speech-commands")
    torch.manual_seed(0)
    teacher = KwsResNet(KwsResNetConfig(channels=16, blocks=2))
    train = TrainConfig(steps=300, batch_size=64, lr=5e-3, warmup=0.05, decay="cosine",
                        log=False)
    return finetune(teacher, task, FinetuneConfig(train=train),
                    data=task.featurised("train")).eval()


def test_kws_student_distilled_from_the_teacher_beats_it_trained_alone(kws_teacher) -> None:
    task = _sliced(_sliced(get_task("speech-commands"), "train", 200), "test", 400)
    train = TrainConfig(steps=100, batch_size=32, lr=5e-3, warmup=0.05, decay="cosine",
                        log=False)
    alone, taught = _student_pair(lambda: KwsDSCNN(KwsDSCNNConfig(channels=(24, 24, 24))),
                                  kws_teacher, task, train,
                                  DistillConfig(temperature=4.0, alpha=0.9))
    assert _metric(kws_teacher, task) > 0.5  # the teacher knows the task (12 classes)
    assert taught > alone + 0.03, (alone, taught)


# --------------------------------------------------------------------------- text prediction
TINY_GPT = {"n_layer": 2, "n_head": 2, "n_embd": 48}


@pytest.fixture(scope="module")
def char_teacher() -> CharTransformer:
    task = _sliced(get_task("shakespeare"), "train", 1500)
    torch.manual_seed(0)
    teacher = CharTransformer(CharTransformerConfig(**TINY_GPT))
    train = TrainConfig(steps=250, batch_size=16, lr=3e-3, warmup=0.05, decay="cosine",
                        log=False)
    return finetune(teacher, task, FinetuneConfig(train=train)).eval()


def test_char_student_distilled_from_the_teacher_beats_it_trained_alone(char_teacher) -> None:
    task = _sliced(_sliced(get_task("shakespeare"), "train", 24), "val", 64)
    train = TrainConfig(steps=80, batch_size=8, lr=3e-3, warmup=0.05, decay="cosine",
                        log=False)
    alone, taught = _student_pair(
        lambda: CharTransformer(CharTransformerConfig(n_layer=1, n_head=2, n_embd=32)),
        char_teacher, task, train, DistillConfig(temperature=1.0, alpha=0.8))
    # bits per character: lower is better
    assert taught < alone - 0.05, (alone, taught)
