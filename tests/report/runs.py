"""Realistic run directories for the report tests, written through the records dataclasses
exactly as `tinyai compress` writes them.

The stage figures of the first run are the SST-2 rows of BENCHMARKS.md (all-MiniLM-L6-v2
teacher, 2-layer 256-wide student with an 8k vocabulary); the pruned and int8 stages, the
per-layer rows and the sensitivity curves are plausible values in the same proportions.
"""

from __future__ import annotations

import json
from pathlib import Path

from tinyai.recipe.records import (
    METRICS_FILE,
    LayerRow,
    MachineInfo,
    Measurement,
    PeerRow,
    RunMetrics,
    Sensitivity,
    StageRecord,
    TargetResult,
    TaskInfo,
)

TASK = TaskInfo("sst2", "text-classification", "accuracy", True, "validation",
                ["negative", "positive"])
MACHINE = MachineInfo("AMD EPYC 7B13", 2, 1, "3.11.2",
                      {"tinyai": "0.1.0", "onnxruntime": "1.22.0", "torch": "2.13.0+cpu"})
_SUBLAYERS = ("attention.self.query", "attention.self.key", "attention.self.value",
              "attention.output.dense", "intermediate.dense", "output.dense")


def _linear(name: str, d_in: int, d_out: int, sparsity: float, bits: float) -> LayerRow:
    params = d_in * d_out + d_out
    nonzero = round(params * (1 - sparsity))
    return LayerRow(name, "Linear", params, nonzero, bits, round(params * bits / 8),
                    macs=d_in * d_out * 64)


def _encoder(layers: int, width: int, vocab: int, sparsity: float = 0.0,
             bits: float = 32.0) -> list[LayerRow]:
    rows = [LayerRow("embeddings.word_embeddings", "Embedding", vocab * width, vocab * width,
                     bits, vocab * width * round(bits) // 8)]
    for i in range(layers):
        for sub in _SUBLAYERS:
            d_in = width * 4 if sub == "output.dense" else width
            d_out = width * 4 if sub == "intermediate.dense" else width
            rows.append(_linear(f"encoder.layer.{i}.{sub}", d_in, d_out, sparsity, bits))
    rows.append(_linear("classifier", width, 2, 0.0, bits))
    return rows


def _stage(index: int, name: str, technique: str, kind: str, seconds: float,
           measure: Measurement, layers: list[LayerRow]) -> StageRecord:
    return StageRecord(index, name, technique, kind, {"_type": technique} if index else {},
                       seconds, f"stages/{index}-{name}/artifact",
                       f"stages/{index}-{name}/model", measure, layers)


def _measure(metric: float, params: int, nonzero: int, nbytes: int, ms: float,
             macs: int) -> Measurement:
    return Measurement(metric, {"accuracy": metric}, 872, params, nonzero, nbytes,
                       latency_ms=ms, latency_p90_ms=round(ms * 1.12, 3), macs=macs)


def sst2_run(student_layers: int = 2, width: int = 256, shift: float = 0.0) -> RunMetrics:
    """Teacher, distilled student, 50% pruned, static int8: four stages, a peer, targets,
    and the pruning stage's sensitivity curves. `shift` moves the student's accuracy."""
    teacher = _encoder(6, 384, 30522)
    student = _encoder(student_layers, width, 8000)
    pruned = _encoder(student_layers, width, 8000, sparsity=0.5)
    int8 = _encoder(student_layers, width, 8000, sparsity=0.5, bits=8.25)
    scale = student_layers * width / 512  # the second run's student is bigger and slower
    stages = [
        _stage(0, "teacher", "load", "model", 0.0,
               _measure(0.8750, 22_713_216, 22_713_216, 90_307_801, 8.84, 1_420_000_000),
               teacher),
        _stage(1, "distill", "distill", "distill", 1843.2,
               _measure(0.8589 + shift, round(2_190_000 * scale), round(2_190_000 * scale),
                        round(8_531_449 * scale), round(0.98 * scale, 3),
                        round(98_000_000 * scale)), student),
        _stage(2, "prune <50%>", "magnitude", "prune", 312.5,
               _measure(0.8555 + shift, round(2_190_000 * scale), round(1_400_000 * scale),
                        round(6_120_330 * scale), round(0.97 * scale, 3),
                        round(98_000_000 * scale)), pruned),
        _stage(3, "int8", "int8-static", "quantize", 41.0,
               _measure(0.8544 + shift, round(2_190_000 * scale), round(1_400_000 * scale),
                        round(1_984_512 * scale), round(0.61 * scale, 3),
                        round(98_000_000 * scale)), int8),
    ]
    stages[2].sensitivity = Sensitivity("sparsity", "accuracy", {
        row.name: [[s, round(0.8589 + shift - s**3 * (0.02 + 0.01 * i), 4)]
                   for s in (0.3, 0.5, 0.7, 0.9)]
        for i, row in enumerate(student[1:7])
    })
    peer = PeerRow("ORT quantize_dynamic <defaults>",
                   _measure(0.8560, 22_713_216, 22_713_216, 23_300_000, 1.09, 1_420_000_000),
                   note="the teacher through onnxruntime.quantization")
    final = stages[-1].measure
    targets = [
        TargetResult("max_bytes", 4_515_390, final.bytes, final.bytes <= 4_515_390),
        TargetResult("max_latency_ms", 1.768, final.latency_ms, final.latency_ms <= 1.768),
        TargetResult("min_teacher_fraction", 0.98, round(final.metric / 0.875, 4),
                     final.metric / 0.875 >= 0.98,
                     f"{final.metric / 0.875:.3f} of the teacher's 0.875"),
    ]
    recipe = {"version": 1, "task": {"name": "sst2"}, "teacher": {"model": "minilm-l6"},
              "student": {"layers": list(range(student_layers)), "hidden": width,
                          "vocab": 8000},
              "stages": [{"distill": {"steps": 6000, "lr": 5e-5}},
                         {"prune": {"technique": "magnitude", "sparsity": 0.5}},
                         {"quantize": {"technique": "int8-static", "calibration": 256}},
                         {"export": {}}],
              "targets": {"max_bytes": 4_515_390, "max_latency_ms": 1.768,
                          "min_teacher_fraction": 0.98}}
    return RunMetrics(recipe, TASK, MACHINE, stages, [peer], targets, final_stage=3)


def write_run(directory: Path, metrics: RunMetrics) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / METRICS_FILE).write_text(json.dumps(metrics.to_dict(), indent=1))
    return directory
