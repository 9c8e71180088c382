"""`load_model` for every kind of model directory, `save_model` for tinyai's own.

A tinyai model directory is defined in one place, `tinyai.models.dir` (what it holds, how
it is written, rebuilt and checked); this module only dispatches on the directory's kind.
"""

from __future__ import annotations

import os

from torch import nn

from tinyai.errors import ModelError
from tinyai.models import hf
from tinyai.models.dir import CONFIG, is_model_dir, load_model_dir, save_model, unknown_files
from tinyai.models.heads import HFSequenceClassifier, HFSequenceClassifierConfig, SentenceEncoder

__all__ = ["is_model_dir", "load_model", "save_model", "unknown_files"]


def load_model(name_or_dir: str | os.PathLike[str], into: nn.Module | None = None) -> nn.Module:
    """A model in eval mode from a short name (``minilm-l6``), a HF dir or a tinyai model dir.

    A sentence-transformers dir loads as a `SentenceEncoder` with its pooling, a HF
    ``*ForSequenceClassification`` dir as an `HFSequenceClassifier`, any other HF encoder as a
    mean-pooled `SentenceEncoder` without normalization (use `load_encoder` for the raw model).
    A directory of your own nn.Module class loads into an instance you build,
    ``load_model(DIR, into=Net(...))`` (the directory's code is never imported), and only so.
    """
    path = hf.resolve(name_or_dir)
    kind = hf.dir_kind(path)
    if kind == "tinyai":
        return load_model_dir(path, into=into)
    if into is not None:
        raise ModelError(f"{path} is a Hugging Face model directory; into= loads a directory "
                         f"saved from your own nn.Module: load_model({str(path)!r})")
    if kind == "sentence-transformers":
        return SentenceEncoder(hf.load_encoder(path), **hf.sentence_transformers_head(path)).eval()
    architectures = hf.read_json(path / CONFIG).get("architectures") or []
    if any(a.endswith("ForSequenceClassification") for a in architectures):
        model = hf.load_encoder(path, HFSequenceClassifierConfig.auto_class)
        return HFSequenceClassifier(model).eval()
    return SentenceEncoder(hf.load_encoder(path), pooling="mean", normalize=False).eval()
