"""Students built from a teacher, weights carried over wherever shapes allow.

Any architecture: `pruned_copy` is the teacher itself with fewer channels / units / heads,
made by structured pruning of a copy (Torch-Pruning's dependency graph finds the coupled
layers), so the student starts from the teacher's most important weights.

BERT encoders (`build_student`):

- keep a subset of layers (DistilBERT initialises every other layer from the teacher);
- narrower hidden size (heads keep the teacher's head size, so fewer heads) and a smaller
  FFN: the kept dimensions, heads and FFN neurons are the ones with the largest weights,
  and their rows/columns are sliced out of the teacher's matrices;
- a reduced vocabulary (rows of the kept sub-words, see `vocab.py`);
- factorized embeddings (ALBERT): V x E then E x H, initialised by a truncated SVD of the
  carried-over embedding table, the best rank-E approximation of it.
The result is a plain `transformers.BertModel`, swapped into a copy of the teacher's wrapper.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from tinyai.config import Config
from tinyai.distill.layers import find_bert
from tinyai.errors import ConfigError
from tinyai.models.layers import FactorizedEmbedding

if TYPE_CHECKING:
    from tinyai.prune.config import StructuredPruning


@dataclasses.dataclass
class StudentSpec(Config):
    """The shape of a student relative to its teacher; None keeps the teacher's value."""

    layers: tuple[int, ...] | None = None  # teacher layers to keep, in order
    hidden_size: int | None = None
    intermediate_size: int | None = None
    embedding_size: int | None = None  # factorized embeddings when set
    max_position_embeddings: int | None = None
    vocab_size: int | None = None  # reduce the vocabulary to the N sub-words the task uses
    kept_vocab: tuple[int, ...] | None = None  # old ids of a reduced vocabulary (vocab.py)
    keep_pooler: bool = True  # False drops BERT's pooler (unused by mean/CLS heads)

    def __post_init__(self) -> None:
        sizes = ("hidden_size", "intermediate_size", "embedding_size", "max_position_embeddings",
                 "vocab_size")
        for name in sizes:
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.layers is not None and (not self.layers or min(self.layers) < 0):
            raise ValueError("layers must list at least one non-negative teacher layer index")


def build_student(teacher: nn.Module, spec: StudentSpec) -> nn.Module:
    """A copy of `teacher` whose BERT encoder is shrunk to `spec`, weights carried over.

    `spec.vocab_size` needs a corpus: run `reduce_vocab` on the task's text first and pass
    its ids as `kept_vocab` (the recipe runner and `tinyai distill` do this).
    """
    if spec.vocab_size is not None and spec.kept_vocab is None:
        raise ConfigError("vocab_size needs the kept sub-words of a corpus: call reduce_vocab "
                          "and set kept_vocab=tuple(result.kept_ids)")
    name, bert = find_bert(teacher)
    student = copy.deepcopy(teacher)
    small = shrink_bert(bert, spec)
    if name:
        parent_name, _, attr = name.rpartition(".")
        parent = student.get_submodule(parent_name) if parent_name else student
        setattr(parent, attr, small)
    else:
        return small
    _slice_heads_outside(student, name, bert.config.hidden_size, _hidden_keep(bert, spec))
    return student


def shrink_bert(bert: nn.Module, spec: StudentSpec) -> nn.Module:
    """A smaller `transformers.BertModel` initialised from `bert`'s weights."""
    from transformers import BertConfig, BertModel

    cfg = bert.config
    layers = list(spec.layers) if spec.layers is not None else list(range(cfg.num_hidden_layers))
    if max(layers) >= cfg.num_hidden_layers:
        raise ConfigError(f"the teacher has {cfg.num_hidden_layers} layers; layer {max(layers)} "
                          "does not exist")
    head_size = cfg.hidden_size // cfg.num_attention_heads
    hidden = spec.hidden_size or cfg.hidden_size
    if hidden % head_size:
        raise ConfigError(f"hidden_size {hidden} must be a multiple of the teacher's head size "
                          f"{head_size} (heads keep their size; fewer heads make it narrower)")
    vocab = list(spec.kept_vocab) if spec.kept_vocab is not None else list(range(cfg.vocab_size))
    new_cfg = BertConfig(**{
        **cfg.to_dict(), "num_hidden_layers": len(layers), "hidden_size": hidden,
        "num_attention_heads": hidden // head_size,
        "intermediate_size": spec.intermediate_size or cfg.intermediate_size,
        "max_position_embeddings": spec.max_position_embeddings or cfg.max_position_embeddings,
        "vocab_size": len(vocab),
    })
    new_cfg._attn_implementation = cfg._attn_implementation
    pooler = spec.keep_pooler and getattr(bert, "pooler", None) is not None
    small = BertModel(new_cfg, add_pooling_layer=pooler)
    dims = _hidden_keep(bert, spec)
    with torch.no_grad():
        _copy_embeddings(bert, small, dims, torch.tensor(vocab))
        for new_i, old_i in enumerate(layers):
            _copy_layer(bert.encoder.layer[old_i], small.encoder.layer[new_i], dims, head_size)
        if small.pooler is not None:
            small.pooler.dense.weight.copy_(bert.pooler.dense.weight[dims][:, dims])
            small.pooler.dense.bias.copy_(bert.pooler.dense.bias[dims])
    if spec.embedding_size is not None:
        small.embeddings.word_embeddings = _factorize(small.embeddings.word_embeddings.weight,
                                                      spec.embedding_size)
    return small.eval()


