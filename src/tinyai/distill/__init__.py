"""Transfer learning and knowledge distillation for any teacher/student pair of nn.Modules.

Public API::

    finetune(model, task, FinetuneConfig(...), tokenizer=None) -> model       # in place
    distill(student, teacher, data, DistillConfig(...), tokenizer=...) -> student
    build_student(teacher, StudentSpec(layers=(1, 3, 5), hidden_size=256, ...)) -> student
    pruned_copy(teacher, StructuredPruning(ratio=0.5), example_inputs) -> student  # any model
    reduce_vocab(tokenizer_dir, texts, out_dir, max_size=8000) -> ReducedVocab
    augment_texts(texts, AugmentConfig(...)) -> list[str]
    losses: soft_target_loss, hinton_loss, masked_mse, attention_mse, embedding_loss,
            similarity_loss;  layer maps: LayerPair, bert_layer_map
"""

from __future__ import annotations

from typing import Any

from tinyai._verbs import make_package_callable
from tinyai.distill.augment import AugmentConfig, augment_texts
from tinyai.distill.core import DistillConfig, distill
from tinyai.distill.finetune import FinetuneConfig, finetune, freeze_, replace_head
from tinyai.distill.layers import (
    LayerPair,
    bert_layer_map,
    feature_pairs,
    find_bert,
    use_eager_attention,
)
from tinyai.distill.losses import (
    attention_mse,
    embedding_loss,
    hinton_loss,
    masked_mse,
    similarity_loss,
    soft_target_loss,
)
from tinyai.distill.students import (
    FactorizedEmbedding,
    StudentSpec,
    build_student,
    pruned_copy,
    shrink_bert,
)
from tinyai.distill.text import TokenizedText
from tinyai.distill.vocab import ReducedVocab, load_reduced_vocab, reduce_vocab
from tinyai.errors import ConfigError
from tinyai.registry import Needs, StageContext, register

__all__ = [
    "AugmentConfig",
    "DistillConfig",
    "FactorizedEmbedding",
    "FinetuneConfig",
    "LayerPair",
    "ReducedVocab",
    "StudentSpec",
    "TokenizedText",
    "attention_mse",
    "augment_texts",
    "bert_layer_map",
    "build_student",
    "distill",
    "embedding_loss",
    "feature_pairs",
    "find_bert",
    "finetune",
    "freeze_",
    "hinton_loss",
    "load_reduced_vocab",
    "masked_mse",
    "pruned_copy",
    "reduce_vocab",
    "replace_head",
    "shrink_bert",
    "similarity_loss",
    "soft_target_loss",
    "use_eager_attention",
]


def _apply_finetune(model: Any, config: FinetuneConfig, ctx: StageContext) -> Any:
    if ctx.task is None:
        raise ConfigError("fine-tuning needs a task (its training data and loss)")
    return finetune(model, ctx.task, config, tokenizer=ctx.tokenizer, hooks=ctx.hooks)


def _apply_distill(model: Any, config: DistillConfig, ctx: StageContext) -> Any:
    """`model` is the teacher unless `ctx.teacher` is given; the student is `ctx.student`
    (the recipe runner builds it from the recipe's `student`); returns the student."""
    if ctx.task is None:
        raise ConfigError("distillation needs a task for its data")
    if ctx.student is None:
        raise ConfigError("distillation needs a student: give the recipe a `student` "
                          "(built from the teacher, or an architecture)")
    teacher = ctx.teacher if ctx.teacher is not None else model
    teacher_tokenizer = getattr(ctx.task, "tokenizer", None) if ctx.tokenizer else None
    return distill(ctx.student, teacher, ctx.task, config, tokenizer=ctx.tokenizer,
                   teacher_tokenizer=teacher_tokenizer, hooks=ctx.hooks)


register("finetune", "transfer", FinetuneConfig, _apply_finetune,
         "train a model on a task (pretrained or from scratch; optional frozen parts)",
         Needs(task=True))
register("distill", "distill", DistillConfig, _apply_distill,
         "train a student to imitate a teacher (soft targets, TinyBERT layers, embeddings)",
         Needs(task=True, teacher=True))


# `tinyai.distill(...)` calls the verb even once this package is imported (see tinyai._verbs)
make_package_callable(__name__, distill)
