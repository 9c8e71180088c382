"""The tinyai model directory: the one place that defines how a model is saved and loaded.

A directory `save_model` writes holds, and nothing else:

- ``config.json``: the config of the *base* architecture (`tinyai.config.Config.to_dict`,
  ``_type`` names it; only allow-listed config types load);
- ``encoder/config.json``: for heads over a Hugging Face encoder, the encoder's HF config;
- ``structure.json``: format version, the structural changes since the base architecture as
  an ordered list of typed records (`records`), and the list of the directory's other files;
- ``model.safetensors``: the state dict, sparse tensors packed, tied tensors once (`weights`);
- the tokenizer files (text models), ``history.json`` (`tinyai.history`) and ``task.json``
  (the task it was fitted to, `carried`), when known.

Loading builds the base architecture, replays the records, resizes layers to the stored
shapes, and loads the state dict strictly; nothing is ever unpickled. Saving checks that this
rebuild gives exactly the model's state-dict keys, shapes and dtypes, so a directory that
saved is one that loads.

A user-written ``nn.Module`` (a class of the user's own code) is saved the same way, except
that its ``config.json`` only names the class (``_type`` ``user-module``, its module and
qualname), for people to read: nothing named in a directory is ever imported, so such a
directory loads only into an instance the caller builds, ``load_model(DIR, into=Net(...))``,
which takes the place of the base architecture. Saving checks the rebuild on a copy of the
model itself (the only instance of the class at hand) and refuses a layer of tinyai's that
no record rebuilds (a quantization prepared but not converted).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tinyai import atomic
from tinyai.config import Config
from tinyai.errors import ConfigError, ModelError
from tinyai.models import hf
from tinyai.models.base import build_model, is_tinyai_model
from tinyai.models.dir import carried, records
from tinyai.models.dir.records import (
    BASE,
    HOLDS,
    LAYERS,
    STRUCTURE,
    RecordType,
    register_record_type,
)
from tinyai.models.dir.weights import WEIGHTS, read_weights, write_weights
from tinyai.models.fit import fit_to_shapes
from tinyai.models.heads import HEAD_TYPES, EncoderHeadConfig, is_encoder_head

CONFIG = "config.json"
ENCODER_DIR = "encoder"
# config.json's _type for a user-written module: never a config type, so nothing builds it.
USER_MODULE = "user-module"
# Packages whose classes are not "the user's own": a bare torch layer or Hugging Face model
# keeps the refusal below (a HF encoder belongs in a head), tinyai's own have records.
_LIBRARY_PACKAGES = ("torch", "transformers", "tinyai")

__all__ = [
    "BASE",
    "CONFIG",
    "ENCODER_DIR",
    "HOLDS",
    "LAYERS",
    "STRUCTURE",
    "USER_MODULE",
    "WEIGHTS",
    "RecordType",
    "is_model_dir",
    "is_user_module",
    "load_model_dir",
    "register_record_type",
    "save_model",
    "unknown_files",
    "user_module_class",
]


def save_model(
    model: nn.Module,
    out_dir: str | os.PathLike[str],
    tokenizer: Any = None,
    history: list[Any] | None = None,
    task: Any = None,
) -> Path:
    """Write `model` to `out_dir`; returns it.

    `out_dir` may be new or empty, or a model directory, which is replaced as a whole once
    the new one is complete. Into any other directory the model's files are added, provided
    none of them exists there yet: nothing tinyai did not write is ever replaced.
    `tokenizer` (object or directory) is stored with text models; without one, the tokenizer
    the model was loaded with is kept. `history` (`tinyai.history.Step` list) is written to
    history.json; without it, the history the model was loaded with is kept. `task` (a Task
    or built-in task name) is recorded in task.json as what the model was fitted to; without
    it, the task the model was loaded with is kept.
    A user-written module (see the module docstring) loads back with ``into=``.
    """
    if not (is_encoder_head(model) or is_tinyai_model(model) or is_user_module(model)):
        raise ModelError(
            f"save_model saves tinyai models (reference models, encoder heads) and your own "
            f"nn.Module classes, not {type(model).__module__}.{type(model).__name__}; wrap a "
            "HF encoder in TextClassifier or SentenceEncoder"
        )
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ModelError(f"{out} is a file; choose a directory to save the model in")
    # atomic's staging sibling: a save killed midway leaves one the next save removes.
    staging = atomic.staging_dir(out)
    try:
        _write(model, staging, tokenizer, history, task)
        _place(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _write(model: nn.Module, out: Path, tokenizer: Any, history: list[Any] | None,
           task: Any = None) -> None:
    found = records.capture(model)
    user = is_user_module(model)
    config = _user_config(model) if user else _config_dict(model, found)
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    if is_encoder_head(model):
        (out / ENCODER_DIR).mkdir()
        model.encoder.config.to_json_file(str(out / ENCODER_DIR / CONFIG))  # type: ignore[union-attr]
    carried.write_tokenizer(model, out, tokenizer)
    carried.write_history(model, out, history)
    carried.write_task(model, out, task)
    state = model.state_dict()
    if user:
        _check_user_rebuilds(model, found, state, str(out / STRUCTURE))
    else:
        rebuilt = _rebuild(out, found, state)
        absent = _absent_modules(model, rebuilt)
        if absent:
            found += absent
            rebuilt = _rebuild(out, found, state)
        _check_rebuilds(model, rebuilt, state)
    write_weights(state, out / WEIGHTS)
    files = [p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()]
    records.write_structure(out, found, files)


def _config_dict(model: nn.Module, found: list[records.Record]) -> dict[str, Any]:
    """The config the rebuild starts from: the base architecture of the first record, or
    the model's own config (synced to its current widths where nothing else records them)."""
    if is_encoder_head(model):
        return model.head_config.to_dict()  # type: ignore[union-attr,operator]
    base = records.base_config(found)
    if base is not None:
        return base
    sync = getattr(model, "sync_config", None)
    # Layers rebuilt from metadata (quantized) keep their widths there; sync_config reads
    # float layers only, so it must not run over them.
    rebuilt = any(hasattr(m, "to_meta") for m in model.modules())
    config = sync() if callable(sync) and not rebuilt else model.config
    return config.to_dict()  # type: ignore[union-attr,operator]


