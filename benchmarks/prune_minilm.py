"""Head/FFN pruning of a MiniLM SST-2 classifier: the text half of benchmarks/fashion_prune.py.

Run through that script (`--part minilm`); the fine-tuned teacher of benchmarks/sst2_distill.py
is reused when it is cached. Artifacts are exported and timed side by side, interleaved.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from benchmarks.fashion_prune import export_artifact, interleaved_latency
from tinyai.models import is_model_dir, load_model, save_model
from tinyai.paths import cache_dir
from tinyai.prune import StructuredPruning, prune_
from tinyai.runtime.size import artifact_bytes
from tinyai.tasks import get_task
from tinyai.train import TrainConfig

MINILM_RATIOS = (0.25, 0.5)


def minilm_setup(quick: bool) -> tuple[Any, Path, Any]:
    from tinyai.models import resolve

    tokenizer_dir = resolve("minilm-l6")
    task = get_task("sst2", tokenizer=tokenizer_dir, max_length=64)
    return (
        task,
        cache_dir("bench", "fashion_prune_quick" if quick else "fashion_prune", "minilm"),
        tokenizer_dir,
    )


def minilm_finetune(
    model: nn.Module, task: Any, tokenizer_dir: Path, steps: int, n_train: int, seed: int
) -> None:
    from tinyai.distill import FinetuneConfig, finetune

    data = task.dataset("train").subset(
        np.random.default_rng(seed).permutation(len(task.dataset("train")))[:n_train]
    )
    config = FinetuneConfig(
        train=TrainConfig(steps=steps, lr=8e-5, warmup=0.06, seed=seed, log_every=25),
        batch_size=32,
        max_length=64,
        freeze_embeddings=True,
    )
    finetune(model, task, config, tokenizer=tokenizer_dir, data=data)


def minilm_teacher(task: Any, root: Path, tokenizer_dir: Path, quick: bool) -> nn.Module:
    """The SST-2 teacher of benchmarks/sst2_distill.py when cached, else a cheap one here."""
    from safetensors.torch import load_file

    from tinyai.models import TextClassifier, load_encoder

    model = TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean")
    shared = cache_dir("sst2_distill", "full") / "teacher.safetensors"
    own = root / "teacher.safetensors"
    if not quick and shared.is_file():
        model.load_state_dict(load_file(str(shared)))
        return model.eval()
    if not own.is_file():
        minilm_finetune(
            model, task, tokenizer_dir, 12 if quick else 250, 512 if quick else 8_000, seed=0
        )
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(own))
    model.load_state_dict(load_file(str(own)))
    return model.eval()


def minilm_train_phase(quick: bool) -> None:
    task, root, tokenizer_dir = minilm_setup(quick)
    teacher = minilm_teacher(task, root, tokenizer_dir, quick)
    if not is_model_dir(root / "dense"):
        save_model(teacher, root / "dense", tokenizer=tokenizer_dir)
    batch = next(iter(task.batches(task.dataset("train").subset(np.arange(256)), 64)))
    for ratio in MINILM_RATIOS:
        out = root / f"heads-ffn-{int(ratio * 100)}"
        if is_model_dir(out):
            continue
        model = copy.deepcopy(teacher)
        prune_(
            model,
            StructuredPruning(ratio=ratio, importance="taylor", targets=("heads", "ffn")),
            example_inputs=task.example_inputs(1),
            loss_fn=lambda m: task.loss(m(**task.model_inputs(batch)), batch),
        )
        # A short recovery fine-tune (no teacher), on a different slice than the teacher's.
        minilm_finetune(
            model, task, tokenizer_dir, 8 if quick else 100, 256 if quick else 3_200, seed=1
        )
        save_model(model, out, tokenizer=tokenizer_dir)


def minilm_measure_phase(quick: bool) -> dict[str, Any]:
    task, root, _ = minilm_setup(quick)
    names = ["dense"] + [f"heads-ffn-{int(r * 100)}" for r in MINILM_RATIOS]
    models = {n: load_model(root / n) for n in names}
    paths = {
        n: export_artifact(m, root / "artifacts" / n, task, [{"stage": n}])
        for n, m in models.items()
    }
    dev = task.dataset("dev")
    n_dev = 128 if quick else len(dev)
    tok = task.tokenizer(
        dev.texts[:1], padding="max_length", truncation=True, max_length=64, return_tensors="np"
    )
    feed = {
        "input_ids": tok["input_ids"].astype(np.int64),
        "attention_mask": tok["attention_mask"].astype(np.int64),
    }
    latency = interleaved_latency(paths, feed, 20 if quick else 100)
    rows = {}
    for n, m in models.items():
        heads = sum(
            b.query.out_features // b.attention_head_size
            for b in (mod for mod in m.modules() if hasattr(mod, "attention_head_size"))
        )
        rows[n] = {
            "params": sum(p.numel() for p in m.parameters()),
            "heads": heads,
            "ffn_units": sum(
                mod.intermediate.dense.out_features
                for mod in m.modules()
                if hasattr(mod, "intermediate")
            ),
            "accuracy": text_accuracy(paths[n], task, dev, n_dev),
            "latency_ms": latency[n],
            "latency_min_ms": latency[f"{n}:min"],
            "artifact_bytes": artifact_bytes(paths[n]),
        }
    for row in rows.values():
        row["speedup"] = rows["dense"]["latency_ms"] / row["latency_ms"]
        row["speedup_min"] = rows["dense"]["latency_min_ms"] / row["latency_min_ms"]
    return {
        "rows": rows,
        "latency_input": "1 x 64 tokens (padded), 1 thread",
        "dev_examples": n_dev,
    }


def text_accuracy(path: Path, task: Any, dev: Any, n: int) -> float:
    from tinyai.runtime import load_artifact

    predictor = load_artifact(path, threads=1)
    correct = 0
    for batch in task.numpy_batches(dev.subset(np.arange(n)), 64):
        correct += int((predictor.run(batch).argmax(-1) == batch["labels"]).sum())
    return correct / n


def minilm_markdown(results: dict[str, Any]) -> str:
    lines = [
        "| MiniLM SST-2 | params | heads | FFN units | dev accuracy | latency ms "
        "| speedup (median / min) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in results["rows"].items():
        lines.append(
            f"| {n} | {r['params']:,} | {r['heads']} | {r['ffn_units']} | "
            f"{r['accuracy']:.4f} | {r['latency_ms']:.2f} | {r['speedup']:.2f}x / "
            f"{r['speedup_min']:.2f}x |"
        )
    return "\n".join(lines)
