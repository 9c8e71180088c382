"""What the runtime needs besides the graph: preprocessing settings and their files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError

if TYPE_CHECKING:
    import onnx

TOKENIZER_DIR = "tokenizer"
# tokenizer.json is what the runtime reads (tokenizers library); the others let a user load
# the same tokenizer with transformers.AutoTokenizer from the artifact.
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def write_preprocessing(task: Any, out_dir: Path, inputs: dict[str, Any]) -> dict[str, Any]:
    """The manifest's ``preprocessing`` section; copies tokenizer files for text tasks."""
    settings = dict(task.preprocessing())
    kind = settings.get("type")
    if kind == "text":
        settings = _copy_tokenizer(task, settings, out_dir)
    if "pixel_values" in inputs:  # images from files are resized to what the model saw
        height, width = inputs["pixel_values"].shape[-2:]
        settings.setdefault("height", int(height))
        settings.setdefault("width", int(width))
    if "features" in inputs:
        settings.setdefault("frames", int(inputs["features"].shape[1]))
    return settings


def _copy_tokenizer(task: Any, settings: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    target = out_dir / TOKENIZER_DIR
    target.mkdir(parents=True, exist_ok=True)
    source = settings.pop("tokenizer_dir", "") or ""
    if source:  # (Path("") would read the working directory's files)
        _copy_tokenizer_files(Path(source), target)
    if not (target / "tokenizer.json").is_file():
        # A tokenizer object without a tokenizer.json on disk: save its fast backend.
        backend = getattr(getattr(task, "tokenizer", None), "backend_tokenizer", None)
        if backend is None:
            raise ModelError(
                "text export needs a fast tokenizer (tokenizer.json); pass a Hugging Face "
                "fast tokenizer or a directory containing tokenizer.json to the task"
            )
        backend.save(str(target / "tokenizer.json"), pretty=False)
    tokenizer = task.tokenizer
    settings.update(
        {
            "tokenizer": f"{TOKENIZER_DIR}/tokenizer.json",
            "pad_token_id": int(tokenizer.pad_token_id or 0),
            "lowercase": bool(getattr(tokenizer, "do_lower_case", False)),
        }
    )
    return settings


def _copy_tokenizer_files(source: Path, target: Path) -> None:
    for name in TOKENIZER_FILES:
        if name == "tokenizer.json" and (source / name).is_file():
            _write_compact_json(source / name, target / name)
        elif (source / name).is_file():
            shutil.copyfile(source / name, target / name)


def _write_compact_json(source: Path, target: Path) -> None:
    """`source` re-written without indentation: transformers saves tokenizer.json indented
    (a third larger), so an artifact exported from a saved model directory (a resumed run)
    would otherwise carry more bytes than the same artifact exported in one go."""
    data = json.loads(source.read_text(encoding="utf-8"))
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    target.write_text(text, encoding="utf-8")


def io_spec(proto: onnx.ModelProto) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Names, element types and shapes (ints or axis names) of the graph's inputs/outputs."""
    from onnx import helper

    def describe(value: Any) -> dict[str, Any]:
        tensor = value.type.tensor_type
        shape = [
            d.dim_param or (d.dim_value if d.HasField("dim_value") else None)
            for d in tensor.shape.dim
        ]
        dtype = helper.tensor_dtype_to_np_dtype(tensor.elem_type).name
        return {"name": value.name, "dtype": dtype, "shape": shape}

    initializers = {i.name for i in proto.graph.initializer}
    inputs = [describe(v) for v in proto.graph.input if v.name not in initializers]
    return inputs, [describe(v) for v in proto.graph.output]
