"""SST-2: fine-tune all-MiniLM-L6-v2 as the teacher, distill it into smaller students.

    python benchmarks/sst2_distill.py --phase train [--quick]    # cached in tinyai.paths.cache_dir
    python benchmarks/sst2_distill.py --phase measure [--quick]  # export, size, accuracy, latency

The train phase caches the fine-tuned teacher, the reduced vocabulary, the teacher's logits
on the transfer set and every trained student; re-running skips whatever is cached. The
measure phase exports each model with tinyai.export, evaluates SST-2 dev accuracy on the
artifact and measures batch-1 single-thread latency of all artifacts side by side.
Results: benchmarks/results/sst2_distill[-quick].json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinyai.paths import cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script
from benchmarks.artifacts import teacher_relative_table

RESULTS = Path(__file__).resolve().parent / "results"
PAPERS = [  # GLUE SST-2 accuracy as published, parameters
    {"name": "TinyBERT4 (Jiao et al. 2020)", "accuracy": 92.6, "params": 14_500_000},
    {"name": "BERT-Tiny (Turc et al. 2019)", "accuracy": 83.2, "params": 4_400_000},
    {"name": "DistilBERT (Sanh et al. 2019)", "accuracy": 91.3, "params": 66_000_000},
]


@dataclasses.dataclass
class Plan:
    teacher_steps: int = 600
    teacher_lr: float = 8e-5
    transfer: int | None = None  # labelled SST-2 train sentences in the transfer set (None: all)
    augment: int | None = None  # of those, how many are perturbed (None: all) ...
    copies: int = 2  # ... and how many times each, for the teacher to label
    max_length: int = 64
    batch: int = 32
    l3_steps: int = 600
    tiny_steps: int = 3000
    tiny_batch: int = 64
    vocab: int = 8000
    dev_limit: int | None = None


QUICK = Plan(
    teacher_steps=12,
    transfer=384,
    augment=128,
    copies=1,
    l3_steps=6,
    tiny_steps=10,
    tiny_batch=32,
    vocab=2000,
    dev_limit=128,
)
LONG = "tiny-L2-H256-V8k-long"
STUDENTS = {  # name -> (StudentSpec kwargs, distilled?)
    "distil-L3": ({"layers": (0, 2, 4)}, True),
    "tiny-L2-H256-V8k": (
        {
            "layers": (1, 4),
            "hidden_size": 256,
            "intermediate_size": 512,
            "embedding_size": 128,
            "max_position_embeddings": 64,
        },
        True,
    ),
    "tiny-L3-H256-E64-V8k": (  # the same bytes spent on a third layer, narrower embeddings
        {
            "layers": (1, 3, 5),
            "hidden_size": 256,
            "intermediate_size": 512,
            "embedding_size": 64,
            "max_position_embeddings": 64,
        },
        True,
    ),
    "tiny-L2-H256-V8k-no-teacher": (
        {
            "layers": (1, 4),
            "hidden_size": 256,
            "intermediate_size": 512,
            "embedding_size": 128,
            "max_position_embeddings": 64,
        },
        False,
    ),
}


STUDENTS[LONG] = STUDENTS["tiny-L2-H256-V8k"]
NO_TEACHER_LONG = "tiny-L2-H256-V8k-no-teacher-long"  # LONG's step count, labels only
STUDENTS[NO_TEACHER_LONG] = STUDENTS["tiny-L2-H256-V8k-no-teacher"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def minilm_dir() -> Path:
    from tinyai.models import resolve

    return resolve("minilm-l6")


def new_teacher() -> torch.nn.Module:
    from tinyai.models import TextClassifier, load_encoder

    return TextClassifier(load_encoder("minilm-l6"), num_labels=2, pooling="mean")


def save(model: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    tmp = path.with_suffix(".tmp")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(path)


def load_into(model: torch.nn.Module, path: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    model.load_state_dict(load_file(str(path)))
    return model.eval()


@torch.no_grad()
def accuracy(model: torch.nn.Module, tokens: Any) -> float:
    model.eval()
    correct = 0
    for batch in tokens.batches(64, shuffle=False):
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        correct += int((logits.argmax(-1) == batch["labels"]).sum())
    return 100.0 * correct / len(tokens)


def dev_tokens(tokenizer: Any, plan: Plan) -> Any:
    from tinyai.data import load_glue
    from tinyai.distill import TokenizedText

    dev = load_glue("sst2", "dev")
    if plan.dev_limit:
        dev = dev.subset(range(plan.dev_limit))
    return TokenizedText.encode(tokenizer, dev.texts, None, dev.labels, plan.max_length)


def train_teacher(plan: Plan, root: Path) -> torch.nn.Module:
    from tinyai.distill import FinetuneConfig, finetune
    from tinyai.tasks import get_task
    from tinyai.train import TrainConfig

    teacher = new_teacher()
    path = root / "teacher.safetensors"
    if path.is_file():
        return load_into(teacher, path)
    log(f"fine-tuning the teacher for {plan.teacher_steps} steps")
    config = FinetuneConfig(
        train=TrainConfig(
            steps=plan.teacher_steps,
            lr=plan.teacher_lr,
            warmup=0.06,
            bf16=True,
            checkpoint_dir=str(root / "teacher-ckpt"),
            checkpoint_every=200,
            resume=True,
        ),
        batch_size=plan.batch,
        max_length=plan.max_length,
        freeze_embeddings=True,
    )
    finetune(teacher, get_task("sst2"), config, tokenizer=minilm_dir())
    save(teacher, path)
    return teacher.eval()


def transfer_set(plan: Plan, vocab_dir: Path) -> tuple[list[str], np.ndarray]:
    """Labelled train sentences + augmented ones (label -100: soft targets only)."""
    from tinyai.data import load_glue
    from tinyai.distill import AugmentConfig, augment_texts
    from tinyai.distill.losses import IGNORE

    train = load_glue("sst2", "train")
    order = np.random.default_rng(0).permutation(len(train))[: plan.transfer]
    texts = [train.texts[i] for i in order]
    labels = train.labels[order]
    # all of SST-2 train plus two perturbed copies of each sentence (TinyBERT-style data
    # augmentation): 158k sentences, on which 6000 tiny-student steps no longer over-fit as
    # they did on 47k. Teacher outputs are cached: each sentence costs one teacher pass, once
    extra = augment_texts(texts[: plan.augment], AugmentConfig(copies=plan.copies, seed=0))
    return texts + extra, np.concatenate([labels, np.full(len(extra), IGNORE)])


def reduced_vocab(plan: Plan, root: Path) -> Any:
    from tinyai.data import load_glue
    from tinyai.distill import load_reduced_vocab, reduce_vocab

    out = root / f"vocab-{plan.vocab}"
    if (out / "kept_ids.json").is_file():
        return load_reduced_vocab(out)
    return reduce_vocab(minilm_dir(), load_glue("sst2", "train").texts, out, max_size=plan.vocab)


def student_spec(name: str, vocab: Any) -> Any:
    from tinyai.distill import StudentSpec

    kwargs = dict(STUDENTS[name][0])
    if "V8k" in name:
        kwargs["kept_vocab"] = tuple(vocab.kept_ids)
    return StudentSpec(**kwargs)


def train_student(
    name: str,
    teacher: torch.nn.Module,
    plan: Plan,
    root: Path,
    vocab: Any,
    texts: list[str],
    labels: np.ndarray,
) -> dict[str, Any]:
    from tinyai.data import TextDataset
    from tinyai.distill import DistillConfig, FinetuneConfig, build_student, distill, finetune
    from tinyai.train import TrainConfig

    student = build_student(teacher, student_spec(name, vocab))
    tokenizer = vocab.tokenizer_dir if "V8k" in name else minilm_dir()
    path = root / f"{name}.safetensors"
    if path.is_file():
        return {"model": load_into(student, path), "tokenizer": tokenizer}
    tiny = "tiny" in name
    steps, batch = (plan.tiny_steps, plan.tiny_batch) if tiny else (plan.l3_steps, plan.batch)
    if name.endswith("-long"):  # the same student trained twice as long: distilled, the
        steps *= 2  # best small student (2.4 epochs of the transfer set)
    train_cfg = TrainConfig(
        steps=steps,
        lr=5e-4 if tiny else 1e-4,
        warmup=0.06,
        bf16=True,
        checkpoint_dir=str(root / f"{name}-ckpt"),
        checkpoint_every=200,
        resume=True,
    )
    if not tiny:  # the 12M-row embedding table stays the teacher's: faster steps
        student.encoder.embeddings.word_embeddings.requires_grad_(False)
    log(f"training {name} for {steps} steps")
    if STUDENTS[name][1]:
        config = DistillConfig(
            train=train_cfg,
            batch_size=batch,
            max_length=plan.max_length,
            temperature=2.0,
            alpha=0.8,
            cache_dir=str(root / "teacher-outputs"),
        )
        # raw text: student and teacher each tokenize it with their own vocabulary
        data = TextDataset("sst2-transfer", texts, None, labels, ["negative", "positive"])
        distill(
            student,
            teacher,
            data,
            config,
            tokenizer=tokenizer,
            teacher_tokenizer=minilm_dir() if "V8k" in name else None,
        )
    else:
        labelled = [i for i, y in enumerate(labels) if y >= 0]
        data = TextDataset(
            "sst2-transfer",
            [texts[i] for i in labelled],
            None,
            labels[labelled].astype(np.int64),
            ["negative", "positive"],
        )
        from tinyai.tasks import get_task

        finetune(
            student,
            get_task("sst2"),
            FinetuneConfig(train=train_cfg, batch_size=batch, max_length=plan.max_length),
            tokenizer=tokenizer,
            data=data,
        )
    save(student, path)
    return {"model": student.eval(), "tokenizer": tokenizer}


def phase_train(plan: Plan, root: Path, only: list[str] | None = None) -> dict[str, Any]:
    teacher = train_teacher(plan, root)
    models = {"teacher (MiniLM-L6 fine-tuned)": {"model": teacher, "tokenizer": minilm_dir()}}
    vocab = reduced_vocab(plan, root)
    texts, labels = transfer_set(plan, vocab.tokenizer_dir)
    log(f"transfer set: {len(texts)} sentences ({int((labels >= 0).sum())} labelled)")
    names = [LONG, "tiny-L2-H256-V8k", "tiny-L3-H256-E64-V8k", "distil-L3",
             "tiny-L2-H256-V8k-no-teacher", NO_TEACHER_LONG]
    for name in only or names:
        models[name] = train_student(name, teacher, plan, root, vocab, texts, labels)
    return models


def torch_rows(models: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
    from tinyai.distill.students import count_parameters

    rows = []
    for name, entry in models.items():
        acc = accuracy(entry["model"], dev_tokens(entry["tokenizer"], plan))
        rows.append(
            {
                "name": name,
                "params": count_parameters(entry["model"]),
                "accuracy_torch": round(acc, 2),
            }
        )
        log(f"{name}: dev accuracy (torch) {acc:.2f}")
    return rows


def measure(models: dict[str, Any], plan: Plan, root: Path) -> list[dict[str, Any]]:
    """Export every model, then evaluate and time the artifacts (same run, same machine)."""
    from tinyai import export
    from tinyai.tasks import get_task

    rows = torch_rows(models, plan)
    for row in rows:
        entry = models[row["name"]]
        task = get_task("sst2", tokenizer=str(entry["tokenizer"]), max_length=plan.max_length)
        out = root / "artifacts" / row["name"].split(" ")[0]
        export(
            entry["model"], out, task=task, history=[{"technique": "distill", "from": "minilm-l6"}]
        )
        row["artifact"] = str(out)
        row["bytes"] = artifact_bytes(out)
        row["accuracy_artifact"] = artifact_accuracy(out, plan)
    for _ in range(2):  # two rounds, keep each model's best: less noise from other processes
        for row in rows:
            timing = artifact_bench(Path(row["artifact"]))
            if timing["latency_ms"] < row.get("latency_ms", float("inf")):
                row.update(timing)
    return rows


def artifact_bytes(out: Path) -> int:
    """Artifact bytes without the tokenizer (graph, packed weights, manifest), the size peers
    report for a model file; `tinyai.runtime.size.artifact_bytes` is the one rule."""
    from tinyai.runtime.size import artifact_bytes as count

    return count(out, tokenizer=False)


def artifact_accuracy(out: Path, plan: Plan) -> float:
    from tinyai.data import load_glue
    from tinyai.runtime import load_artifact

    dev = load_glue("sst2", "dev")
    n = plan.dev_limit or len(dev)
    predictor = load_artifact(out, threads=1)
    hits = 0
    for start in range(0, n, 64):
        logits = predictor.outputs(dev.texts[start : min(n, start + 64)])
        hits += int((np.asarray(logits).argmax(-1) == dev.labels[start : min(n, start + 64)]).sum())
    return round(100.0 * hits / n, 2)


def artifact_bench(out: Path) -> dict[str, Any]:
    """Batch-1, one-thread latency (median/p90 ms) and memory from the runtime's bench, which
    runs each artifact in a fresh process."""
    from tinyai.runtime.bench import bench

    result = bench(out, threads=1, batch_size=1, runs=100, warmup=10)
    return {
        "latency_ms": result["latency_ms"]["median"],
        "latency_p90_ms": result["latency_ms"]["p90"],
        "model_bytes": result["model_bytes"],
        "peak_memory_mb": result["peak_memory_mb"],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = [teacher_relative_table(rows, "accuracy", "SST-2 dev acc")]
    for p in PAPERS:
        lines.append(
            f"| {p['name']} (paper, GLUE test) | {p['accuracy']} | | "
            f"{p['params'] / 1e6:.1f}M | | | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "measure", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="tiny slices: validates the script")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", help="comma-separated students to train (default: all); "
                        "lets separate processes train different students")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else Plan()
    root = cache_dir("sst2_distill", "quick" if args.quick else "full")
    only = args.only.split(",") if args.only else None
    if only and set(only) - set(STUDENTS):
        parser.error(f"--only takes names from {', '.join(STUDENTS)}")
    models = phase_train(plan, root, only)
    name = "sst2_distill-quick" if args.quick else "sst2_distill"
    if only:
        name += "-partial"  # a subset of the models: never overwrite the full results
    rows = torch_rows(models, plan) if args.phase == "train" else measure(models, plan, root)
    RESULTS.mkdir(exist_ok=True)
    payload = {
        "benchmark": "sst2_distill",
        "quick": args.quick,
        "phase": args.phase,
        "plan": dataclasses.asdict(plan),
        "rows": rows,
        "papers": PAPERS,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
