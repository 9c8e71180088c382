"""Toolkit overhead: one distillation through `tinyai compress` and through a hand-written
PyTorch loop, side by side in one process, interleaved.

    python benchmarks/overhead.py [--steps 300] [--rounds 3] [--threads 1] [--quick]

Both train the same student (built from the same fine-tuned teacher by
`recipes/overhead_distill.yaml`), on the same batches (64 SST-2 sentences, bucketed by
length), for the same steps, in bf16 where the CPU has it (float32 elsewhere, as the runner
decides), from the teacher's logits computed once. The recipe
path is everything `tinyai compress` does (the runner's loop, hooks, checkpoints every
minute, the distillation objective); the hand-written loop is AdamW + linear warm-up/decay +
KL/cross-entropy + gradient clipping and nothing else. Figure: optimizer steps per second
from the end of each loop's first step to the end of its last (set-up, export and
measurement excluded on both sides), the median over rounds, and the ratio. The teacher run
is cached under tinyai.paths.cache_dir("bench"); each round's recipe run starts from it
(`--reuse`), so only the distill stage runs.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "overhead_distill.yaml"
RESULTS = Path(__file__).resolve().parent / "results"


def load(steps: int, limit: int | None) -> Any:
    """The shipped recipe with the distill stage's step count (and a train slice) set."""
    import yaml

    from tinyai.recipe.schema import parse_recipe

    data = yaml.safe_load(RECIPE.read_text())
    data["stages"][1]["train"]["steps"] = steps
    if limit:
        data["task"]["limit"] = {"train": limit, "eval": 64}
    return parse_recipe(data, base=RECIPE.parent)


def teacher_run(recipe: Any, quick: bool) -> Path:
    """The recipe's teacher stage alone, trained once and cached."""
    from tinyai.paths import cache_dir
    from tinyai.recipe.runner import run_recipe

    teacher = dataclasses.replace(recipe, stages=recipe.stages[:1], student=None)
    run = cache_dir("bench", "overhead-quick" if quick else "overhead") / "teacher"
    run_recipe(teacher, run, resume=(run / "recipe.yaml").is_file())
    return run


def through_compress(recipe: Any, teacher: Path, workdir: Path) -> float:
    from tinyai.recipe.runner import run_recipe

    metrics = run_recipe(recipe, workdir / f"run-{time.monotonic_ns()}", reuse=teacher)
    rate = metrics.stages[-1].steps_per_second
    assert rate is not None
    return rate


@dataclasses.dataclass
class HandInputs:
    """What the hand-written loop trains from, made once (untimed): the student, the
    tokenized train split and the teacher's logits on it."""

    student: torch.nn.Module
    tokens: Any
    targets: torch.Tensor


def prepare_by_hand(recipe: Any, teacher_dir: Path) -> HandInputs:
    from tinyai.distill import TokenizedText, build_student
    from tinyai.models import load_model
    from tinyai.tasks.spec import build_task

    task = build_task(recipe.task)
    teacher = load_model(teacher_dir / "stages" / "01-finetune" / "model").eval()
    data = task.dataset(task.train_split)
    tokens = TokenizedText.encode(task.tokenizer, data.texts, None, data.labels,
                                  task.max_length)
    with torch.no_grad():  # the teacher's logits, once (tinyai caches them on disk)
        # Batches of similar length pad least (4x fewer tokens than file order on SST-2).
        batches = list(tokens.batches(256, shuffle=False))
        logits = [teacher(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
                  for b in batches]
        targets = torch.empty(len(tokens.ids), logits[0].shape[-1])
        for batch, batch_logits in zip(batches, logits, strict=True):
            targets[batch["index"]] = batch_logits
    return HandInputs(build_student(teacher, recipe.student.from_teacher), tokens, targets)


def by_hand(recipe: Any, inputs: HandInputs) -> float:
    """The same distillation written the way a PyTorch user would, timed the same way."""
    from tinyai.hardware import use_bf16

    config, train = recipe.stages[1].config, recipe.stages[1].settings.train
    student = copy.deepcopy(inputs.student).train()  # every round starts from the same weights
    tokens, targets = inputs.tokens, inputs.targets
    # The runner's precision rule: bf16 autocast only where the CPU has bf16 instructions
    # (elsewhere torch emulates it, slower than float32), so both loops run the same math.
    bf16 = use_bf16(train.bf16)
    torch.manual_seed(train.seed)
    optimizer = torch.optim.AdamW(student.parameters(), lr=train.lr,
                                  weight_decay=train.weight_decay)
    warmup = int(train.warmup * train.steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(
        (s + 1) / (warmup + 1), max(0.0, 1 - (s - warmup) / max(1, train.steps - warmup))))
    t, alpha = config.temperature, config.alpha
    times: list[float] = []
    epoch = 0
    while len(times) < train.steps:
        for batch in tokens.batches(train.batch_size, epoch, train.seed):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = student(input_ids=batch["input_ids"],
                                 attention_mask=batch["attention_mask"]).float()
            soft = F.kl_div(F.log_softmax(logits / t, -1),
                            F.softmax(targets[batch["index"]] / t, -1),
                            reduction="batchmean") * t * t
            loss = alpha * soft + (1 - alpha) * F.cross_entropy(logits, batch["labels"])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(student.parameters(), train.max_grad_norm)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            float(loss.detach())  # what any loop reads to log its loss
            times.append(time.perf_counter())
            if len(times) == train.steps:
                break
        epoch += 1
    return (len(times) - 1) / (times[-1] - times[0])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="a slice: validates the script")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.rounds = 12, 1
    torch.set_num_threads(args.threads)
    recipe = load(args.steps, 1024 if args.quick else None)
    teacher = teacher_run(recipe, args.quick)
    hand_inputs = prepare_by_hand(recipe, teacher)
    rates: dict[str, list[float]] = {"tinyai compress": [], "hand-written loop": []}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):  # alternate which goes first: load hits both alike
            order = list(rates) if round_ % 2 == 0 else list(reversed(rates))
            for name in order:
                rate = (through_compress(recipe, teacher, Path(tmp)) if name == "tinyai compress"
                        else by_hand(recipe, hand_inputs))
                rates[name].append(rate)
                print(f"round {round_ + 1}: {name} {rate:.2f} steps/s", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    from tinyai.hardware import use_bf16
    from tinyai.recipe.records import cpu_model

    result = {"cpu": cpu_model(), "bf16": use_bf16(recipe.stages[1].settings.train.bf16),
              "steps": args.steps, "rounds": args.rounds, "threads": args.threads,
              "rates": rates, "median_steps_per_second": medians,
              "ratio": medians["tinyai compress"] / medians["hand-written loop"]}
    RESULTS.mkdir(exist_ok=True)
    name = "overhead-quick.json" if args.quick else "overhead.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(f"tinyai compress: {medians['tinyai compress']:.2f} steps/s, hand-written: "
          f"{medians['hand-written loop']:.2f} steps/s, ratio {result['ratio']:.3f}")
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
    sys.exit(0)
