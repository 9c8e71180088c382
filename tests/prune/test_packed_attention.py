"""Structured pruning of attention that packs q, k and v into one Linear (tinyai's
CharTransformer, nanoGPT, timm): the MLPs shrink, the attention stays whole, the plan
replays on a fresh model, and what torch-pruning cannot slice is one line naming the fix."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from tinyai.errors import ConfigError
from tinyai.models import CharTransformer, CharTransformerConfig
from tinyai.prune import PruningPlan, StructuredPruning, apply_plan, plan
from tinyai.prune.structured import packed_attention

MLP_LAYERS = {f"blocks.{i}.mlp.{j}" for i in range(2) for j in (0, 2)}


def _gpt() -> CharTransformer:
    torch.manual_seed(0)
    config = CharTransformerConfig(n_layer=2, n_head=2, n_embd=32, block_size=16, seq_len=16)
    return CharTransformer(config).eval()


def _next_char_loss(model: torch.nn.Module) -> torch.Tensor:
    ids = torch.randint(0, 65, (4, 17), generator=torch.Generator().manual_seed(1))
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


@pytest.mark.parametrize("importance", ["l2", "taylor"])
def test_char_transformer_loses_mlp_units_and_keeps_its_attention(importance) -> None:
    model = _gpt()
    assert [block.qkv for block in packed_attention(model)] == [
        "blocks.0.attn.qkv", "blocks.1.attn.qkv"]
    config = StructuredPruning(ratio=0.5, importance=importance)
    the_plan = plan(model, config, model.example_inputs(2), loss_fn=_next_char_loss)
    assert {op["module"] for op in the_plan.ops} == MLP_LAYERS
    assert model.blocks[0].mlp[0].out_features == 128  # the dry run left the model alone

    pruned = apply_plan(copy.deepcopy(model), PruningPlan.from_dict(the_plan.to_dict()))
    assert pruned.blocks[0].mlp[0].out_features == pruned.blocks[1].mlp[2].in_features == 64
    assert the_plan.totals["params_after"] == sum(p.numel() for p in pruned.parameters())
    # it still reads a text in pieces through its key/value cache, as it reads it at once
    ids = torch.randint(0, 65, (2, 12), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        whole = pruned(ids)
        feed = pruned.initial_state(2)
        first, feed["state"] = pruned(ids[:, :5], **feed)
        feed["position"] = torch.tensor(5)
        rest, _ = pruned(ids[:, 5:], **feed)
    torch.testing.assert_close(torch.cat([first, rest], dim=1), whole, atol=1e-5, rtol=1e-5)


def test_removing_heads_of_packed_attention_is_refused_in_one_line() -> None:
    model = _gpt()
    with pytest.raises(ConfigError, match=r"packs q, k and v into one Linear "
                       r"\(blocks.0.attn.qkv\).*--target neurons") as info:
        plan(model, StructuredPruning(targets=("heads",)), model.example_inputs(1))
    assert "\n" not in str(info.value)


class _UserAttention(torch.nn.Module):
    """Packed attention as a user may write it, its head count under a name tinyai does not
    know (`h`): torch-pruning's graph misses that the split ties qkv to the model width."""

    def __init__(self) -> None:
        super().__init__()
        self.h = 2
        self.embed = torch.nn.Embedding(20, 16)
        self.qkv = torch.nn.Linear(16, 48)
        self.proj = torch.nn.Linear(16, 16)
        self.up, self.down = torch.nn.Linear(16, 32), torch.nn.Linear(32, 16)
        self.out = torch.nn.Linear(16, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        b, t, w = x.shape
        q, k, v = (z.view(b, t, self.h, -1).transpose(1, 2) for z in self.qkv(x).split(w, dim=2))
        heads = torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        x = x + self.proj(heads.transpose(1, 2).reshape(b, t, w))
        return self.out(x + self.down(torch.relu(self.up(x))))


def test_what_torch_pruning_cannot_slice_is_one_line_naming_the_layers_to_exclude() -> None:
    model = _UserAttention().eval()
    ids = (torch.randint(0, 20, (1, 6)),)
    with pytest.raises(ConfigError, match=r"failed inside torch-pruning at qkv \(IndexError: "
                       r".*exclude it with ignored=\['qkv'\] \(CLI: --exclude qkv\)") as info:
        plan(model, StructuredPruning(ratio=0.5), ids)
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"_UserAttention no longer runs after structured "
                       r"pruning sliced the outputs of down, embed, proj, up "
                       r"\(ValueError.*exclude that layer with ignored=") as info:
        plan(model, StructuredPruning(ratio=0.5, ignored=("qkv",)), ids)
    assert "\n" not in str(info.value)
    the_plan = plan(model, StructuredPruning(ratio=0.5, ignored=("qkv", "proj")), ids)
    assert {op["module"] for op in the_plan.ops} == {"up", "down"}
