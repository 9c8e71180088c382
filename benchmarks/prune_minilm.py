"""Head/FFN pruning of the SST-2 MiniLM teacher: the text half of benchmarks/fashion_prune.py.

Run through that script (`--part minilm`). The shipped recipes recipes/prune_minilm_25.yaml
and _50.yaml start from the teacher stage of recipes/sst2_teacher.yaml and reuse the teacher
run of benchmarks/sst2_distill.py (cached under tinyai.paths.cache_dir("bench")); accuracy,
bytes and parameters are the runner's, measured on each artifact. Added here: heads and FFN
units kept, and batch-1 latency of the dense and pruned artifacts interleaved in one process
on SST-2 dev sentences at their real lengths.
"""

from __future__ import annotations

from typing import Any

from benchmarks.sst2_distill import TEACHER, Row, Timed, interleaved_latency, load, run_dir
from tinyai.errors import TinyAIError

RATIOS = (25, 50)


def _name(ratio: int) -> str:
    return f"prune_minilm_{ratio}"


def minilm_train_phase(quick: bool) -> None:
    from tinyai.recipe.runner import run_recipe

    teacher = run_dir(TEACHER, quick)
    run_recipe(load(TEACHER, quick), teacher, resume=(teacher / "recipe.yaml").is_file())
    for ratio in RATIOS:
        folder = run_dir(_name(ratio), quick)
        started = (folder / "recipe.yaml").is_file()
        run_recipe(load(_name(ratio), quick), folder, resume=started,
                   reuse=None if started else teacher)


def _shape(model_dir: Any) -> tuple[int, int]:
    """Attention heads and FFN units the saved model keeps."""
    from tinyai.models import load_model

    model = load_model(model_dir)
    heads = sum(m.query.out_features // m.attention_head_size for m in model.modules()
                if hasattr(m, "attention_head_size"))
    ffn = sum(m.intermediate.dense.out_features for m in model.modules()
              if hasattr(m, "intermediate"))
    return heads, ffn


def minilm_measure_phase(quick: bool, sentences: int = 200, rounds: int = 5) -> dict[str, Any]:
    from tinyai.data import load_glue
    from tinyai.recipe.records import read_metrics
    from tinyai.runtime.size import artifact_bytes

    runs = {"dense": run_dir(TEACHER, quick)}
    runs |= {f"heads-ffn-{r}": run_dir(_name(r), quick) for r in RATIOS}
    rows, records = [], {}
    for name, folder in runs.items():
        final = read_metrics(folder).final() if (folder / "metrics.json").is_file() else None
        if final is None or final.measure is None:
            flag = " --quick" if quick else ""
            raise TinyAIError(f"no finished run in {folder}; run benchmarks/fashion_prune.py "
                              f"--phase train --part minilm{flag} first")
        records[name] = final
        rows.append(Row(name, "tinyai", folder / "artifact",
                        artifact_bytes(folder / "artifact", tokenizer=False),
                        final.measure.metric))
    dev = load_glue("sst2", "dev")
    texts = list(dev.texts[: 32 if quick else sentences])
    latency = interleaved_latency({r.name: Timed(r, texts) for r in rows}, 2 if quick else rounds)
    out = {}
    for row in rows:
        record = records[row.name]
        heads, ffn = _shape(runs[row.name] / str(record.model_dir))
        out[row.name] = {"params": record.measure.params if record.measure else None,
                         "heads": heads, "ffn_units": ffn, "accuracy": row.accuracy,
                         "latency_ms": latency[row.name], "artifact_bytes": row.bytes}
    for entry in out.values():
        entry["speedup"] = out["dense"]["latency_ms"] / entry["latency_ms"]
    return {"rows": out, "latency_input": f"{len(texts)} SST-2 dev sentences at their real "
            f"lengths, batch 1, 1 thread, interleaved", "dev_examples": 128 if quick else
            len(dev)}


def minilm_markdown(results: dict[str, Any]) -> str:
    lines = [
        "| MiniLM SST-2 | params | heads | FFN units | dev accuracy | latency ms | speedup |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, r in results["rows"].items():
        lines.append(f"| {n} | {r['params']:,} | {r['heads']} | {r['ffn_units']} | "
                     f"{r['accuracy']:.4f} | {r['latency_ms']:.2f} | {r['speedup']:.2f}x |")
    return "\n".join(lines)
