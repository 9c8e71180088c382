"""Fused attention on all-MiniLM-L6-v2: tinyai before/after, the int8 GEMM bound, the peers.

    python benchmarks/attention_fusion.py [--quick] [--optimum-cli PATH]

Rows, all ONNX files run by onnxruntime (1 thread) on real STS-B dev sentences at their real
lengths, batch 1, interleaved in a fresh random order every round:

- tinyai fp32 / static int8, *stock* attention (the exporter's own SDPA decomposition, as
  before) and *fused* (`tinyai.export.attention`: one com.microsoft.MultiHeadAttention per
  layer, fed the key-padding mask; in static int8 the Q/K/V products join it in one
  com.microsoft.QAttention, `tinyai.quantize.onnx_qattention`), and static int8 with the
  Q/K/V products apart (three MatMulIntegerToFloat feeding MultiHeadAttention, as before), and
  with each layer's split of the heads after attention and merge back before the output
  product left in (two Reshapes per layer, as exported before `tinyai.export.round_trips`).
- int8 GEMM bound: a graph holding only the static int8 model's integer products (its weights,
  scales and biases; QAttention's Q/K/V as one product; already-quantized inputs), run at each
  sentence's length:
  the time the model's int8 GEMMs alone take in onnxruntime. Also the older figure (Linear
  MACs / DynamicQuantizeMatMul's peak rate at M=64) for comparison with BENCHMARKS.md.
- ORT transformer optimizer (fused Attention) fp32, + quantize_dynamic (QAttention): a
  TorchScript export of the eager-attention model, the input its BERT fusions match.
- Optimum: ``optimum-cli export onnx`` + ``optimum-cli onnxruntime quantize --avx512_vnni``
  (``--avx2`` on a CPU without AVX-512),
  as its docs show. optimum-onnx 0.1.0 needs transformers < 4.58 (tinyai runs 5.x), so it
  lives in a separate virtual environment; pass its optimum-cli with --optimum-cli, e.g.
  ``python -m venv /tmp/optimum-venv && /tmp/optimum-venv/bin/pip install -c constraints.txt
  torch "optimum-onnx[onnxruntime]" "sentence-transformers<6"``. Without it the rows say so.

Fidelity: mean cosine of the sentence embeddings against PyTorch fp32 on STS-B dev sentences
(batches of 32, padded). Writes benchmarks/results/attention_fusion[-quick].json.

--profile adds where the time goes: onnxruntime's own profiler over the batch-1 sentences,
kernel time per op type of tinyai's static int8 graph and of each int8 peer (the profiler's
overhead inflates every figure; compare shares, not milliseconds, with the timed rows).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import onnx
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.gemm_bound import GemmBound
from benchmarks.quantize_peers import Runner, _batches, cosine, interleaved_timings
from benchmarks.quantize_train import QUICK, Plan, log, sentences
from benchmarks.quantize_variants import calibrated_static, gemm_rate, linear_macs

RESULTS = Path(__file__).resolve().parent / "results"
BOUND = "int8 GEMM bound (the model's int8 products only)"
TINYAI_INT8 = "tinyai int8 static, fused attention"
TINYAI_INT8_APART = "tinyai int8 static, fused attention, Q/K/V products apart"
TINYAI_INT8_SPLIT = "tinyai int8 static, fused attention, heads split and merged back"


def optimum_target() -> str:
    """The `optimum-cli onnxruntime quantize` flag its docs name for this CPU's instructions."""
    from tinyai.hardware import cpu_flags

    flags = cpu_flags()
    return "avx512_vnni" if "avx512_vnni" in flags else "avx512" if "avx512f" in flags else "avx2"


OPTIMUM_TARGET = optimum_target()
PEERS_INT8 = ("ORT optimizer + quantize_dynamic", f"Optimum quantize --{OPTIMUM_TARGET}")


