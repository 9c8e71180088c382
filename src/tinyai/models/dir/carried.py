"""What a model directory carries besides the model: its tokenizer, its history, and the
task it was fitted to.

`load_model` remembers all three on the model it returns, and `save_model` writes them back
when the caller passes none, so load -> (prune, quantize, ...) -> save keeps a reduced-
vocabulary student's own tokenizer, and never swaps in the tokenizer of the directory the
encoder was first built from. The task record (``task.json``: name, kind, label names, input
shapes, and the data spec of the user's own data) lets `tinyai export` / `evaluate` refuse a
task the model was not fitted to even when its label count happens to match.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError
from tinyai.history import HISTORY_FILE, Step, history_dicts, read_history
from tinyai.models import hf

if TYPE_CHECKING:
    from torch import nn

# On the model: the directory its tokenizer was loaded from, or "" when it was loaded from a
# tinyai directory without one (then nothing is guessed from the encoder's origin).
TOKENIZER_ATTR = "tinyai_tokenizer_dir"
HISTORY_ATTR = "tinyai_history"
# On the model: the task record of the directory it was loaded from (None: it has none).
TASK_ATTR = "tinyai_task"
TASK_FILE = "task.json"


def remember(model: nn.Module, path: Path) -> None:
    """Note on `model` the tokenizer and history of the directory it was loaded from."""
    object.__setattr__(model, TOKENIZER_ATTR, str(path) if hf.has_tokenizer(path) else "")
    object.__setattr__(model, HISTORY_ATTR, read_history(path))
    object.__setattr__(model, TASK_ATTR, read_task(path))


def write_tokenizer(model: nn.Module, out: Path, tokenizer: Any) -> None:
    """Store `tokenizer` (an object or a directory), else the one `model` came with.

    A tokenizer with more tokens than the model's embedding has rows is refused; one that
    is only guessed (the directory the encoder was first loaded from) is then left out.
    """
    remembered = getattr(model, TOKENIZER_ATTR, None)
    guessed = tokenizer is None and remembered is None
    if tokenizer is None:
        tokenizer = _origin_tokenizer(model) if remembered is None else remembered or None
    if tokenizer is None:
        return
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = hf.load_tokenizer(tokenizer)
    rows = _embedding_rows(model)
    if rows is not None and len(tokenizer) > rows:
        if guessed:
            return  # e.g. a reduced-vocabulary student built from MiniLM, saved without one
        raise ModelError(
            f"the tokenizer has {len(tokenizer):,} tokens but the model's embedding only "
            f"{rows:,} rows; pass the tokenizer the model was trained with (tokenizer=...)"
        )
    tokenizer.save_pretrained(str(out))


def _origin_tokenizer(model: nn.Module) -> str | None:
    """The directory a head's encoder was loaded from (load_model("minilm-l6")), if it has a
    tokenizer."""
    encoder = getattr(model, "encoder", None)
    origin = getattr(getattr(encoder, "config", None), "_name_or_path", "") or ""
    return origin if origin and Path(origin).is_dir() and hf.has_tokenizer(Path(origin)) else None


def _embedding_rows(model: nn.Module) -> int | None:
    """Rows of a text model's input embedding: a token id past them fails deep in a forward."""
    get = getattr(getattr(model, "encoder", None), "get_input_embeddings", None)
    embedding = get() if callable(get) else None
    rows = getattr(embedding, "num_embeddings", None)
    if rows is None:  # a factorized embedding: ids index its rows table
        rows = getattr(getattr(embedding, "rows", None), "num_embeddings", None)
    return rows


def write_history(model: nn.Module, out: Path, history: list[Any] | None) -> None:
    """history.json from `history` (Steps or their dicts), else the steps `model` came with."""
    steps = getattr(model, HISTORY_ATTR, []) if history is None else history
    steps = [s if isinstance(s, Step) else Step.from_dict(s) for s in steps]
    if steps:
        (out / HISTORY_FILE).write_text(json.dumps(history_dicts(steps), indent=1) + "\n")


def write_task(model: nn.Module, out: Path, task: Any) -> None:
    """task.json from `task` (a Task or a built-in task name), else the record `model` came
    with; nothing when neither is known (a model built outside a task)."""
    record = task_record(task) if task is not None else fitted_task(model)
    if record is not None:
        (out / TASK_FILE).write_text(json.dumps(record, indent=1) + "\n")


def fitted_task(model: nn.Module) -> dict[str, Any] | None:
    """The task record `model` was loaded with (None for a model saved without one)."""
    return getattr(model, TASK_ATTR, None)


def task_record(task: Any) -> dict[str, Any]:
    """What a model fitted to `task` was fitted to (see the module docstring)."""
    from tinyai.tasks.spec import TaskSpec, build_task, replayable_spec

    if isinstance(task, str):
        task = build_task(TaskSpec(name=task))
    spec = replayable_spec(task)
    return {
        "name": task.name,
        "kind": task.kind,
        "label_names": task.label_names,
        "inputs": input_shapes(task),
        "data_spec": spec if spec and spec.get("data") else None,  # the user's own data only
    }


def input_shapes(task: Any) -> dict[str, list[int | None]]:
    """Input name -> shape without the batch axis. Token ids get None for their length: it
    follows the text and max_length, not the model."""
    shapes: dict[str, list[int | None]] = {}
    for name, value in task.example_inputs(1).items():
        dims: list[int | None] = [int(d) for d in value.shape[1:]]
        shapes[name] = dims if value.dtype.is_floating_point else [None] * len(dims)
    return shapes


def read_task(path: Path) -> dict[str, Any] | None:
    """The task record of the model directory `path`, None when it has none (saved before
    tinyai recorded it, or outside a task)."""
    file = path / TASK_FILE
    if not file.is_file():
        return None
    try:
        record = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(f"cannot read {file} ({type(exc).__name__}); save the model again") \
            from None
    if not isinstance(record, dict) or not {"name", "kind", "label_names", "inputs"} <= set(
            record):
        raise ModelError(f"{file} is not a task record; save the model again")
    return record
