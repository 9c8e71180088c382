"""STS-B: distill all-MiniLM-L6-v2 into a small sentence encoder from unlabelled sentences.

    python benchmarks/stsb_embed.py --phase train [--quick]    # cached in tinyai.paths.cache_dir
    python benchmarks/stsb_embed.py --phase measure [--quick]  # export, size, Spearman, latency

The transfer set is every GLUE sentence in the data root except STS-B dev (SST-2, CoLA,
MRPC and STS-B train and test splits; labels unused). The student learns the teacher's
sentence vectors (MSE through a learned projection) and their in-batch cosine similarities.
Results: benchmarks/results/stsb_embed[-quick].json and a markdown table on stdout.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tinyai.paths import cache_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.artifacts import teacher_relative_table
from benchmarks.sst2_distill import (
    RESULTS,
    artifact_bench,
    artifact_bytes,
    load_into,
    log,
    minilm_dir,
    save,
)


@dataclasses.dataclass
class Plan:
    max_length: int = 128
    steps: int = 3000
    batch: int = 64
    lr: float = 5e-4
    vocab: int = 8000
    sentences: int | None = None  # cap on the transfer set
    dev_limit: int | None = None


QUICK = Plan(steps=10, batch=16, vocab=2000, sentences=512, dev_limit=100)
SPEC = {
    "layers": (1, 4),
    "hidden_size": 256,
    "intermediate_size": 512,
    "embedding_size": 128,
    "max_position_embeddings": 128,
    "keep_pooler": False,
}


def teacher_model() -> torch.nn.Module:
    from tinyai.models import SentenceEncoder, load_encoder

    return SentenceEncoder(load_encoder("minilm-l6"), pooling="mean", normalize=True).eval()


def unlabelled_sentences(plan: Plan) -> list[str]:
    from tinyai.data import load_glue

    seen: dict[str, None] = {}
    for task in ("sst2", "cola", "mrpc", "stsb"):
        for split in ("train", "test"):
            data = load_glue(task, split)
            for text in [*data.texts, *(data.texts_b or [])]:
                seen.setdefault(text, None)
    dev = load_glue("stsb", "dev")
    for text in [*dev.texts, *(dev.texts_b or [])]:
        seen.pop(text, None)  # never train on the evaluation sentences
    texts = list(seen)
    order = np.random.default_rng(0).permutation(len(texts))
    texts = [texts[i] for i in order]
    return texts[: plan.sentences] if plan.sentences else texts


def train_student(plan: Plan, root: Path) -> dict[str, Any]:
    from tinyai.distill import (
        DistillConfig,
        StudentSpec,
        build_student,
        distill,
        load_reduced_vocab,
        reduce_vocab,
    )
    from tinyai.train import TrainConfig

    teacher = teacher_model()
    texts = unlabelled_sentences(plan)
    vocab_dir = root / f"vocab-{plan.vocab}"
    vocab = (
        load_reduced_vocab(vocab_dir)
        if (vocab_dir / "kept_ids.json").is_file()
        else reduce_vocab(minilm_dir(), texts, vocab_dir, max_size=plan.vocab)
    )
    student = build_student(teacher, StudentSpec(**SPEC, kept_vocab=tuple(vocab.kept_ids)))
    path = root / "student.safetensors"
    if not path.is_file():
        log(
            f"distilling the sentence encoder on {len(texts)} unlabelled sentences, "
            f"{plan.steps} steps"
        )
        config = DistillConfig(
            train=TrainConfig(
                steps=plan.steps,
                lr=plan.lr,
                warmup=0.05,
                bf16=True,
                checkpoint_dir=str(root / "student-ckpt"),
                checkpoint_every=250,
                resume=True,
            ),
            batch_size=plan.batch,
            max_length=plan.max_length,
            objective="embedding",
            embedding_loss="mse",
            similarity_weight=1.0,
            # shared by runs of any length: the teacher's vectors do not depend on the student
            cache_dir=str(root.parent / root.name.split("-")[0] / "teacher-outputs"),
        )
        distill(
            student,
            teacher,
            texts,
            config,
            tokenizer=vocab.tokenizer_dir,
            teacher_tokenizer=minilm_dir(),
        )
        save(student, path)
    load_into(student, path)
    return {
        "teacher": {"model": teacher, "tokenizer": minilm_dir()},
        "student (L2-H256-V8k)": {"model": student, "tokenizer": vocab.tokenizer_dir},
    }


@torch.no_grad()
def spearman_torch(model: torch.nn.Module, tokenizer: Any, plan: Plan) -> float:
    from tinyai.data import load_glue
    from tinyai.distill import TokenizedText
    from tinyai.tasks.metrics import spearman

    dev = load_glue("stsb", "dev")
    n = plan.dev_limit or len(dev)
    vectors = []
    for texts in (dev.texts[:n], dev.texts_b[:n]):
        tokens = TokenizedText.encode(tokenizer, texts, max_length=plan.max_length)
        out = [
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
            for b in tokens.batches(64, shuffle=False, bucket=False)
        ]
        vectors.append(torch.nn.functional.normalize(torch.cat(out).float(), dim=-1))
    cosine = (vectors[0] * vectors[1]).sum(-1).numpy()
    return round(100.0 * spearman(cosine, dev.labels[:n]), 2)


def spearman_artifact(out: Path, plan: Plan) -> float:
    from tinyai.data import load_glue
    from tinyai.runtime import load_artifact
    from tinyai.tasks.metrics import spearman

    dev = load_glue("stsb", "dev")
    n = plan.dev_limit or len(dev)
    predictor = load_artifact(out, threads=1)
    vecs = []
    for texts in (dev.texts[:n], dev.texts_b[:n]):
        vecs.append(
            np.concatenate(
                [np.asarray(predictor.outputs(texts[s : s + 64])) for s in range(0, n, 64)]
            )
        )
    a, b = (v / np.linalg.norm(v, axis=-1, keepdims=True) for v in vecs)
    return round(100.0 * spearman((a * b).sum(-1), dev.labels[:n]), 2)


def rows_for(models: dict[str, Any], plan: Plan, root: Path, export: bool) -> list[dict[str, Any]]:
    from tinyai.distill.students import count_parameters

    rows = []
    for name, entry in models.items():
        row = {
            "name": name,
            "params": count_parameters(entry["model"]),
            "spearman_torch": spearman_torch(entry["model"], entry["tokenizer"], plan),
        }
        log(f"{name}: STS-B dev Spearman (torch) {row['spearman_torch']}")
        if export:
            from tinyai import export as export_model
            from tinyai.tasks import get_task

            task = get_task(
                "stsb-embed", tokenizer=str(entry["tokenizer"]), max_length=plan.max_length
            )
            out = root / "artifacts" / name.split(" ")[0]
            export_model(
                entry["model"],
                out,
                task=task,
                history=[{"technique": "distill", "from": "minilm-l6"}],
            )
            row.update(
                artifact=str(out),
                bytes=artifact_bytes(out),
                spearman_artifact=spearman_artifact(out, plan),
            )
        rows.append(row)
    if export:
        for _ in range(2):  # two rounds, keep the best: less noise from other processes
            for row in rows:
                timing = artifact_bench(Path(row["artifact"]))
                if timing["latency_ms"] < row.get("latency_ms", float("inf")):
                    row.update(timing)
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    return teacher_relative_table(rows, "spearman", "STS-B dev Spearman")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "measure", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="tiny slices: validates the script")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, help="training steps, instead of the plan's")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else Plan()
    tag = "quick" if args.quick else "full"
    if args.steps:
        plan = dataclasses.replace(plan, steps=args.steps)
        tag += f"-{args.steps}"  # a run of another length keeps its own student and results
    root = cache_dir("stsb_embed", tag)
    models = train_student(plan, root)
    rows = rows_for(models, plan, root, export=args.phase != "train")
    RESULTS.mkdir(exist_ok=True)
    name = "stsb_embed" + ("" if tag == "full" else "-" + tag.removeprefix("full-"))
    payload = {
        "benchmark": "stsb_embed",
        "quick": args.quick,
        "phase": args.phase,
        "plan": dataclasses.asdict(plan),
        "student": SPEC,
        "rows": rows,
    }
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=2))
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
