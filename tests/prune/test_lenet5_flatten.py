"""Channel pruning across LeNet-5's flatten: the first linear layer loses whole 7x7 blocks."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch

from tinyai.models import LeNet5, LeNet5Config, load_model, save_model
from tinyai.prune import StructuredPruning, apply_plan, plan
from tinyai.tasks import get_task

BLOCK = 7 * 7  # each conv2 channel feeds 7x7 positions of the flattened features


def _removed(ops: list[dict], module: str, kind: str) -> list[int]:
    return next(
        op["idxs"] for op in ops if op["module"] == module and op["fn"].endswith(f"prune_{kind}")
    )


def test_taylor_pruning_on_real_images_removes_whole_channel_blocks(tmp_path: Path) -> None:
    task = get_task("fashion-mnist")
    batch = next(iter(task.batches(task.dataset("test").subset(np.arange(64)), 64)))
    inputs = task.model_inputs(batch)
    torch.manual_seed(0)
    model = LeNet5(LeNet5Config(channels=(8, 16), hidden=32)).eval()
    the_plan = plan(
        model,
        StructuredPruning(ratio=0.5, importance="taylor"),
        inputs,
        loss_fn=lambda m: task.loss(m(**inputs), batch),
    )
    gone1 = _removed(the_plan.ops, "features.0.0", "out_channels")
    gone2 = _removed(the_plan.ops, "features.1.0", "out_channels")
    gone_hidden = _removed(the_plan.ops, "classifier.1", "out_channels")
    # The linear after the flatten loses exactly the 49 columns of every removed channel.
    expected_cols = sorted(c * BLOCK + i for c in gone2 for i in range(BLOCK))
    assert _removed(the_plan.ops, "classifier.1", "in_channels") == expected_cols

    pruned = copy.deepcopy(model)
    apply_plan(pruned, the_plan)
    keep1 = [c for c in range(8) if c not in gone1]
    keep2 = [c for c in range(16) if c not in gone2]
    keep_hidden = [h for h in range(32) if h not in gone_hidden]
    assert (len(keep1), len(keep2), len(keep_hidden)) == (4, 8, 16)
    with torch.no_grad():
        # The first stage's kept channels compute what they computed before.
        x = inputs["pixel_values"]
        torch.testing.assert_close(pruned.features[0](x), model.features[0](x)[:, keep1])
    old_w = model.classifier[1].weight.detach().view(32, 16, BLOCK)
    new_w = old_w[keep_hidden][:, keep2].reshape(len(keep_hidden), -1)
    assert torch.equal(pruned.classifier[1].weight, new_w)

    # The widths reach the config, so the pruned model saves and reloads as itself.
    assert pruned.sync_config().channels == (4, 8) and pruned.config.hidden == 16
    loaded = load_model(save_model(pruned, tmp_path / "lenet5"))
    with torch.no_grad():
        torch.testing.assert_close(loaded.eval()(**inputs), pruned(**inputs))
