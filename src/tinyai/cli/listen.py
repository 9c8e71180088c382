"""`tinyai listen ARTIFACT RECORDING.wav`: the keywords heard in a long recording, with times.

Runs on the torch-free runtime (tinyai.runtime.stream): a one-second window slides over the
recording, the posteriors are smoothed, thresholded and spaced by a refractory period.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def listen(
    artifact: Path = typer.Argument(..., help="Keyword-spotting artifact directory."),
    recording: Path = typer.Argument(..., help="16 kHz mono 16-bit wav file, any length."),
    hop: float = typer.Option(0.1, help="Seconds between one-second windows (at most 0.25)."),
    smooth: int = typer.Option(3, help="Windows in the moving average of the posteriors."),
    threshold: float = typer.Option(0.7, help="Smoothed posterior that counts as a detection."),
    refractory: float = typer.Option(1.0, help="Seconds without detections after one."),
    as_json: bool = typer.Option(False, "--json", help="Detections as a JSON list."),
    threads: int = typer.Option(1, min=1, help="onnxruntime intra-op threads."),
) -> None:
    """Print each keyword heard in RECORDING with its time stamp (seconds) and score."""
    from tinyai.errors import DataError
    from tinyai.paths import why_not_a_file
    from tinyai.runtime import load_artifact
    from tinyai.runtime.stream import ListenConfig
    from tinyai.runtime.stream import listen as run_listen

    config = ListenConfig(hop=hop, smooth=smooth, threshold=threshold, refractory=refractory)
    predictor = load_artifact(artifact, threads=threads)
    if why := why_not_a_file(recording):
        raise DataError(f"recording {recording} {why}; give a 16 kHz mono wav file")
    detections = run_listen(predictor, recording, config)
    if as_json:
        typer.echo(json.dumps([d.to_dict() for d in detections], indent=2))
        return
    for d in detections:
        typer.echo(f"{d.time:8.2f} s\t{d.keyword}\t{d.score:.3f}")


def register(app: typer.Typer) -> None:
    app.command()(listen)
