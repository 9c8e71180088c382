"""SST-2: the teacher and every student through their shipped recipes, beside the peers'
int8 teachers, all timed side by side on SST-2 dev sentences at their real lengths.

    python benchmarks/sst2_distill.py --phase train [--only sst2,sst2_l3] [--quick]
    python benchmarks/sst2_distill.py --phase measure [--quick]

train: recipes/sst2_teacher.yaml once, then each student recipe (recipes/sst2.yaml, the 60x
student, and the others in STUDENTS) from it (`--reuse`: they share its stage), plus
other training seeds of each winner (OTHER_SEEDS); run directories are cached under
tinyai.paths.cache_dir("bench") and resumed. Every accuracy and byte count of a tinyai row
is the runner's, measured on the artifact (bytes without the tokenizer, as peers count a
model file). measure: adds what a recipe cannot say: peers on the same fine-tuned teacher
(ONNX Runtime's quantize_dynamic on the float export; ORT's transformer optimizer +
quantize_dynamic; Optimum's export + `quantize --avx512_vnni` (--avx2 without AVX-512) of the
teacher's encoder, given --optimum-cli), and batch-1, one-thread model latency of every row
interleaved in one process (each round in a fresh random order; per sentence the median over
rounds, then the mean over sentences; tokenization excluded for every row alike). Writes
benchmarks/results/sst2_distill[-quick].json, a markdown table and the report of every run
(Pareto front) under the cache.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RECIPES = ROOT / "recipes"
RESULTS = Path(__file__).resolve().parent / "results"
TEACHER = "sst2_teacher"
STUDENTS = ("sst2", "sst2_long", "sst2_longer", "sst2_l3", "sst2_mixed")
# The students re-trained with other seeds: each recipe that was the winner when it was run.
OTHER_SEEDS = {"sst2_long": (1,), "sst2_longer": (1, 2)}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def load(name: str, quick: bool, seed: int = 0) -> Any:
    """A shipped recipe; --quick trains on slices for a few steps (validates the script);
    `seed` != 0 re-trains the student with another seed (the distill stage's)."""
    import yaml

    from tinyai.recipe.schema import parse_recipe

    data = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    if quick:
        data["task"]["limit"] = {"train": 512, "eval": 128}
        for stage in data["stages"]:
            if "train" in stage:
                stage["train"] = {**stage["train"], "steps": 4, "batch_size": 16}
        data["measure"] = {"latency": False, "every_stage": False}
    if seed:
        distill = next(s for s in data["stages"] if "distill" in s)
        distill["train"] = {**distill["train"], "seed": seed}
        data["name"] = f"{data['name']}-seed{seed}"
    return parse_recipe(data, base=RECIPES)


def run_dir(name: str, quick: bool) -> Path:
    from tinyai.paths import cache_dir

    return cache_dir("bench", *(["quick"] if quick else [])) / name.replace("_", "-")


def runs(quick: bool) -> dict[str, tuple[Any, Path]]:
    """Every run of the benchmark: label -> (recipe, run directory)."""
    out = {TEACHER: (load(TEACHER, quick), run_dir(TEACHER, quick))}
    for name in STUDENTS:
        out[name] = (load(name, quick), run_dir(name, quick))
    for name, seeds in OTHER_SEEDS.items():
        for seed in seeds:
            label = f"{name}-seed{seed}"
            out[label] = (load(name, quick, seed), run_dir(label, quick))
    return out


def phase_train(quick: bool, only: list[str] | None) -> None:
    from tinyai.recipe.runner import run_recipe

    plan = runs(quick)
    teacher = plan[TEACHER][1]
    for label, (recipe, folder) in plan.items():
        if only and label not in only and label != TEACHER:
            continue
        started = (folder / "recipe.yaml").is_file()
        log(f"{label}: {'resuming' if started else 'starting'} {folder}")
        run_recipe(recipe, folder, resume=started,
                   reuse=None if started or label == TEACHER else teacher, say=log)


# ------------------------------------------------------------------ measuring
@dataclasses.dataclass
class Row:
    name: str
    kind: str  # "tinyai" | "peer"
    path: Path  # an artifact directory, or a peer's .onnx file
    bytes: int
    accuracy: float | None
    note: str = ""
    latency_ms: float | None = None
    head: tuple[np.ndarray, np.ndarray] | None = None  # a peer encoder's classifier (W, b)


def tinyai_rows(quick: bool) -> list[Row]:
    from tinyai.recipe.records import read_metrics
    from tinyai.runtime.size import artifact_bytes

    rows = []
    for label, (_, folder) in runs(quick).items():
        if not (folder / "artifact").is_dir():
            log(f"{label}: no finished run in {folder}; train it first")
            continue
        final = read_metrics(folder).final()
        assert final is not None and final.measure is not None
        name = "teacher, fp32" if label == TEACHER else label
        rows.append(Row(name, "tinyai", folder / "artifact",
                        artifact_bytes(folder / "artifact", tokenizer=False),
                        final.measure.metric))
    return rows


def peer_rows(quick: bool, workdir: Path, optimum_cli: str | None) -> list[Row]:
    """The peers' int8 teachers: the same fine-tuned teacher, quantized their way."""
    import torch

    from tinyai.models import load_model
    from tinyai.tasks.spec import build_task

    teacher_dir = run_dir(TEACHER, quick) / "stages" / "01-finetune" / "model"
    model = load_model(teacher_dir).eval()
    example = {k: v for k, v in build_task(load(TEACHER, quick).task).example_inputs(2).items()
               if k in ("input_ids", "attention_mask")}
    rows = []
    sys.path.insert(0, str(ROOT))
    from benchmarks.quantize_train import Plan
    from benchmarks.quantize_variants import build_variant

    with torch.no_grad():
        path = build_variant("ORT quantize_dynamic", model, example, workdir / "ort", Plan())
    rows.append(Row("ORT quantize_dynamic (float export)", "peer", Path(path),
                    Path(path).stat().st_size, None))
    try:  # lands with the fused-attention work (benchmarks/attention_fusion.py)
        from benchmarks.attention_fusion import build_ort_optimizer
    except ImportError:
        log("ORT transformer optimizer peer: benchmarks/attention_fusion.py is not here; row "
            "skipped")
    else:
        built = build_ort_optimizer(model, example, workdir / "ort-opt")
        path = next(p for name, p in built.items() if "int8" in str(p) or "int8" in name)
        rows.append(Row("ORT transformer optimizer + quantize_dynamic", "peer", Path(path),
                        Path(path).stat().st_size, None))
    if optimum_cli:
        rows.append(optimum_row(optimum_cli, teacher_dir, workdir / "optimum"))
    else:
        log("Optimum peer: no --optimum-cli given; row skipped")
    return rows


def optimum_row(cli: str, teacher_dir: Path, workdir: Path) -> Row:
    """Optimum's int8 teacher: the fine-tuned encoder written as a Hugging Face BertModel folder,
    exported and quantized by optimum-cli (benchmarks/attention_fusion.py's commands). Optimum
    has no head for tinyai's mean pooling + linear classifier, so that head (one 384x2
    product) runs after the encoder in numpy, timed with it."""
    from safetensors.numpy import load_file, save_file

    from benchmarks.attention_fusion import PEERS_INT8, build_optimum

    weights = load_file(teacher_dir / "model.safetensors")
    hf = workdir / "hf-encoder"
    hf.mkdir(parents=True)
    # The head pools the mean, never the pooler (tinyai saves its unused bias empty): drop it.
    save_file({k.removeprefix("encoder."): v for k, v in weights.items()
               if k.startswith("encoder.") and not k.startswith("encoder.pooler.")},
              hf / "model.safetensors")
    shutil.copyfile(teacher_dir / "encoder" / "config.json", hf / "config.json")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(teacher_dir / name, hf / name)
    path = build_optimum(cli, workdir, model_dir=hf)[PEERS_INT8[1]]
    head = (weights["classifier.weight"], weights["classifier.bias"])
    return Row(f"{PEERS_INT8[1]} + numpy head", "peer", path, path.stat().st_size, None,
               head=head)


class Timed:
    """One row's model call on one prepared input per sentence (batch 1)."""

    def __init__(self, row: Row, texts: list[str]) -> None:
        if row.kind == "tinyai":
            from tinyai.runtime import load_artifact

            predictor = load_artifact(row.path, threads=1)
            self.inputs = [predictor.preprocess([t]) for t in texts]
            self.call = predictor.run
        else:
            import onnxruntime as ort

            from tinyai.distill.text import load_fast_tokenizer
            from tinyai.models import resolve

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            session = ort.InferenceSession(str(row.path), options,
                                           providers=["CPUExecutionProvider"])
            names = {i.name for i in session.get_inputs()}
            tokenizer = load_fast_tokenizer(resolve("minilm-l6"), 64)
            self.inputs = []
            for text in texts:
                ids = np.asarray([tokenizer.encode(text).ids], dtype=np.int64)
                feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                        "token_type_ids": np.zeros_like(ids)}
                self.inputs.append({k: v for k, v in feed.items() if k in names})
            self.call = (lambda x: session.run(None, x)[0]) if row.head is None else (
                lambda x: _classify(session.run(["last_hidden_state"], x)[0],
                                    x["attention_mask"], row.head))

    def outputs(self) -> np.ndarray:
        return np.concatenate([np.asarray(self.call(x)) for x in self.inputs])


