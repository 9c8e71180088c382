"""``structure.json``: what changed since the base architecture, as typed records in order.

A technique package that changes a model's structure registers a `RecordType` at import:
`capture(model)` returns the records that describe the model's current state (called by
`save_model`), `replay(model, record)` applies one record to a freshly built model (called
by `load_model`, in the order the records were written). Records are plain JSON; a record
whose type is not registered is refused, so nothing but allow-listed code ever runs on load.

Replay happens in three phases (`RecordType.phase`), because each phase needs the one
before: `BASE` records reshape the base architecture (factorized embeddings; structured-
pruning plans, whose indices refer to the unpruned widths); then layers are fitted to the
stored shapes (`tinyai.models.fit`: widths no record names); then `LAYERS` records swap in
layers rebuilt from metadata (quantized layers) or take out absent ones; then `HOLDS` records
put held state on top (pruning masks kept through training).

Two record types belong to the model layer itself and are registered here:
``factorized-embeddings`` (ALBERT-style word embeddings of distilled students) and
``absent-modules`` (a Hugging Face layer left out, such as a pooler); a third,
``unfused-attention`` (torch's attention layers rebuilt from nn.Linear), is registered by
`tinyai.models.unfused`, which defines those layers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tinyai.errors import ModelError

if TYPE_CHECKING:
    from torch import nn

STRUCTURE = "structure.json"
FORMAT = "tinyai-model-dir"
FORMAT_VERSION = 1

BASE, LAYERS, HOLDS = 0, 1, 2

Record = dict[str, Any]


@dataclass(frozen=True)
class RecordType:
    """How one kind of structural change is saved and replayed.

    name: the record's ``type`` in structure.json; never rename one that has shipped.
    phase: BASE, LAYERS or HOLDS (see the module docstring).
    capture: records (without ``type``) describing `model` as it is now, [] if none apply.
    replay: apply one record to the model being rebuilt, in place.
    base_config: for BASE records, the tinyai config dict of the architecture the record
        applies to (saved as ``config.json``), or None when the model's own config is it.
    rank: order within the phase (lower first, then by name), for a record whose replay
        makes the modules another record of the same phase then replaces.
    """

    name: str
    phase: int
    capture: Callable[[nn.Module], list[Record]]
    replay: Callable[[nn.Module, Record], None]
    base_config: Callable[[Record], dict[str, Any] | None] | None = None
    rank: int = 0


_TYPES: dict[str, RecordType] = {}


def register_record_type(record_type: RecordType) -> None:
    """Allow `record_type` in structure.json; called once by the package that owns it."""
    known = _TYPES.get(record_type.name)
    if known is not None and known != record_type:
        raise ValueError(f"record type {record_type.name!r} is already registered")
    _TYPES[record_type.name] = record_type


def _replay_absent(model: nn.Module, record: Record) -> None:
    for name in record["modules"]:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, None)  # what Hugging Face models hold for a layer left out


def _capture_factorized(model: nn.Module) -> list[Record]:
    from tinyai.models.layers import FactorizedEmbedding

    found = [
        {"name": name, "vocab_size": m.rows.num_embeddings, "embedding_size":
         m.rows.embedding_dim, "hidden_size": m.project.out_features}
        for name, m in model.named_modules() if isinstance(m, FactorizedEmbedding)
    ]  # fmt: skip
    return [{"embeddings": found}] if found else []


def _replay_factorized(model: nn.Module, record: Record) -> None:
    from tinyai.models.layers import FactorizedEmbedding

    for entry in record["embeddings"]:
        parent_name, _, child = entry["name"].rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        sizes = (entry["vocab_size"], entry["embedding_size"], entry["hidden_size"])
        setattr(parent, child, FactorizedEmbedding(*(int(n) for n in sizes)))


# ALBERT-style factorized word embeddings (distilled students): no HF config field names E.
register_record_type(
    RecordType("factorized-embeddings", BASE, _capture_factorized, _replay_factorized)
)


# Submodules the base architecture has and the model does not: save_model finds them by
# comparing the model with the rebuilt base (so nothing captures them from the model alone).
ABSENT = "absent-modules"
register_record_type(RecordType(ABSENT, LAYERS, lambda model: [], _replay_absent))


def _types() -> dict[str, RecordType]:
    import tinyai.models.unfused  # noqa: F401  (registers the model layer's unfused-attention)
    from tinyai.registry import load_builtin_techniques

    load_builtin_techniques()  # the technique packages register their record types
    return _TYPES


def capture(model: nn.Module) -> list[Record]:
    """Every registered type's records for `model`, ordered by phase (then rank, then type
    name): the order `replay` applies them in."""
    records: list[Record] = []
    for kind in sorted(_types().values(), key=lambda t: (t.phase, t.rank, t.name)):
        records += [{"type": kind.name, **record} for record in kind.capture(model)]
    return records


def base_config(records: list[Record]) -> dict[str, Any] | None:
    """The architecture the records apply to, where the first record that can name one
    does (a structured-pruning plan of a reference model)."""
    types = _types()
    for record in records:
        kind = types[record["type"]]
        config = kind.base_config(record) if kind.base_config else None
        if config is not None:
            return config
    return None


def replay(model: nn.Module, records: list[Record], phase: int, where: str) -> None:
    """Apply the records of `phase` to `model`, in order."""
    types = _types()
    for i, record in enumerate(records):
        kind = types.get(str(record.get("type")))
        if kind is None:
            raise ModelError(
                f"{where}: record {i} has unknown type {record.get('type')!r} (known: "
                f"{', '.join(sorted(types))}); it was written by a newer tinyai, upgrade it"
            )
        if kind.phase == phase:
            try:
                kind.replay(model, record)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise ModelError(
                    f"{where}: record {i} ({kind.name}) does not apply to this model "
                    f"({type(exc).__name__}: {exc}); save the model again"
                ) from None


def write_structure(out: Path, records: list[Record], files: list[str]) -> None:
    """structure.json: format, records, and every other file save_model wrote (for
    `is_model_dir`)."""
    data = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "records": records,
        "files": sorted(files),
    }
    (out / STRUCTURE).write_text(json.dumps(data, indent=1) + "\n")


def read_structure(path: Path) -> dict[str, Any]:
    """Parsed structure.json of the model directory `path`, checked for format and version."""
    file = path / STRUCTURE
    try:
        data = json.loads(file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"cannot read {file} ({type(exc).__name__}); save the model again"
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"{file} is not a tinyai structure file; save the model again")
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelError(
            f"{file} has format version {version!r}; this tinyai reads up to "
            f"{FORMAT_VERSION}: upgrade tinyai"
        )
    if not isinstance(data.get("records"), list) or not isinstance(data.get("files"), list):
        raise ModelError(f"{file} lacks its records or files list; save the model again")
    return data