def build_tinyai(model: torch.nn.Module, example: dict, calib: int, out: Path) -> dict[str, Path]:
    """fp32 and static int8, each with the stock and the fused attention export; and static
    int8 with Q/K/V apart (three int8 products feeding MultiHeadAttention, as tinyai exported
    it before `tinyai.quantize.onnx_qattention`), to show what QAttention gains."""
    from tinyai.export import attention
    from tinyai.quantize import to_onnx
    from tinyai.quantize.export import retarget_onnx

    quantized = calibrated_static(model, calib)
    paths = {}
    for tag, switch in (("stock", attention.unfused), ("fused", contextlib.nullcontext)):
        with switch():
            fp32 = to_onnx(copy.deepcopy(model), out / f"fp32_{tag}.onnx", example)
            float_proto = onnx.load(str(fp32))
            int8 = retarget_onnx(float_proto, model, quantized, out / f"int8_{tag}.onnx")
        paths[f"tinyai fp32, {tag} attention"] = fp32
        paths[f"tinyai int8 static, {tag} attention"] = int8
    with mock.patch("tinyai.quantize.onnx_pass.fuse_quantized_attention", return_value=0):
        apart = retarget_onnx(float_proto, model, quantized, out / "int8_qkv_apart.onnx")
    paths[TINYAI_INT8_APART] = apart
    with mock.patch("tinyai.export.onnx_export.drop_round_trip_reshapes", return_value=0):
        split = to_onnx(copy.deepcopy(model), out / "fp32_split_merged.onnx", example)
        split = retarget_onnx(onnx.load(str(split)), model, quantized,
                              out / "int8_split_merged.onnx")
    paths[TINYAI_INT8_SPLIT] = split
    return paths


def build_ort_optimizer(model: torch.nn.Module, example: dict, out: Path) -> dict[str, Path]:
    """ORT's BERT recipe: TorchScript export, optimize_model (fused Attention), quantize_dynamic."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model

    from tinyai.distill import use_eager_attention

    eager = copy.deepcopy(model).eval()
    use_eager_attention(eager)  # the pattern ORT's attention fusion matches
    out.mkdir(parents=True, exist_ok=True)
    raw = out / "ort_raw.onnx"
    axes = {name: {0: "batch", 1: "sequence"} for name in example}
    with torch.no_grad():
        torch.onnx.export(
            eager,
            tuple(example.values()),
            str(raw),
            dynamo=False,
            input_names=list(example),
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=17,
        )
    optimized = optimize_model(str(raw), model_type="bert", num_heads=12, hidden_size=384)
    fp32 = out / "ort_optimized.onnx"
    optimized.save_model_to_file(str(fp32))
    int8 = out / "ort_optimized_int8.onnx"
    # The fused contrib ops defeat ONNX shape inference; ORT's error message asks for this.
    quantize_dynamic(
        str(fp32),
        str(int8),
        weight_type=QuantType.QInt8,
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    return {"ORT optimizer fp32": fp32, PEERS_INT8[0]: int8}


def build_optimum(cli: str | None, out: Path, model_dir: Path | None = None) -> dict[str, Path]:
    """`optimum-cli export onnx` + `optimum-cli onnxruntime quantize --OPTIMUM_TARGET` of
    `model_dir` (a Hugging Face folder; default: the packaged all-MiniLM-L6-v2)."""
    from tinyai.models import resolve

    if cli is None or not Path(cli).exists():
        raise FileNotFoundError("optimum-cli not found; pass --optimum-cli (see the docstring)")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    fp32_dir, int8_dir = out / "optimum_fp32", out / "optimum_int8"
    run = [
        cli,
        "export",
        "onnx",
        "--model",
        str(model_dir or resolve("minilm-l6")),
        "--task",
        "feature-extraction",
        str(fp32_dir),
    ]
    quantize = [
        cli,
        "onnxruntime",
        "quantize",
        "--onnx_model",
        str(fp32_dir),
        f"--{OPTIMUM_TARGET}",
        "-o",
        str(int8_dir),
    ]
    for command in (run, quantize):
        subprocess.run(command, check=True, env=env, capture_output=True, text=True)
    int8 = int8_dir / "model_quantized.onnx"
    return {"Optimum fp32": fp32_dir / "model.onnx", PEERS_INT8[1]: int8}


def fused_ops(path: Path, workdir: Path) -> dict[str, int]:
    """Op counts of the graph onnxruntime actually runs (its optimized form, written out)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(workdir / f"{path.stem}.ort.onnx")
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = Counter(n.op_type for n in onnx.load(opts.optimized_model_filepath).graph.node)
    keys = ("MultiHeadAttention", "Attention", "QAttention", "Softmax", "MatMul", "Reshape")
    return {k: ops.get(k, 0) for k in keys}


