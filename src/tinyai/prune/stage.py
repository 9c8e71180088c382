"""How a recipe stage runs a pruning technique (registered in tinyai.prune.__init__).

Example inputs, the Taylor loss and (for the AGP schedule) the fine-tuning data come from
the stage's task; the training loop is tinyai.train's, driven through the loss function
because that loop has no step callbacks.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tinyai.errors import ConfigError
from tinyai.prune.config import MagnitudePruning, StructuredPruning
from tinyai.registry import StageContext


def run_stage(model: nn.Module, config: Any, ctx: StageContext) -> nn.Module:
    from tinyai.prune import prune_

    task = ctx.task
    example = task.example_inputs(1) if task is not None else ctx.extras.get("example_inputs")
    if isinstance(config, MagnitudePruning) and config.schedule is not None:
        if task is None:
            raise ConfigError(
                "a scheduled magnitude-pruning stage fine-tunes while pruning: "
                "give the recipe a task"
            )
        return _prune_while_training(model, config, task, ctx)
    loss_fn = None
    if isinstance(config, StructuredPruning) and config.importance == "taylor" and task:
        batch = next(iter(task.batches(task.dataset("train"), batch_size=32, shuffle=True)))

        def loss_fn(m: nn.Module) -> Any:
            return task.loss(m(**task.model_inputs(batch)), batch)

    return prune_(model, config, example, loss_fn)


def _prune_while_training(
    model: nn.Module, config: MagnitudePruning, task: Any, ctx: StageContext
) -> nn.Module:
    from tinyai.distill.finetune import task_batches
    from tinyai.prune.masks import make_permanent
    from tinyai.prune.unstructured import GradualPruner
    from tinyai.train import TrainConfig, train

    assert config.schedule is not None
    # Train a quarter past the schedule's end so the final masks get time to recover.
    steps = int(ctx.extras.get("steps", config.schedule.end_step * 5 // 4))
    train_config = TrainConfig(steps=steps, lr=float(ctx.extras.get("lr", 1e-4)))
    pruner = GradualPruner(model, config)
    before_micro_batch = pruner.hook(train_config.grad_accum)
    tokenizer = getattr(task, "tokenizer_dir", None)
    batches_fn = task_batches(
        task,
        int(ctx.extras.get("batch_size", 32)),
        int(ctx.extras.get("max_length", 128)),
        train_config.seed,
        tokenizer=tokenizer,
    )

    def loss_fn(m: nn.Module, batch: dict[str, Any]) -> Any:
        before_micro_batch()
        inputs = {k: v for k, v in batch.items() if k in task.input_names}
        return task.loss(m(**inputs), batch)

    train(model, batches_fn, train_config, loss_fn)
    pruner.step(config.schedule.end_step)
    return make_permanent(model)
