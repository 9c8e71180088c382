"""`tinyai app ARTIFACT -o DIR`: a static web page that suggests words as you type.

The page runs the character-model artifact in the browser with onnxruntime-web (WebAssembly),
offline: everything it loads is in DIR.

* ``index.html`` and ``app.js``: a text box and a strip of three suggestions, updated as the
  user types; tapping one completes the word.
* ``suggest.js``: the runtime's state handling (`tinyai.runtime.charlm`: the state fed back,
  the attention cache restarted where the text's length says) and its exact best-first word
  search (`tinyai.runtime.suggest`), in JavaScript, so the page suggests what
  ``tinyai predict ARTIFACT TEXT --suggest 3`` prints.
* ``tinyai-app.json``: the vocabulary, which characters belong to words (computed here, so the
  page never re-derives Python's rule), the graph's inputs and outputs, the search limits.
* ``model.onnx``: the artifact's graph as a plain ONNX file (packed weights decoded back in).
* ``ort.wasm.bundle.min.mjs`` and ``ort-wasm-simd-threaded.wasm``: onnxruntime-web
  `ORT_WEB_VERSION`, from the npm package that ``scripts/setup.sh`` fetches into the cache
  (``$TINYAI_ORT_WEB`` names another folder holding the two files).

Serve DIR over http (module scripts and fetch do not work from file://), e.g.
``python -m http.server -d DIR``, and open it. The page runs one WebAssembly thread, so it
needs no cross-origin isolation headers.
"""

from __future__ import annotations

import json
import os
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from tinyai.errors import ArtifactError, TinyAIError

ORT_WEB_VERSION = "1.31.1"
ORT_WEB_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
TEMPLATES = ("index.html", "app.js", "suggest.js")
CONFIG_NAME = "tinyai-app.json"  # also marks DIR as a tinyai app, which a re-run may replace
MODEL_NAME = "model.onnx"
APP_FILES = (*TEMPLATES, CONFIG_NAME, MODEL_NAME, *ORT_WEB_FILES)


class AppError(TinyAIError):
    """The web app cannot be written (wrong artifact, onnxruntime-web missing, bad folder)."""


def ort_web_dir() -> Path:
    """Where onnxruntime-web's two files are: $TINYAI_ORT_WEB, else the cache setup.sh fills."""
    env = os.environ.get("TINYAI_ORT_WEB")
    if env:
        return Path(env).expanduser()
    from tinyai.paths import cache_dir

    return cache_dir("onnxruntime-web", ORT_WEB_VERSION)


def write_app(artifact: str | Path, out: str | Path, force: bool = False) -> Path:
    """Write the web app for the char-LM `artifact` to `out` (new, empty or a previous app)."""
    from tinyai import atomic
    from tinyai.runtime import load_artifact
    from tinyai.runtime.suggest import MAX_EXPANSIONS, MAX_WORD_CHARS, is_word_char

    predictor = load_artifact(artifact)
    if predictor.kind != "char-lm":
        raise AppError(
            f"{artifact} holds a model of kind {predictor.kind}; tinyai app needs a character "
            "model (kind char-lm), e.g. one exported from a CharLM or CharTransformer"
        )
    out = Path(out)
    atomic.check_replaceable(out, _unknown_files, force, AppError)
    runtime = _ort_web_files()
    vocab = predictor.inputs.vocab
    config = {
        "tinyai_app": 1,
        "onnxruntime_web": ORT_WEB_VERSION,
        "task": predictor.task,
        "vocab": vocab,
        "word_chars": [is_word_char(ch) for ch in vocab],
        "seq_len": predictor.inputs.seq_len,
        "inputs": predictor.manifest["inputs"],
        "outputs": [spec["name"] for spec in predictor.manifest["outputs"]],
        "k": 3,
        "max_chars": MAX_WORD_CHARS,
        "max_expansions": MAX_EXPANSIONS,
    }
    staging = atomic.staging_dir(out)
    try:
        for name in TEMPLATES:
            (staging / name).write_bytes(resources.files(__name__).joinpath(name).read_bytes())
        for path in runtime:
            shutil.copyfile(path, staging / path.name)
        (staging / MODEL_NAME).write_bytes(_plain_model(predictor.root, predictor.manifest))
        (staging / CONFIG_NAME).write_text(json.dumps(config, indent=1) + "\n")
        atomic.replace_dir(staging, out, _unknown_files, force, AppError)
    finally:
        if staging.exists():
            atomic.remove_tree(staging)
    return out


def _ort_web_files() -> list[Path]:
    folder = ort_web_dir()
    files = [folder / name for name in ORT_WEB_FILES]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        raise AppError(
            f"onnxruntime-web {ORT_WEB_VERSION} is not in {folder} (missing {missing[0]}); run "
            "scripts/setup.sh with npm installed, or set TINYAI_ORT_WEB to a folder with "
            f"{' and '.join(ORT_WEB_FILES)}"
        )
    return files


def _unknown_files(folder: Path) -> list[str] | None:
    """None for a folder that is not a tinyai app; else what in it the app did not write."""
    if not (folder / CONFIG_NAME).is_file():
        return None
    return sorted(p.name for p in folder.iterdir() if p.name not in APP_FILES)


def _plain_model(root: Path, manifest: dict[str, Any]) -> bytes:
    """model.onnx with any packed weights decoded back into it: the browser has no decoder."""
    data = (root / manifest["model"]["file"]).read_bytes()
    packed = manifest.get("packed_weights")
    if not packed:
        return data
    import onnx
    from onnx import numpy_helper

    from tinyai.runtime.session import read_packed_weights

    proto = onnx.load_from_string(data)
    tensors = read_packed_weights(root, packed)
    for init in proto.graph.initializer:
        if init.name in tensors:
            init.CopyFrom(numpy_helper.from_array(tensors[init.name], init.name))
    if any(init.external_data for init in proto.graph.initializer):
        raise ArtifactError("model.onnx refers to weights the artifact does not hold; re-export")
    return proto.SerializeToString()