def _hidden_keep(bert: nn.Module, spec: StudentSpec) -> torch.Tensor:
    """Residual-stream dimensions to keep: largest summed |LayerNorm gain| over the model."""
    size = bert.config.hidden_size
    if spec.hidden_size is None or spec.hidden_size >= size:
        return torch.arange(size)
    gains = [m.weight.detach().abs() for m in bert.modules() if isinstance(m, nn.LayerNorm)]
    score = torch.stack(gains).sum(0)
    return torch.sort(torch.topk(score, spec.hidden_size).indices).values


def _copy_embeddings(old: nn.Module, new: nn.Module, dims: torch.Tensor,
                     vocab: torch.Tensor) -> None:
    o, n = old.embeddings, new.embeddings
    n.word_embeddings.weight.copy_(o.word_embeddings.weight[vocab][:, dims])
    positions = n.position_embeddings.weight.shape[0]
    n.position_embeddings.weight.copy_(o.position_embeddings.weight[:positions][:, dims])
    n.token_type_embeddings.weight.copy_(o.token_type_embeddings.weight[:, dims])
    n.LayerNorm.weight.copy_(o.LayerNorm.weight[dims])
    n.LayerNorm.bias.copy_(o.LayerNorm.bias[dims])


def _copy_layer(old: nn.Module, new: nn.Module, dims: torch.Tensor, head_size: int) -> None:
    sa_old, sa_new = old.attention.self, new.attention.self
    heads = _top_heads(old, sa_new.num_attention_heads, head_size)
    for proj in ("query", "key", "value"):
        _copy_linear(getattr(sa_old, proj), getattr(sa_new, proj), heads, dims)
    _copy_linear(old.attention.output.dense, new.attention.output.dense, dims, heads)
    _copy_norm(old.attention.output.LayerNorm, new.attention.output.LayerNorm, dims)
    ffn = _top_neurons(old, new.intermediate.dense.out_features)
    _copy_linear(old.intermediate.dense, new.intermediate.dense, ffn, dims)
    _copy_linear(old.output.dense, new.output.dense, dims, ffn)
    _copy_norm(old.output.LayerNorm, new.output.LayerNorm, dims)


def _top_heads(layer: nn.Module, keep: int, head_size: int) -> torch.Tensor:
    """Row indices of the `keep` heads with the largest Q/K/V/O weight norms, in order."""
    sa = layer.attention.self
    out = layer.attention.output.dense.weight.T
    weights = [sa.query.weight, sa.key.weight, sa.value.weight, out]
    n_heads = sa.query.out_features // head_size
    score = sum(w.detach().reshape(n_heads, -1).pow(2).sum(1) for w in weights)
    heads = torch.sort(torch.topk(score, keep).indices).values
    return (heads[:, None] * head_size + torch.arange(head_size)).reshape(-1)


def _top_neurons(layer: nn.Module, keep: int) -> torch.Tensor:
    """FFN neurons with the largest in x out weight norms (they are independent, so slicing
    the others away removes exactly their contribution)."""
    score = layer.intermediate.dense.weight.detach().norm(dim=1) * \
        layer.output.dense.weight.detach().norm(dim=0)
    return torch.sort(torch.topk(score, keep).indices).values


def _copy_linear(old: nn.Linear, new: nn.Linear, rows: torch.Tensor, cols: torch.Tensor) -> None:
    new.weight.copy_(old.weight[rows][:, cols])
    if new.bias is not None:
        new.bias.copy_(old.bias[rows])


def _copy_norm(old: nn.LayerNorm, new: nn.LayerNorm, dims: torch.Tensor) -> None:
    new.weight.copy_(old.weight[dims])
    new.bias.copy_(old.bias[dims])


def _factorize(table: torch.Tensor, rank: int) -> FactorizedEmbedding:
    vocab, hidden = table.shape
    if rank >= hidden:
        raise ConfigError(f"embedding_size {rank} must be below the hidden size {hidden}")
    u, s, vh = torch.linalg.svd(table.detach().float(), full_matrices=False)
    emb = FactorizedEmbedding(vocab, rank, hidden)
    with torch.no_grad():
        emb.rows.weight.copy_(u[:, :rank] * s[:rank])
        emb.project.weight.copy_(vh[:rank].T)
    return emb


def _slice_heads_outside(student: nn.Module, bert_name: str, old_hidden: int,
                         dims: torch.Tensor) -> None:
    """Task heads read the encoder's width: slice their inputs to the kept dimensions."""
    if len(dims) == old_hidden:
        return
    for name, module in student.named_modules():
        inside = name == bert_name or name.startswith(bert_name + ".")
        if inside or not isinstance(module, nn.Linear):
            continue
        if module.in_features == old_hidden:
            new = nn.Linear(len(dims), module.out_features, bias=module.bias is not None)
            with torch.no_grad():
                new.weight.copy_(module.weight[:, dims])
                if module.bias is not None:
                    new.bias.copy_(module.bias)
            parent_name, _, attr = name.rpartition(".")
            setattr(student.get_submodule(parent_name) if parent_name else student, attr, new)


def pruned_copy(teacher: nn.Module, config: StructuredPruning, example_inputs: Any,
                loss_fn: Any = None) -> nn.Module:
    """A narrower copy of `teacher`: the same architecture with `config.ratio` of its
    channels / neurons (or heads / FFN units) removed by structured pruning; the teacher is
    untouched. `example_inputs` trace it; `loss_fn(model)` is needed for taylor importance.
    """
    from tinyai.prune import copy_model, prune_

    student = copy_model(teacher).train(teacher.training)
    return prune_(student, config, example_inputs=example_inputs, loss_fn=loss_fn)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