def kernel_profile(path: Path, b1: list, rounds: int, workdir: Path) -> dict[str, Any]:
    """Microseconds per sentence and nodes per op type, from onnxruntime's profiler (1 thread),
    over `rounds` - 1 rounds after one round of warm-up."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.enable_profiling = True
    opts.profile_file_prefix = str(workdir / f"profile_{path.stem}")
    session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = {i.name for i in session.get_inputs()}
    for _ in range(rounds):
        for ids, mask in b1:
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            session.run(None, {k: v for k, v in feed.items() if k in names})
    events = json.loads(Path(session.end_profiling()).read_text())
    runs = sorted(
        (e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"),
        key=lambda e: e["ts"],
    )
    warm, timed = runs[len(b1) - 1], runs[len(b1) :]  # the first round warms up: left out
    cutoff = warm["ts"] + warm["dur"]
    calls = len(timed)
    micros: Counter[str] = Counter()
    nodes: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time") and (
            event["ts"] > cutoff
        ):
            micros[event["args"]["op_name"]] += event["dur"]
            nodes[event["args"]["op_name"]] += 1
    return {
        "model_run_us": sum(e["dur"] for e in timed) / calls,
        "kernels_us": sum(micros.values()) / calls,
        "ops": {
            op: {"us": us / calls, "nodes": nodes[op] / calls} for op, us in micros.most_common()
        },
    }


def measure(plan: Plan, optimum_cli: str | None, profile: bool = False) -> list[dict[str, Any]]:
    from tinyai.models import load_model, load_tokenizer
    from tinyai.recipe.records import cpu_model

    torch.set_num_threads(1)
    tok = load_tokenizer("minilm-l6")
    texts = sentences(plan.fidelity_sentences)
    b1 = _batches(tok, texts[: plan.latency_sentences], 1)
    b32 = _batches(tok, texts, 32)
    model = load_model("minilm-l6").eval()
    ref = np.concatenate([Runner("torch", model, 0)(*b) for b in b32])
    ref = ref / np.linalg.norm(ref, axis=1, keepdims=True)
    example = {
        "input_ids": torch.from_numpy(b32[0][0][:2]),
        "attention_mask": torch.from_numpy(b32[0][1][:2]),
    }
    rows, runners = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        builders = [
            lambda: build_tinyai(model, example, plan.calib_sentences, out),
            lambda: build_ort_optimizer(model, example, out),
            lambda: build_optimum(optimum_cli, out),
        ]
        for build in builders:
            try:
                paths = build()
            except Exception as exc:  # one peer failing must not hide the others
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                rows.append({"variant": "build failed", "error": f"{type(exc).__name__}: {first}"})
                log(json.dumps(rows[-1]))
                continue
            for name, path in paths.items():
                output = "sentence_embedding" if name.startswith("Optimum") else None
                runner = Runner("onnx", path, path.stat().st_size, output=output)
                row = {
                    "variant": name,
                    "size_mb": runner.size / 1e6,
                    "cosine_vs_fp32": cosine(runner, b32, ref),
                    "ort_ops": fused_ops(path, out),
                }
                runners[name] = runner
                rows.append(row)
                log(json.dumps(row))
        bound = GemmBound(runners[TINYAI_INT8].obj)
        for ids, mask in b1 + b32:  # its inputs are made once per shape, before the timing
            bound(ids, mask)
        runners[BOUND] = bound
        rows.append({"variant": BOUND, "gemm_nodes": bound.nodes})
        log("timing all rows, interleaved")
        load_before = os.getloadavg()[0]
        timings = interleaved_timings(runners, b1, b32, plan.rounds)
        load = [round(load_before, 1), round(os.getloadavg()[0], 1)]  # others move the times
        if profile:
            log("profiling the int8 rows")
            for row in rows:
                profiled = (TINYAI_INT8, TINYAI_INT8_APART, *PEERS_INT8)
                if row["variant"] in profiled and row["variant"] in runners:
                    row["profile"] = kernel_profile(runners[row["variant"]].obj, b1, 4, out)
    for row in rows:
        row.update(timings.get(row["variant"], {}))
    tokens = float(np.mean([m.sum() for _, m in b1]))
    peak_bound_ms = linear_macs(tokens) / gemm_rate() * 1000
    return [
        {
            "mean_tokens": tokens,
            "peak_rate_bound_ms": peak_bound_ms,
            "cpu": cpu_model(),
            "sentences": len(b1),
            "rounds": plan.rounds,
            "load_average_before_after": load,
        },
        *rows,
    ]


def table(results: list[dict[str, Any]]) -> str:
    head, rows = results[0], results[1:]
    by_name = {r["variant"]: r for r in rows if "latency_b1_ms" in r}
    bound = by_name.get(BOUND, {}).get("latency_b1_ms")
    lines = [
        "| variant | file MB | b1 latency ms | b1 best ms | × GEMM bound | b32 sent/s "
        "| cosine vs fp32 | fused attention nodes / Softmax |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['variant']} | {r['error']} | | | | | | |")
            continue
        if "latency_b1_ms" not in r:
            continue
        ops = r.get("ort_ops", {})
        fused = sum(ops.get(k, 0) for k in ("MultiHeadAttention", "Attention", "QAttention"))
        op_cell = f"{fused} / {ops.get('Softmax', 0)}" if ops else ""
        x_bound = f"{r['latency_b1_ms'] / bound:.2f}" if bound else ""
        lines.append(
            f"| {r['variant']} | {r.get('size_mb', 0):.1f} | {r['latency_b1_ms']:.3f} | "
            f"{r['latency_b1_best_ms']:.3f} | {x_bound} | {r['throughput_b32']:.0f} | "
            f"{r.get('cosine_vs_fp32', float('nan')):.4f} | "
            f"{op_cell} |"
        )
    lines.append(_targets(by_name, head))
    lines += [_profile_table(r) for r in rows if "profile" in r]
    return "\n".join(lines)


def _profile_table(row: dict[str, Any]) -> str:
    prof = row["profile"]
    lines = [
        f"\nProfile of {row['variant']}: model_run {prof['model_run_us']:.0f} us/sentence, "
        f"kernels {prof['kernels_us']:.0f} us (onnxruntime profiler on: inflated)",
        "| op | us/sentence | share of kernels | nodes |",
        "|---|---|---|---|",
    ]
    for op, entry in prof["ops"].items():
        share = entry["us"] / prof["kernels_us"]
        if share >= 0.01:
            lines.append(f"| {op} | {entry['us']:.1f} | {share:.1%} | {entry['nodes']:.0f} |")
    return "\n".join(lines)


def _targets(by_name: dict[str, dict], head: dict) -> str:
    ours = by_name.get(TINYAI_INT8)
    bound = by_name.get(BOUND)
    if not ours or not bound:
        return "\nTargets not evaluated: a row is missing."
    ms = ours["latency_b1_ms"]
    text = [
        f"\nCPU: {head['cpu']}; {head['sentences']} sentences, {head['mean_tokens']:.1f} tokens "
        f"on average, {head['rounds']} rounds; load average {head['load_average_before_after']}.",
        f"Static int8 (fused) / int8 GEMM bound: {ms / bound['latency_b1_ms']:.2f}x "
        f"(target <= 1.5x); the peak-rate bound of BENCHMARKS.md is "
        f"{head['peak_rate_bound_ms']:.3f} ms ({ms / head['peak_rate_bound_ms']:.2f}x).",
    ]
    split = by_name.get(TINYAI_INT8_SPLIT)
    if split:
        text.append(
            f"Heads split and merged back / without (two Reshapes per layer fewer): "
            f"{split['latency_b1_ms'] / ms:.3f}x ({split['latency_b1_ms']:.3f} vs {ms:.3f} ms; "
            f"best rounds {split['latency_b1_best_ms']:.3f} vs "
            f"{ours['latency_b1_best_ms']:.3f} ms)."
        )
    apart = by_name.get(TINYAI_INT8_APART)
    if apart:
        text.append(
            f"Q/K/V products apart / QAttention (Q/K/V and attention in one node): "
            f"{apart['latency_b1_ms'] / ms:.2f}x ({apart['latency_b1_ms']:.3f} vs {ms:.3f} ms; "
            f"best rounds {apart['latency_b1_best_ms']:.3f} vs "
            f"{ours['latency_b1_best_ms']:.3f} ms; above 1: QAttention faster)."
        )
    peers = [by_name[p] for p in PEERS_INT8 if p in by_name]
    if peers:
        best = min(peers, key=lambda r: r["latency_b1_ms"])
        text.append(
            f"Best int8 peer: {best['variant']}, {best['latency_b1_ms']:.3f} ms at cosine "
            f"{best['cosine_vs_fp32']:.4f}; tinyai is {best['latency_b1_ms'] / ms:.2f}x faster at "
            f"cosine {ours['cosine_vs_fp32']:.4f} (target >= 1.3x at equal or better cosine)."
        )
    return "\n".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny settings that check the script")
    parser.add_argument(
        "--optimum-cli",
        default=shutil.which("optimum-cli"),
        help="optimum-cli of a venv with optimum-onnx (see the docstring)",
    )
    parser.add_argument("--profile", action="store_true", help="kernel time per op type")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    plan = QUICK if args.quick else Plan(rounds=15)
    results = measure(plan, args.optimum_cli, args.profile)
    RESULTS.mkdir(exist_ok=True)
    name = "attention_fusion-quick.json" if args.quick else "attention_fusion.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2))
    print(table(results))


if __name__ == "__main__":
    main()