def is_user_module(model: Any) -> bool:
    """An nn.Module of a class the user wrote: neither tinyai's nor torch's nor Hugging
    Face's own (those are saved by their config, or belong in a head)."""
    if not isinstance(model, nn.Module) or is_tinyai_model(model) or is_encoder_head(model):
        return False
    return type(model).__module__.split(".")[0] not in _LIBRARY_PACKAGES


def _class_name(model: nn.Module) -> str:
    return f"{type(model).__module__}.{type(model).__qualname__}"


def _user_config(model: nn.Module) -> dict[str, Any]:
    """config.json of a user-written module: its class, named for people to read only."""
    return {"_type": USER_MODULE, "module": type(model).__module__,
            "qualname": type(model).__qualname__}


def user_module_class(path: str | os.PathLike[str]) -> str | None:
    """``module.qualname`` of the user-written module a model directory holds (read as text,
    never imported), or None for any other directory."""
    named = _user_class(Path(path))
    return None if named is None else ".".join(named)


def _user_class(path: Path) -> tuple[str, str] | None:
    """(module, qualname) from a user-written module's config.json, else None."""
    config_file = path / CONFIG
    if not config_file.is_file():
        return None
    config = hf.read_json(config_file)
    if not isinstance(config, dict) or config.get("_type") != USER_MODULE:
        return None
    return str(config.get("module")), str(config.get("qualname"))


def _check_user_rebuilds(
    model: nn.Module, found: list[records.Record], state: dict[str, torch.Tensor], where: str
) -> None:
    """Rebuild a copy of `model` the way `load_model(DIR, into=...)` does and check it: the
    records that rebuild layers replace them in the copy, so a tinyai layer the copy still
    holds as it was is one no record describes, which an instance of the user's class
    would not get on load."""
    from tinyai.prune.masks import copy_model  # a deepcopy that works on masked models

    twin = copy_model(model)
    before = list(twin.modules())  # held, so that no replaced module's id is reused
    rebuilt = _rebuild_into(twin, found, state, where)
    kept = {id(m) for m in before}
    stale = [name for name, m in rebuilt.named_modules()
             if id(m) in kept and type(m).__module__.split(".")[0] == "tinyai"]
    if stale:
        first = rebuilt.get_submodule(stale[0])
        raise ModelError(
            f"cannot save {type(model).__name__}: its layer {stale[0]!r} "
            f"({type(first).__name__}) would not be rebuilt on load; finish the technique "
            "first (quantize step='convert', WeightSharing step='convert') and save again"
        )
    _check_rebuilds(model, rebuilt, state)


