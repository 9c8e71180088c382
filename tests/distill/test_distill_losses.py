"""Distillation losses against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from tinyai.distill.losses import (
    IGNORE,
    attention_mse,
    embedding_loss,
    hinton_loss,
    masked_mse,
    similarity_loss,
    soft_target_loss,
)


def test_soft_target_loss_is_the_kl_divergence() -> None:
    teacher = torch.tensor([[math.log(3.0), 0.0]])  # softmax: [0.75, 0.25]
    student = torch.zeros(1, 2)  # [0.5, 0.5]
    expected = 0.75 * math.log(0.75 / 0.5) + 0.25 * math.log(0.25 / 0.5)
    assert soft_target_loss(student, teacher, 1.0).item() == pytest.approx(expected, abs=1e-6)


def test_temperature_softens_and_rescales_by_t_squared() -> None:
    teacher = torch.tensor([[math.log(3.0), 0.0]])
    student = torch.zeros(1, 2)
    t = 2.0
    p = torch.softmax(teacher / t, -1)[0]
    expected = float((p * (p / 0.5).log()).sum()) * t * t
    assert soft_target_loss(student, teacher, t).item() == pytest.approx(expected, abs=1e-6)
    assert soft_target_loss(teacher, teacher, t).item() == pytest.approx(0.0, abs=1e-7)


def test_hinton_mixes_soft_and_hard_and_skips_unlabelled_rows() -> None:
    student = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    teacher = torch.tensor([[1.0, 0.0], [0.0, 3.0]])
    labels = torch.tensor([0, 1])
    soft = soft_target_loss(student, teacher, 2.0)
    hard = torch.nn.functional.cross_entropy(student, labels)
    mixed = hinton_loss(student, teacher, labels, temperature=2.0, alpha=0.3)
    assert mixed.item() == pytest.approx(0.3 * soft.item() + 0.7 * hard.item(), abs=1e-6)
    assert hinton_loss(student, teacher, labels, alpha=0.0).item() == pytest.approx(hard.item())
    partial = hinton_loss(student, teacher, torch.tensor([0, IGNORE]), 2.0, 0.3)
    hard_first = torch.nn.functional.cross_entropy(student[:1], labels[:1])
    assert partial.item() == pytest.approx(0.3 * soft.item() + 0.7 * hard_first.item(), abs=1e-6)
    none = hinton_loss(student, teacher, torch.tensor([IGNORE, IGNORE]), 2.0, 0.3)
    assert none.item() == pytest.approx(soft.item())


def test_hinton_regression_uses_mse_to_teacher_and_label() -> None:
    student, teacher = torch.tensor([1.0, 2.0]), torch.tensor([1.5, 2.0])
    labels = torch.tensor([1.0, 3.0])
    expected = 0.5 * (0.25 / 2) + 0.5 * (1.0 / 2)
    assert hinton_loss(student, teacher, labels, alpha=0.5).item() == pytest.approx(expected)


def test_masked_mse_ignores_padding() -> None:
    student = torch.zeros(1, 3, 2)
    teacher = torch.tensor([[[1.0, 1.0], [3.0, 3.0], [100.0, -100.0]]])  # last token is padding
    mask = torch.tensor([[1, 1, 0]])
    assert masked_mse(student, teacher, mask).item() == pytest.approx((1 + 1 + 9 + 9) / 4)


def test_attention_mse_over_real_pairs_and_head_mean_for_different_head_counts() -> None:
    torch.manual_seed(0)
    teacher = torch.softmax(torch.randn(2, 4, 3, 3), -1)
    assert attention_mse(teacher, teacher).item() == 0.0
    student = teacher.clone()
    student[:, :, 2, :] += 5.0  # only touches the padded query row
    mask = torch.tensor([[1, 1, 0], [1, 1, 0]])
    assert attention_mse(student, teacher, mask).item() == pytest.approx(0.0, abs=1e-7)
    narrow = teacher.mean(1, keepdim=True).expand(2, 2, 3, 3)  # 2 heads vs 4, same mean map
    assert attention_mse(narrow, teacher).item() == pytest.approx(0.0, abs=1e-7)


def test_embedding_losses() -> None:
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    assert embedding_loss(a, b, "cosine").item() == pytest.approx(0.5)  # (1 - 0 + 1 - 1) / 2
    assert embedding_loss(a, b, "mse").item() == pytest.approx((1 + 1 + 0 + 1) / 4)
    with pytest.raises(ValueError):
        embedding_loss(a, b, "l1")


def test_similarity_loss_is_rotation_invariant_and_needs_no_projection() -> None:
    torch.manual_seed(0)
    teacher = torch.randn(5, 4)
    rotation, _ = torch.linalg.qr(torch.randn(4, 4))
    assert similarity_loss(teacher @ rotation, teacher).item() == pytest.approx(0.0, abs=1e-6)
    assert similarity_loss(torch.randn(5, 3), teacher).item() > 0.01  # widths may differ
