"""What a moving average of the weights gains on the SST-2 teacher, seed by seed.

    python benchmarks/teacher_ema.py [--seeds 0,1,2] [--decays 0.99,0.995,0.998] [--quick]

For each training seed, one fine-tuning with the settings of `recipes/sst2_teacher.yaml`'s
stage (the recipe as shipped, `ema` off), keeping beside it one exponential moving average of
the trained weights per decay (`tinyai.train.WeightAverage`, what `train: {ema: ...}` ends a
run with). Then SST-2 dev accuracy in PyTorch of the last step's weights and of each average:
paired figures from the same run, so the seed's own luck cancels. Writes
benchmarks/results/teacher_ema[-quick].json. The artifact figures of a recipe with `ema` set
come from `tinyai compress` (BENCHMARKS.md gives the command).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"


def teacher_recipe(quick: bool) -> Any:
    from tinyai.recipe.schema import parse_recipe

    data = yaml.safe_load((ROOT / "recipes" / "sst2_teacher.yaml").read_text())
    if quick:
        data["task"]["limit"] = {"train": 512, "eval": 128}
        data["stages"][0]["train"] = {**data["stages"][0]["train"], "steps": 6,
                                      "batch_size": 16}
    return parse_recipe(data, base=ROOT / "recipes")


def teacher_stage(recipe: Any, seed: int) -> Any:
    """The recipe's teacher stage (its FinetuneConfig) with training seed `seed`, `ema` off."""
    stage = recipe.stages[0].config
    return dataclasses.replace(stage, train=dataclasses.replace(
        stage.train, seed=seed, ema=0.0, log_every=100))


def fresh_teacher(recipe: Any, task: Any, head_seed: int) -> torch.nn.Module:
    """The packaged model with a new task head drawn from torch seed `head_seed`."""
    from tinyai.recipe.models import fit_to_task, load_source

    torch.manual_seed(head_seed)
    return fit_to_task(load_source(str(recipe.teacher.model)), recipe.teacher.model, task)


def one_seed(recipe: Any, task: Any, seed: int, decays: list[float]) -> dict[str, Any]:
    from tinyai.distill.finetune import finetune, freeze_
    from tinyai.measure.evaluate import evaluate
    from tinyai.train import TrainHooks, WeightAverage

    config = teacher_stage(recipe, seed)
    model = fresh_teacher(recipe, task, head_seed=seed)
    freeze_(model, config)  # as finetune will: the averages hold the trained tensors only
    trainable = [p for p in model.parameters() if p.requires_grad]
    averages = {d: WeightAverage(trainable, d) for d in decays}  # from the initial weights

    def after_step(step: int, loss: float) -> None:
        for average in averages.values():
            average.update()

    start = time.perf_counter()
    finetune(model, task, config, hooks=TrainHooks(after_step=after_step))
    out: dict[str, Any] = {"seed": seed, "train_seconds": round(time.perf_counter() - start)}
    out["last_step"] = evaluate(model, task)["metrics"]["accuracy"]
    last = {k: v.clone() for k, v in model.state_dict().items()}
    for decay, average in averages.items():
        average.copy_to_params()
        out[f"ema {decay}"] = evaluate(model, task)["metrics"]["accuracy"]
        model.load_state_dict(last)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--decays", default="0.99,0.995,0.998")
    parser.add_argument("--quick", action="store_true", help="a few steps on slices")
    args = parser.parse_args()
    decays = [float(d) for d in args.decays.split(",")]
    from tinyai.tasks.spec import build_task

    recipe = teacher_recipe(args.quick)
    task = build_task(recipe.task)  # loaded once: every seed trains and evaluates on it
    rows = []
    for seed in (int(s) for s in args.seeds.split(",")):
        rows.append(one_seed(recipe, task, seed, decays))
        print(json.dumps(rows[-1]), flush=True)
    from tinyai.recipe.records import cpu_model

    columns = ["last_step", *(f"ema {d}" for d in decays)]
    mean = {c: sum(r[c] for r in rows) / len(rows) for c in columns}
    result = {"cpu": cpu_model(), "recipe": "recipes/sst2_teacher.yaml", "rows": rows,
              "mean": mean}
    RESULTS.mkdir(exist_ok=True)
    name = "teacher_ema-quick.json" if args.quick else "teacher_ema.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print("| seed | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for row in [*rows, {"seed": "mean", **mean}]:
        print(f"| {row['seed']} | " + " | ".join(f"{100 * row[c]:.2f}" for c in columns) + " |")


if __name__ == "__main__":
    main()
