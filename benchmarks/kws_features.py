"""Which features for keyword spotting: 49 x 10 MFCCs (MLPerf Tiny) or 98 x 40 log-mel?

    python benchmarks/kws_features.py [--epochs 30]

Trains the same DS-CNN (64 channels, the MLPerf size) from the same seed on each feature set,
on the speaker-disjoint train split of the 4,890-clip Speech Commands test set, and reports
accuracy on the val and test speakers with the input size. One run per feature set: with
~350-450 clips per split, differences under ~2 points are noise. Writes
benchmarks/results/kws_features.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from tinyai.distill.finetune import FinetuneConfig, finetune
from tinyai.features.audio import KWS_MFCC, AudioFeatures
from tinyai.models import KwsDSCNN, KwsDSCNNConfig
from tinyai.tasks import get_task
from tinyai.train import TrainConfig

RESULTS = Path(__file__).resolve().parent / "results" / "kws_features.json"


def run(name: str, features: AudioFeatures, epochs: float) -> dict[str, object]:
    task = get_task("speech-commands", features=features)
    train = task.featurised("train")
    frames, values = train.features.shape[1:]
    torch.manual_seed(0)
    model = KwsDSCNN(KwsDSCNNConfig(frames=frames, n_mels=values))
    config = TrainConfig(epochs=epochs, lr=3e-3, warmup=0.05, weight_decay=1e-4, batch_size=64)
    start = time.perf_counter()
    finetune(model, task, FinetuneConfig(train=config), data=train)
    model.eval()
    accuracy = {}
    for split in ("val", "test"):
        data = task.featurised(split)
        with torch.no_grad():
            logits = model(torch.from_numpy(data.features)).numpy()
        accuracy[split] = float(np.mean(logits.argmax(axis=1) == data.labels))
    return {
        "features": name,
        "input": [int(frames), int(values)],
        "settings": features.to_dict(),
        "epochs": epochs,
        "accuracy": accuracy,
        "train_seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=30.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rows = [run("mfcc", KWS_MFCC, args.epochs), run("log_mel", AudioFeatures(), args.epochs)]
    RESULTS.write_text(json.dumps({"model": "KwsDSCNN(64)", "rows": rows}, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
