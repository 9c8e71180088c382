"""Transfer learning on a CNN: a new head on a frozen trunk, trained on real Fashion-MNIST."""

from __future__ import annotations

import torch

from tinyai.distill import FinetuneConfig, finetune, replace_head
from tinyai.models import FashionCNN
from tinyai.tasks import get_task
from tinyai.train import TrainConfig


def test_new_head_on_a_frozen_trunk_learns_and_leaves_the_trunk_alone() -> None:
    torch.manual_seed(0)
    model = FashionCNN()
    replace_head(model, 10)
    head_name = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)][-1]
    trunk_before = {k: v.clone() for k, v in model.state_dict().items()
                    if not k.startswith(head_name)}
    head_before = model.get_submodule(head_name).weight.clone()
    task = get_task("fashion-mnist")
    data = task.dataset("train").subset(range(256))
    config = FinetuneConfig(train=TrainConfig(steps=8, lr=1e-2, log=False, batch_size=32),
                            freeze_trunk=True)
    finetune(model, task, config, data=data)
    after = model.state_dict()
    for key, value in trunk_before.items():
        assert torch.equal(value, after[key]), key  # BatchNorm running stats included
    assert not torch.equal(head_before, model.get_submodule(head_name).weight)
