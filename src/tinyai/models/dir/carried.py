"""What a model directory carries besides the model: its tokenizer and its history.

`load_model` remembers both on the model it returns, and `save_model` writes them back when
the caller passes none, so load -> (prune, quantize, ...) -> save keeps a reduced-vocabulary
student's own tokenizer, and never swaps in the tokenizer of the directory the encoder was
first built from.
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


def remember(model: nn.Module, path: Path) -> None:
    """Note on `model` the tokenizer and history of the directory it was loaded from."""
    object.__setattr__(model, TOKENIZER_ATTR, str(path) if hf.has_tokenizer(path) else "")
    object.__setattr__(model, HISTORY_ATTR, read_history(path))


def write_tokenizer(model: nn.Module, out: Path, tokenizer: Any) -> None:
    """Store `tokenizer` (an object or a directory), else the one `model` came with."""
    if tokenizer is None:
        tokenizer = _remembered_tokenizer(model)
    if tokenizer is None:
        return
    if isinstance(tokenizer, str | os.PathLike):
        tokenizer = hf.load_tokenizer(tokenizer)
    _check_vocabulary(model, tokenizer)
    tokenizer.save_pretrained(str(out))


def _remembered_tokenizer(model: nn.Module) -> str | None:
    source = getattr(model, TOKENIZER_ATTR, None)
    if source is not None:
        return source or None
    # Heads built from a local directory (load_model("minilm-l6")) carry its tokenizer along.
    encoder = getattr(model, "encoder", None)
    origin = getattr(getattr(encoder, "config", None), "_name_or_path", "") or ""
    return origin if origin and Path(origin).is_dir() and hf.has_tokenizer(Path(origin)) else None


def _check_vocabulary(model: nn.Module, tokenizer: Any) -> None:
    """A token id the embedding has no row for fails only later, deep inside a forward."""
    encoder = getattr(model, "encoder", None)
    get = getattr(encoder, "get_input_embeddings", None)
    embedding = get() if callable(get) else None
    if embedding is None:
        return
    rows = getattr(embedding, "num_embeddings", None)
    if rows is None:  # a factorized embedding: ids index its rows table
        rows = getattr(getattr(embedding, "rows", None), "num_embeddings", None)
    if rows is not None and len(tokenizer) > rows:
        raise ModelError(
            f"the tokenizer has {len(tokenizer):,} tokens but the model's embedding only "
            f"{rows:,} rows; pass the tokenizer the model was trained with (tokenizer=...)"
        )


def write_history(model: nn.Module, out: Path, history: list[Any] | None) -> None:
    """history.json from `history` (Steps or their dicts), else the steps `model` came with."""
    steps = getattr(model, HISTORY_ATTR, []) if history is None else history
    steps = [s if isinstance(s, Step) else Step.from_dict(s) for s in steps]
    if steps:
        (out / HISTORY_FILE).write_text(json.dumps(history_dicts(steps), indent=1) + "\n")
