"""all-MiniLM-L6-v2 quantized by tinyai and by its peers, measured side by side in one run.

    python benchmarks/quantize_peers.py --phase train [--quick]    # SST-2 classifier + QAT, cached
    python benchmarks/quantize_peers.py --phase measure [--quick]  # size, speed, fidelity, acc

Rows: fp32 PyTorch, torch.ao quantize_dynamic, torchao int8 dynamic (+ torch.compile), ORT fp32,
ORT quantize_dynamic, and tinyai dynamic / static (mixed per-tensor and per-channel weights, and all
per-channel) / QAT int8 and int4 (+ QAT int4), each run
the way it deploys (ONNX rows in onnxruntime, torch rows in torch). Every number is measured:
file size on disk, batch-1 single-thread latency, batch-32 single-thread throughput, cosine
of sentence embeddings against fp32 on STS-B dev sentences, SST-2 dev accuracy of the
fine-tuned classifier with the same scheme applied. The GEMM bound is the Linear MACs per
sentence divided by the int8 matmul rate measured on this machine.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.quantize_train import QUICK, Plan, load_classifier, log, sentences, train_all
from benchmarks.quantize_variants import build_variant, calibrated_static, gemm_rate, linear_macs

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = [
    "fp32 PyTorch",
    "torch.ao quantize_dynamic",
    "ORT fp32",
    "ORT quantize_dynamic",
    "tinyai int8 dynamic",
    "tinyai int8 static",
    "tinyai int8 static, all per-channel",
    "tinyai int8 QAT",
    "tinyai int4",
    "tinyai int4 QAT",
    "torchao int8 + compile",  # last: inductor compiles for minutes on a busy CPU
]


class Runner:
    """Uniform predict(ids, mask) -> np.ndarray for torch modules and ONNX files."""

    def __init__(self, kind: str, obj: Any, size: int, output: str | None = None) -> None:
        """`output`: the ONNX output to return (default: the first)."""
        self.kind, self.obj, self.size = kind, obj, size
        self.fetch = [output] if output else None
        if kind == "onnx":
            import onnxruntime as ort

            opts = ort.SessionOptions()
            opts.intra_op_num_threads = 1
            self.sess = ort.InferenceSession(str(obj), opts, providers=["CPUExecutionProvider"])
            # Optimum's export of a BERT folder also takes token_type_ids (all zeros here)
            self.segments = any(i.name == "token_type_ids" for i in self.sess.get_inputs())

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.kind == "onnx":
            feed = {"input_ids": ids, "attention_mask": mask}
            if self.segments:
                feed["token_type_ids"] = np.zeros_like(ids)
            return self.sess.run(self.fetch, feed)[0]
        with torch.inference_mode():
            return (
                self.obj(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
                .float()
                .numpy()
            )


def _torch_size(model: torch.nn.Module) -> int:
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell()


def make_runner(
    variant: str, model: torch.nn.Module, example: dict, workdir: Path, plan: Plan
) -> Runner:
    built = build_variant(variant, model, example, workdir, plan)
    if isinstance(built, Path):
        return Runner("onnx", built, built.stat().st_size)
    return Runner("torch", built, _torch_size(built))


def _batches(
    tok: Any, texts: list[str], size: int, max_length: int = 128
) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i in range(0, len(texts), size):
        enc = tok(
            texts[i : i + size],
            padding=True,
            truncation=True,
            max_length=max_length,
            return_tensors="np",
        )
        out.append((enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)))
    return out


def cosine(runner: Runner, b32: list, ref: np.ndarray) -> float:
    e = np.concatenate([runner(ids, mask) for ids, mask in b32])
    e = e / np.linalg.norm(e, axis=1, keepdims=True)
    return float((e * ref).sum(1).mean())


def interleaved_timings(runners: dict[str, Runner], b1: list, b32: list, rounds: int) -> dict:
    """Batch-1 latency and batch-32 throughput, the variants interleaved (in a fresh random
    order) within each round so that load from other processes hits all of them alike.

    Latency: every sentence is timed on its own in every round; a variant's figure is the mean
    over sentences of each sentence's median over rounds, and (`latency_b1_best_ms`) of its
    fastest round, which on a loaded machine is the figure least touched by the other
    processes. Throughput: median over rounds."""
    order = list(runners)
    lat = {name: np.zeros((rounds, len(b1))) for name in runners}
    tput = {name: np.zeros(rounds) for name in runners}
    rng = np.random.default_rng(0)
    for r in range(rounds):
        for name in rng.permutation(order):
            runner = runners[name]
            runner(*b1[0])  # warm-up
            for i, (ids, mask) in enumerate(b1):
                start = time.perf_counter()
                runner(ids, mask)
                lat[name][r, i] = time.perf_counter() - start
            start = time.perf_counter()
            count = sum(len(runner(ids, mask)) for ids, mask in b32)
            tput[name][r] = count / (time.perf_counter() - start)
    return {
        name: {
            "latency_b1_ms": float(np.median(lat[name], axis=0).mean() * 1000),
            "latency_b1_best_ms": float(lat[name].min(axis=0).mean() * 1000),
            "throughput_b32": float(np.median(tput[name])),
        }
        for name in runners
    }


def sst2_accuracy(runner: Runner, batches: list, labels: np.ndarray) -> float:
    preds = np.concatenate([runner(ids, mask).argmax(1) for ids, mask in batches])
    return float((preds == labels).mean())


def measure(plan: Plan) -> list[dict[str, Any]]:
    from tinyai.data import load_glue
    from tinyai.models import load_model, load_tokenizer

    torch.set_num_threads(1)
    tok = load_tokenizer("minilm-l6")
    texts = sentences(plan.fidelity_sentences)
    b1 = _batches(tok, texts[: plan.latency_sentences], 1)
    b32 = _batches(tok, texts, 32)
    encoder = load_model("minilm-l6").eval()
    ref = np.concatenate([Runner("torch", encoder, 0)(*b) for b in b32])
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    dev = load_glue("sst2", "dev")
    n_dev = plan.sst2_dev or len(dev)
    sst_batches = _batches(tok, list(dev.texts[:n_dev]), 32, 64)
    classifier = load_classifier(plan)
    example = {
        "input_ids": torch.from_numpy(b32[0][0][:2]),
        "attention_mask": torch.from_numpy(b32[0][1][:2]),
    }
    rows, runners = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in [v for v in VARIANTS if v not in plan.skip]:
            log(f"building {variant}")
            try:
                runner = make_runner(variant, encoder, example, Path(tmp) / "enc", plan)
                row = {"variant": variant, "size_mb": runner.size / 1e6}
                row["cosine_vs_fp32"] = cosine(runner, b32, ref)
                clf = make_runner(variant, classifier, example, Path(tmp) / "clf", plan)
                row["sst2_acc"] = sst2_accuracy(clf, sst_batches, dev.labels[:n_dev])
                runners[variant] = runner
            except Exception as exc:  # one peer failing must not hide the others
                row = {"variant": variant, "error": f"{type(exc).__name__}: {str(exc)[:200]}"}
            log(json.dumps(row))
            rows.append(row)
        log("timing all variants, interleaved")
        timings = interleaved_timings(runners, b1, b32, plan.rounds)
        for row in rows:
            row.update(timings.get(row["variant"], {}))
    rows.append(observer_ablation(encoder, b32, ref, plan))
    tokens = float(np.mean([m.sum() for _, m in b1]))
    rate = gemm_rate()
    bound_ms = linear_macs(tokens) / rate * 1000
    for row in rows:
        if "latency_b1_ms" in row:
            row["x_gemm_bound"] = row["latency_b1_ms"] / bound_ms
    return [{"gemm_bound_ms": bound_ms, "int8_gmacs": rate / 1e9, "mean_tokens": tokens}, *rows]


def observer_ablation(encoder: torch.nn.Module, b32: list, ref: np.ndarray, plan: Plan) -> dict:
    """Static int8 cosine per observer, on the PyTorch reference (ORT matches it to ~1e-7)."""
    out: dict[str, Any] = {"variant": "observer ablation (static int8, cosine vs fp32)"}
    for observer in ("minmax", "percentile", "mse", "entropy"):
        model = calibrated_static(encoder, plan.calib_sentences, observer)
        runner = Runner("torch", model, 0)
        e = np.concatenate([runner(*b) for b in b32])
        e = e / np.linalg.norm(e, axis=1, keepdims=True)
        out[observer] = float((e * ref).sum(1).mean())
    return out


def table(results: list[dict[str, Any]]) -> str:
    head = results[0]
    lines = [
        "| variant | file MB | b1 latency ms | b1 best ms | × GEMM bound | b32 sent/s "
        "| cosine vs fp32 | SST-2 acc |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results[1:]:
        if r["variant"].startswith("observer ablation"):
            continue
        if "error" in r:
            lines.append(f"| {r['variant']} | failed: {r['error']} | | | | | | |")
            continue
        lines.append(
            f"| {r['variant']} | {r['size_mb']:.1f} | {r['latency_b1_ms']:.2f} | "
            f"{r['latency_b1_best_ms']:.2f} | {r['x_gemm_bound']:.1f} | "
            f"{r['throughput_b32']:.1f} | {r['cosine_vs_fp32']:.4f} | "
            f"{100 * r['sst2_acc']:.1f} |"
        )
    lines.append(
        f"\nGEMM bound: {head['gemm_bound_ms']:.2f} ms per sentence "
        f"({head['mean_tokens']:.1f} tokens, "
        f"int8 matmul measured at {head['int8_gmacs']:.1f} GMAC/s single-thread)."
    )
    ablation = next((r for r in results[1:] if r["variant"].startswith("observer ablation")), None)
    if ablation:
        cells = ", ".join(f"{k} {v:.4f}" for k, v in ablation.items() if k != "variant")
        lines.append(f"\nStatic int8 observer ablation (cosine vs fp32): {cells}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phase", choices=["train", "measure", "all"], default="all")
    parser.add_argument(
        "--quick", action="store_true", help="tiny settings that validate the script"
    )
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    plan = QUICK if args.quick else Plan()
    if args.phase in ("train", "all"):
        train_all(plan)
    if args.phase in ("measure", "all"):
        results = measure(plan)
        RESULTS.mkdir(exist_ok=True)
        name = "quantize_peers-quick.json" if args.quick else "quantize_peers.json"
        (RESULTS / name).write_text(json.dumps(results, indent=2))
        print(table(results))


if __name__ == "__main__":
    main()
