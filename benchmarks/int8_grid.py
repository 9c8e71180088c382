"""What the 7-bit weight grid of tinyai's integer kernels costs in accuracy, measured exactly.

    python benchmarks/int8_grid.py MODEL_DIR [MODEL_DIR ...] [--task sst2] [--max-length 64]

For each saved model (a distill stage's `model/` folder, say): its float accuracy and that of
Int8Dynamic with 7-bit weights (the default, exact on every CPU) and with full-range 8-bit
weights, all three on the PyTorch reference modules, which compute what ONNX Runtime computes
on ARM and on x86 CPUs with VNNI (without VNNI, 8-bit weights saturate: int8_saturation.py).
Prints one JSON line per model.
"""

from __future__ import annotations

import argparse
import copy
import json


def main() -> None:
    import torch

    from tinyai.measure.evaluate import evaluate
    from tinyai.models import load_model
    from tinyai.quantize import Int8Dynamic, quantize_
    from tinyai.tasks import get_task

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--embedding-bits", type=int, default=4)
    parser.add_argument("--embedding-group-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    for folder in args.models:
        model = load_model(folder).eval()
        task = get_task(args.task, tokenizer=folder, max_length=args.max_length)
        row = {"model": folder, "float": evaluate(model, task)["metrics"]}
        for full_range in (False, True):
            config = Int8Dynamic(embedding_bits=args.embedding_bits,
                                 embedding_group_size=args.embedding_group_size,
                                 full_range_weights=full_range)
            quantized = quantize_(copy.deepcopy(model), config)
            row["int8 8-bit" if full_range else "int8 7-bit"] = evaluate(quantized, task)["metrics"]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
