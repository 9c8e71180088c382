"""`python soak_driver.py ARTIFACT INPUTS.json N`: N predictions, one input at a time, through
one loaded artifact, in a process that imports only the torch-free runtime. Prints JSON:
the resident memory after a warm-up and at the end, the errors, the seconds, and the first
input's result before and after (a predictor must not drift)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

WARMUP = 200  # predictions before the baseline is read: allocators and caches settle


def main() -> None:
    from tinyai.runtime import load_artifact
    from tinyai.runtime.memory import rss_bytes

    artifact, inputs_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    inputs: list[Any] = json.loads(open(inputs_file).read())  # noqa: SIM115
    inputs = [tuple(x) if isinstance(x, list) else x for x in inputs]  # sentence pairs
    predictor = load_artifact(artifact)
    options = {"n": 1} if predictor.kind == "char-lm" else {}
    first = predictor.predict([inputs[0]], **options)
    errors, baseline = [], None
    start = time.perf_counter()
    for i in range(count):
        if i == WARMUP:
            baseline = rss_bytes()
        try:
            predictor.predict([inputs[i % len(inputs)]], **options)
        except Exception as exc:  # the soak counts every failure, whatever it is
            errors.append(f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    print(json.dumps({
        "kind": predictor.kind, "predictions": count, "seconds": seconds,
        "rss_after_warmup": baseline, "rss_end": rss_bytes(), "errors": errors[:5],
        "error_count": len(errors), "same_answer": predictor.predict([inputs[0]], **options)
        == first, "torch_loaded": "torch" in sys.modules,
    }))


if __name__ == "__main__":
    main()
