"""What a uniform model soup gains on the SST-2 teacher: several fine-tunings, weights averaged.

    python benchmarks/teacher_soup.py [--seeds 0,1,2,3] [--quick]

Model soups (Wortsman et al., 2022): fine-tunings of one pretrained model that differ only in
their training seed (data order, dropout) tend to land in one basin of the loss, and the
average of their weights can beat each of them, at no cost at inference. Each member here is
one fine-tuning with the settings of `recipes/sst2_teacher.yaml`'s stage (as shipped), all from
the same start (the packaged model and one new head: torch seed 0), with training seeds
`--seeds`. Reported: SST-2 dev accuracy in PyTorch of each member, and of the uniform soup of
the first k members (k = 2 .. n) beside the mean of those k members. Writes
benchmarks/results/teacher_soup[-quick].json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.teacher_ema import fresh_teacher, teacher_recipe, teacher_stage

RESULTS = Path(__file__).resolve().parent / "results"
HEAD_SEED = 0  # every member starts from the same head


def member(recipe: Any, task: Any, seed: int) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    from tinyai.distill.finetune import finetune
    from tinyai.measure.evaluate import evaluate

    model = fresh_teacher(recipe, task, HEAD_SEED)
    began = time.perf_counter()
    finetune(model, task, teacher_stage(recipe, seed))
    row = {"seed": seed, "train_seconds": round(time.perf_counter() - began),
           "accuracy": evaluate(model, task)["metrics"]["accuracy"]}
    return row, {k: v.detach().clone() for k, v in model.state_dict().items()}


def soup(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The uniform average of the members' float tensors (integer buffers: the first's)."""
    first = states[0]
    return {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in first.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--quick", action="store_true", help="a few steps on slices")
    args = parser.parse_args()
    from tinyai.measure.evaluate import evaluate
    from tinyai.recipe.records import cpu_model
    from tinyai.tasks.spec import build_task

    recipe = teacher_recipe(args.quick)
    task = build_task(recipe.task)  # loaded once: every member trains and evaluates on it
    members, states = [], []
    for seed in (int(s) for s in args.seeds.split(",")):
        row, state = member(recipe, task, seed)
        members.append(row)
        states.append(state)
        print(json.dumps(row), flush=True)
    soups = []
    model = fresh_teacher(recipe, task, HEAD_SEED)
    for k in range(2, len(states) + 1):
        model.load_state_dict(soup(states[:k]))
        soups.append({"members": [m["seed"] for m in members[:k]],
                      "accuracy": evaluate(model, task)["metrics"]["accuracy"],
                      "members_mean": sum(m["accuracy"] for m in members[:k]) / k})
        print(json.dumps(soups[-1]), flush=True)
    result = {"cpu": cpu_model(), "recipe": "recipes/sst2_teacher.yaml", "members": members,
              "soups": soups}
    RESULTS.mkdir(exist_ok=True)
    name = "teacher_soup-quick.json" if args.quick else "teacher_soup.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print("| soup of seeds | soup | mean of its members | best member |\n|---|---|---|---|")
    for row in soups:
        best = max(m["accuracy"] for m in members if m["seed"] in row["members"])
        print(f"| {row['members']} | {100 * row['accuracy']:.2f} | "
              f"{100 * row['members_mean']:.2f} | {100 * best:.2f} |")


if __name__ == "__main__":
    main()
