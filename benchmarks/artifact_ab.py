"""Artifacts side by side: batch-1 latency on SST-2 dev sentences and how far outputs differ.

    python benchmarks/artifact_ab.py BEFORE AFTER [MORE ...] [--rounds 20] [--sentences 300]

For measuring one change to the export on a model that is already trained: export it before
and after the change (e.g. re-run a finished run's last stage: ``rm -r RUN/stages/<last>
RUN/artifact; tinyai compress RUN/recipe.yaml -o RUN --resume``) and pass both artifact
directories. Each is run the way the SST-2 benchmark runs tinyai rows (`sst2_distill.Timed`:
its own runtime predictor, one thread, tokenization done before the timing) on the same fixed
random draw of dev sentences at their real lengths, the artifacts interleaved in a fresh random
order every round; latency is the mean over sentences of each sentence's median over rounds.
Prints each artifact's latency, its ratio to the first, and the largest output difference from
the first (0.0: the same numbers).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.sst2_distill import Row, Timed, interleaved_latency


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifacts", nargs="+", type=Path, help="artifact directories")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--sentences", type=int, default=300)
    args = parser.parse_args()
    if len(args.artifacts) < 2:
        parser.error("give at least two artifact directories to compare")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from tinyai.data import load_glue

    dev = load_glue("sst2", "dev")
    order = np.random.default_rng(0).permutation(len(dev))[: args.sentences]
    texts = [dev.texts[i] for i in order]
    names = [str(path) for path in args.artifacts]
    timed = {name: Timed(Row(name, "tinyai", Path(name), 0, None), texts) for name in names}
    outputs = {name: t.outputs() for name, t in timed.items()}
    latency = interleaved_latency(timed, args.rounds)
    print(f"{len(texts)} SST-2 dev sentences, batch 1, one thread, {args.rounds} rounds")
    for name in names:
        diff = float(np.abs(outputs[name] - outputs[names[0]]).max())
        ratio = latency[names[0]] / latency[name]
        print(f"{name}: {latency[name]:.3f} ms, {ratio:.3f}x the first's speed, "
              f"max |output - first's| {diff:.3g}")


if __name__ == "__main__":
    main()