def _classify(hidden: np.ndarray, mask: np.ndarray,
              head: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """tinyai's text-classifier head: the mean over real tokens, then the linear layer."""
    m = mask[..., None].astype(hidden.dtype)
    pooled = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return pooled @ head[0].T + head[1]


def interleaved_latency(timed: dict[str, Timed], rounds: int) -> dict[str, float]:
    """Mean over sentences of each sentence's median batch-1 latency over `rounds` rounds,
    the rows in a fresh random order each round (load from other processes hits all)."""
    times = {name: np.zeros((rounds, len(t.inputs))) for name, t in timed.items()}
    rng = np.random.default_rng(0)
    for t in timed.values():  # warm-up
        for x in t.inputs[:5]:
            t.call(x)
    for r in range(rounds):
        for name in rng.permutation(list(timed)):
            t = timed[name]
            for i, x in enumerate(t.inputs):
                start = time.perf_counter()
                t.call(x)
                times[name][r, i] = time.perf_counter() - start
    return {name: float(np.median(t, axis=0).mean() * 1000) for name, t in times.items()}


def phase_measure(quick: bool, sentences: int, rounds: int,
                  optimum_cli: str | None) -> dict[str, Any]:
    import tempfile

    from tinyai.data import load_glue

    dev = load_glue("sst2", "dev")
    n = 128 if quick else len(dev)
    rows = tinyai_rows(quick)
    with tempfile.TemporaryDirectory() as tmp:
        rows += peer_rows(quick, Path(tmp), optimum_cli)
        timed = {}
        for row in rows:
            if row.kind == "peer":  # their accuracy: every dev sentence, their output
                outputs = Timed(row, list(dev.texts[:n])).outputs()
                row.accuracy = float((outputs.argmax(-1) == dev.labels[:n]).mean())
        order = np.random.default_rng(0).permutation(len(dev))[: min(sentences, n)]
        texts = [dev.texts[i] for i in order]
        timed = {row.name: Timed(row, texts) for row in rows}
        log(f"timing {len(rows)} rows on {len(texts)} dev sentences, {rounds} rounds")
        latency = interleaved_latency(timed, rounds)
    for row in rows:
        row.latency_ms = latency[row.name]
    write_reports(quick)
    return summarize(rows, len(texts), rounds)


def write_reports(quick: bool) -> None:
    """One report over every run: accuracy against bytes and latency, with the Pareto front."""
    from tinyai.report import write_report

    folders = [folder for _, folder in runs(quick).values() if (folder / "artifact").is_dir()]
    out = run_dir("report", quick)
    write_report(folders, out)
    log(f"report of every run: {out / 'report.html'}")


def summarize(rows: list[Row], sentences: int, rounds: int) -> dict[str, Any]:
    from tinyai.recipe.records import cpu_model

    teacher = next(r for r in rows if r.name == "teacher, fp32")
    peers = [r for r in rows if r.kind == "peer"]
    best_peer = min(peers, key=lambda r: r.latency_ms or float("inf")) if peers else None
    out = []
    for r in rows:
        entry = {k: v for k, v in dataclasses.asdict(r).items() if k != "head"}
        entry["path"] = str(r.path)
        entry["x_smaller"] = teacher.bytes / r.bytes
        entry["x_faster"] = (teacher.latency_ms or 0) / (r.latency_ms or 1)
        entry["teacher_fraction"] = (r.accuracy or 0) / (teacher.accuracy or 1)
        if best_peer is not None:
            entry["x_faster_than_best_peer"] = (best_peer.latency_ms or 0) / (r.latency_ms or 1)
        out.append(entry)
    return {"cpu": cpu_model(), "sentences": sentences, "rounds": rounds,
            "best_peer": best_peer.name if best_peer else None, "rows": out}


def table(result: dict[str, Any]) -> str:
    lines = ["| model | SST-2 dev acc | % of teacher | bytes (no tokenizer) | x smaller | "
             "latency b=1 ms | x faster | x faster than best peer |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        peer = r.get("x_faster_than_best_peer")
        lines.append(f"| {r['name']} | {100 * (r['accuracy'] or 0):.2f} | "
                     f"{100 * r['teacher_fraction']:.1f}% | {r['bytes']:,} | "
                     f"{r['x_smaller']:.1f} | {r['latency_ms']:.3f} | {r['x_faster']:.1f} | "
                     f"{'' if peer is None else f'{peer:.1f}'} |")
    lines.append(f"\n{result['cpu']}; {result['sentences']} SST-2 dev sentences at their real "
                 f"lengths, batch 1, one thread, {result['rounds']} interleaved rounds.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=("train", "measure", "all"), default="all")
    parser.add_argument("--quick", action="store_true", help="slices: validates the script")
    parser.add_argument("--only", help="comma-separated runs to train (default: all)")
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--optimum-cli", default=shutil.which("optimum-cli"),
                        help="optimum-cli of a separate environment (see attention_fusion.py)")
    args = parser.parse_args(argv)
    if args.phase in ("train", "all"):
        phase_train(args.quick, args.only.split(",") if args.only else None)
    if args.phase == "train":
        return None
    rounds = 2 if args.quick else args.rounds
    result = phase_measure(args.quick, 32 if args.quick else args.sentences, rounds,
                           args.optimum_cli)
    RESULTS.mkdir(exist_ok=True)
    name = "sst2_distill-quick.json" if args.quick else "sst2_distill.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2) + "\n")
    print(table(result))
    return result


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
