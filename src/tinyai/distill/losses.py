"""Distillation losses as plain functions of tensors.

Hinton et al. 2015 (soft targets), TinyBERT (Jiao et al. 2020: embedding, hidden-state and
attention MSE) and embedding distillation for sentence encoders (Reimers & Gurevych 2020).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # class label of an example without one (as in torch's cross_entropy)


def soft_target_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                     temperature: float = 1.0) -> torch.Tensor:
    """KL(teacher || student) at `temperature`, times T^2 so gradients keep their scale."""
    t = temperature
    # Per position, averaged over every leading dim: a char LM's [B, T, V] logits are B * T
    # predictions (batchmean over [B, T, V] would sum over T and swamp the hard-label term).
    width = student_logits.shape[-1]
    log_p_student = F.log_softmax(student_logits.float().reshape(-1, width) / t, dim=-1)
    log_p_teacher = F.log_softmax(teacher_logits.float().reshape(-1, width) / t, dim=-1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * t * t


def hinton_loss(student_out: torch.Tensor, teacher_out: torch.Tensor,
                labels: torch.Tensor | None, temperature: float = 2.0,
                alpha: float = 0.5) -> torch.Tensor:
    """alpha * soft-target loss + (1 - alpha) * hard-label loss.

    Logits [B, C] use KL + cross-entropy; scores [B] (regression) use MSE to the
    teacher's score + MSE to the label. Without labels the soft part is all there is.
    """
    regression = student_out.ndim == 1
    if regression:
        soft = F.mse_loss(student_out.float(), teacher_out.float())
    else:
        soft = soft_target_loss(student_out, teacher_out, temperature)
    if labels is None or alpha >= 1.0:
        return soft
    # rows without a label (augmented text: label IGNORE, or NaN for scores) get soft targets only
    known = ~torch.isnan(labels) if regression else labels != IGNORE
    if not bool(known.any()):
        return soft
    if regression:
        hard = F.mse_loss(student_out.float()[known], labels.float()[known])
    else:
        hard = F.cross_entropy(student_out.float()[known], labels.long()[known])
    return alpha * soft + (1.0 - alpha) * hard


def masked_mse(student: torch.Tensor, teacher: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE over the real (unpadded) tokens of [B, T, D] features; mask is [B, T]."""
    diff = (student.float() - teacher.float()) ** 2
    if mask is None:
        return diff.mean()
    weights = mask.to(diff.dtype).unsqueeze(-1)
    return (diff * weights).sum() / (weights.sum() * diff.shape[-1]).clamp_min(1.0)


def attention_mse(student: torch.Tensor, teacher: torch.Tensor,
                  mask: torch.Tensor | None = None) -> torch.Tensor:
    """MSE between attention maps [B, H, T, T] over real query/key pairs.

    TinyBERT matches per head; when the head counts differ we compare the head-averaged
    maps, which keeps the loss defined for narrower students. (We match the attention
    probabilities, which HF returns, rather than TinyBERT's pre-softmax scores; padded keys
    get probability 0 in both so they need no special value.)
    """
    s, t = student.float(), teacher.float()
    if s.shape[1] != t.shape[1]:
        s, t = s.mean(dim=1, keepdim=True), t.mean(dim=1, keepdim=True)
    diff = (s - t) ** 2
    if mask is None:
        return diff.mean()
    m = mask.to(diff.dtype)
    pair = (m[:, None, :, None] * m[:, None, None, :]).expand_as(diff)
    return (diff * pair).sum() / pair.sum().clamp_min(1.0)


def embedding_loss(student: torch.Tensor, teacher: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """Match sentence vectors [B, D]: 'mse' or 'cosine' (1 - cos, mean over the batch)."""
    if kind == "mse":
        return F.mse_loss(student.float(), teacher.float())
    if kind == "cosine":
        return (1.0 - F.cosine_similarity(student.float(), teacher.float(), dim=-1)).mean()
    raise ValueError(f"embedding loss must be 'mse' or 'cosine', not {kind!r}")


def similarity_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """MSE between the in-batch cosine-similarity matrices of student and teacher vectors.

    Needs no projection when the widths differ, and targets exactly what STS measures.
    """
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(teacher.float(), dim=-1)
    return F.mse_loss(s @ s.T, t @ t.T)