def _absent_modules(model: nn.Module, rebuilt: nn.Module) -> list[records.Record]:
    """The record of submodules the base architecture builds but `model` holds as None (a
    Hugging Face encoder made with add_pooling_layer=False, a student without a pooler)."""
    absent = []
    for name, _ in rebuilt.named_modules():
        parent_name, _, child = name.rpartition(".")
        try:
            parent = model.get_submodule(parent_name) if parent_name else model
        except AttributeError:
            continue
        if name and hasattr(parent, child) and getattr(parent, child) is None:
            absent.append(name)
    return [{"type": records.ABSENT, "modules": absent}] if absent else []


def _check_rebuilds(
    model: nn.Module, rebuilt: nn.Module, state: dict[str, torch.Tensor]
) -> None:
    """Refuse to write what `load_model` could not rebuild (a prepared-but-not-converted
    quantization, a module type no record describes)."""
    want = {k: (tuple(v.shape), v.dtype) for k, v in state.items()}
    got = {k: (tuple(v.shape), v.dtype) for k, v in rebuilt.state_dict().items()}
    if want != got:
        wrong = sorted(k for k in set(want) | set(got) if want.get(k) != got.get(k))
        raise ModelError(
            f"cannot save {type(model).__name__}: {len(wrong)} state entries (first: "
            f"{wrong[0]!r}) would not be rebuilt on load; finish the technique first "
            "(quantize step='convert', WeightSharing step='convert') and save again"
        )


def _place(staging: Path, out: Path) -> None:
    """Move the finished directory to `out` (see `save_model` for what `out` may hold)."""
    if out.exists() and any(out.iterdir()) and not is_model_dir(out):
        clash = sorted(p.name for p in staging.iterdir() if (out / p.name).exists())
        if clash:
            raise ModelError(
                f"{out} is not a tinyai model directory and already holds {clash[0]}; "
                "choose a new or empty directory"
            )
        for entry in staging.iterdir():
            entry.rename(out / entry.name)
        return
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)  # the previous model stays whole until the new one is in place
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def is_model_dir(path: str | os.PathLike[str]) -> bool:
    """True when `path` holds exactly what `save_model` writes: its structure.json lists
    every other file, and there is no file it does not list."""
    root = Path(path)
    if not (root / STRUCTURE).is_file():
        return False
    try:
        listed = set(records.read_structure(root)["files"]) | {STRUCTURE}
    except ModelError:
        return False
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if not p.is_dir()}
    return on_disk == listed and {CONFIG, WEIGHTS} <= listed


def unknown_files(path: Path) -> list[str] | None:
    """For `tinyai.atomic.replace_dir`: None unless `path` is a tinyai model directory (it
    has the structure.json `save_model` writes), else the files in it that file does not
    list (what the user added)."""
    if not (path / STRUCTURE).is_file():
        return None
    try:
        listed = set(records.read_structure(path)["files"]) | {STRUCTURE}
    except ModelError:
        return None
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*") if not p.is_dir()}
    return sorted(on_disk - listed)


def load_model_dir(path: Path, into: nn.Module | None = None) -> nn.Module:
    """The model in the tinyai model directory `path`, in eval mode.

    `into`: for a directory of a user-written module, an instance of its class (as its
    constructor builds it, or already in the saved structure), which is reshaped and filled
    in place and returned."""
    _check_into(path, into)
    found = _read_records(path)
    weights = path / WEIGHTS
    if not weights.is_file():
        raise ModelError(f"{path} has no {WEIGHTS}; save the model again with tinyai.save_model")
    state = read_weights(weights)
    if into is not None:
        model = _rebuild_into(into, found, state, str(path / STRUCTURE))
    else:
        model = _rebuild(path, found, state)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0]
        raise ModelError(
            f"{weights} does not match {CONFIG} and {STRUCTURE}: {first_line}"
        ) from None
    carried.remember(model, path)
    return model.eval()


