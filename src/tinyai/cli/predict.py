"""`tinyai predict ARTIFACT INPUT...`: run an artifact on sentences, wav files or images.

Runs on the torch-free runtime. Inputs come from the arguments or, when there are none,
from stdin, one per line. Sentence-pair models take "first<TAB>second". A character model
continues each input (``--complete N``, greedy or sampled) or suggests completions of the
word being typed at its end (``--suggest K``):

    tinyai predict ARTIFACT "ROMEO:" --complete 40 --temperature 0.8 --top-k 5 --seed 1
    tinyai predict ARTIFACT "to be or not to b" --suggest 3
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer


def predict(
    artifact: Path = typer.Argument(..., help="Artifact directory written by tinyai export."),
    inputs: list[str] | None = typer.Argument(
        None, help="Sentences, wav files or image files (default: stdin, one per line)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON object per input, as a JSON list."
    ),
    threads: int = typer.Option(1, min=1, help="onnxruntime intra-op threads."),
    top_k: int | None = typer.Option(
        None,
        min=1,  # 0 would mean nothing to list; a char LM samples among all when it is unset
        help="Classification: list the top K labels (default 1). Character LM: sample among "
        "the K most likely characters (default: all).",
    ),
    complete: int | None = typer.Option(
        None, min=1, help="Character LM: characters to generate (default 200)."
    ),
    suggest: int | None = typer.Option(
        None, min=1, help="Character LM: print K completions of the word being typed instead."
    ),
    temperature: float = typer.Option(0.0, min=0.0, help="Character LM: 0 = greedy, else sample."),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Character LM: sampling seed."),
) -> None:
    """Predict with an artifact: label and score, score, embedding, completion or suggestions."""
    import math

    from tinyai.errors import ConfigError, DataError
    from tinyai.runtime import load_artifact

    if not math.isfinite(temperature):
        raise ConfigError(f"--temperature must be a finite number >= 0, got {temperature}")
    predictor = load_artifact(artifact, threads=threads)
    items = list(inputs or []) or _stdin_lines()
    if not items:
        raise DataError("nothing to predict: pass inputs as arguments or on stdin, one per line")
    raw = _parse(items, predictor.manifest["preprocessing"])
    if (complete or suggest) and predictor.kind != "char-lm":
        raise DataError("--complete and --suggest need a character-model artifact")
    if suggest:
        results = [{"suggestions": predictor.suggest(text, k=suggest)} for text in raw]
    elif predictor.kind == "char-lm":
        options = {"n": complete or 200, "temperature": temperature, "top_k": top_k or 0}
        results = predictor.predict(raw, seed=seed, **options)
    else:
        results = predictor.predict(raw, top_k=top_k or 1)
    for item, result in zip(items, results, strict=True):
        result.setdefault("input", item)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    for result in results:
        typer.echo(_line(result, top_k or 1))


def _stdin_lines() -> list[str]:
    """The non-blank lines of stdin, which must be UTF-8 text."""
    from tinyai.errors import DataError

    data = sys.stdin.buffer.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"stdin is not UTF-8 text (byte {data[exc.start]:#04x} at offset "
                        f"{exc.start}); predict reads one input per line of text") from None
    return [line.rstrip("\r") for line in text.split("\n") if line.strip()]


def _parse(items: list[str], settings: dict[str, Any]) -> list[Any]:
    from tinyai.errors import DataError

    if settings["type"] == "text" and settings.get("text_pair"):
        pairs = [tuple(item.split("\t", 1)) for item in items]
        if any(len(p) != 2 for p in pairs):
            raise DataError('this model scores sentence pairs: write each as "first<TAB>second"')
        return pairs
    if settings["type"] in ("image", "audio"):
        from tinyai.paths import why_not_a_file

        for item in items:
            if why := why_not_a_file(Path(item)):
                kind = "wav" if settings["type"] == "audio" else "image"
                raise DataError(f"input file {item} {why}; give {kind} files")
    return items


def _line(result: dict[str, Any], top_k: int) -> str:
    if "label" in result:
        if top_k > 1:
            return (
                result["input"]
                + "\t"
                + ", ".join(f"{t['label']} {t['score']:.4f}" for t in result["top"])
            )
        return f"{result['label']}\t{result['score']:.4f}\t{result['input']}"
    if "embedding" in result:
        vec = result["embedding"]
        head = ", ".join(f"{v:.4f}" for v in vec[:4])
        return f"[{head}, ...] ({len(vec)} dims)\t{result['input']}"
    if "completion" in result:
        return result["prompt"] + result["completion"]
    if "suggestions" in result:
        return "\t".join(result["suggestions"])
    return f"{result['score']:.4f}\t{result['input']}"


def register(app: typer.Typer) -> None:
    app.command()(predict)