def _check_into(path: Path, into: nn.Module | None) -> None:
    """A user-written module's directory needs `into`, of its class; any other refuses it."""
    named = _user_class(path)
    if named is None:
        if into is not None:
            raise ModelError(f"{path} holds a tinyai model, not a user-written nn.Module; load "
                             f"it without into=: load_model({str(path)!r})")
        return
    qualname = named[1]
    short = qualname.rpartition(".")[2]  # a class defined in a function: f.<locals>.Net
    if into is None:
        raise ModelError(f"{path} holds a user-written nn.Module ({'.'.join(named)}); load it "
                         f"into an instance: load_model({str(path)!r}, into={short}(...))")
    if not isinstance(into, nn.Module):
        raise ModelError(f"into= takes an nn.Module (an instance of {short}), got "
                         f"{type(into).__name__}")
    # The qualname only: the same class is __main__.Net in a script and pkg.Net imported.
    if type(into).__qualname__ != qualname:
        raise ModelError(f"{path} holds a {'.'.join(named)}, not a {_class_name(into)}; load "
                         f"it into an instance of {short}")


def _read_records(path: Path) -> list[records.Record]:
    if (path / STRUCTURE).is_file():
        return list(records.read_structure(path)["records"])
    if (path / "pruning.json").is_file():
        raise ModelError(
            f"{path} was saved by an older tinyai (pruning.json, no {STRUCTURE}); "
            "re-create it by running the step that wrote it again"
        )
    return []  # config + weights only: an unchanged architecture, which this format reads


def _rebuild(path: Path, found: list[records.Record], state: dict[str, torch.Tensor]) -> nn.Module:
    """A model of the saved structure, its tensors in the saved dtypes (values not loaded)."""
    try:
        config = Config.from_dict(hf.read_json(path / CONFIG))
    except ConfigError as exc:
        raise ModelError(f"{path / CONFIG}: {exc}") from None
    if isinstance(config, EncoderHeadConfig):
        encoder = hf.encoder_from_config_dir(path / ENCODER_DIR, type(config).auto_class)
        model = HEAD_TYPES[type(config)].from_config(config, encoder)  # type: ignore[attr-defined]
    else:
        model = build_model(config)
    return _restructure(model, found, state, str(path / STRUCTURE))


def _rebuild_into(
    into: nn.Module, found: list[records.Record], state: dict[str, torch.Tensor], where: str
) -> nn.Module:
    """`into` (a user-written module) in the saved structure. A BASE record it already
    carries (an instance pruned by the same plan) is not replayed: a plan applies once; the
    later phases rebuild layers and placeholders, so replaying them again is harmless."""
    carried_already = {_as_json(r) for r in records.capture(into)}
    base = [r for r in found if _as_json(r) not in carried_already]
    return _restructure(into, found, state, where, base)


def _as_json(record: records.Record) -> str:
    """A record as it reads back from structure.json (tuples are lists there)."""
    return json.dumps(record, sort_keys=True)


def _restructure(
    model: nn.Module,
    found: list[records.Record],
    state: dict[str, torch.Tensor],
    where: str,
    base: list[records.Record] | None = None,
) -> nn.Module:
    """Replay the records on `model` (of BASE phase: those of `base`, default all), fit its
    layers to the stored shapes, and give its tensors the stored dtypes and order (values
    not loaded)."""
    records.replay(model, found if base is None else base, BASE, where)
    fit_to_shapes(model, {k: tuple(v.shape) for k, v in state.items()})
    records.replay(model, found, LAYERS, where)
    records.replay(model, found, HOLDS, where)
    _match_dtypes(model, state)
    _match_order(model, list(state))
    return model


def _match_order(model: nn.Module, keys: list[str]) -> None:
    """Register each module's parameters and buffers in the saved order (a parametrization
    removed by Deep Compression re-registers `weight` after `bias`): the order decides the
    ONNX initializers' order and which optimizer state belongs to which parameter."""
    rank = {key: i for i, key in enumerate(keys)}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        for table in (module._parameters, module._buffers):
            ordered = sorted(table, key=lambda k: rank.get(prefix + k, len(rank)))
            items = {k: table[k] for k in ordered}
            table.clear()
            table.update(items)


def _match_dtypes(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Give each parameter and buffer its stored dtype (a half-precision checkpoint stays
    half; load_state_dict would cast into the freshly built float32 tensors)."""
    for key, tensor in model.state_dict(keep_vars=True).items():
        stored = state.get(key)
        if stored is not None and stored.dtype != tensor.dtype:
            tensor.data = tensor.data.to(stored.dtype)
