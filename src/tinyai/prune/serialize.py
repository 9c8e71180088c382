"""Save a pruned model as plan (JSON) + weights (safetensors), sparse tensors packed.

Directory layout: what tinyai.save_model writes (`config.json`, tokenizer/encoder files),
plus `pruning.json` (format version, the structured plans in the order they were applied,
and for each sparse tensor its codec and metadata). In `model.safetensors` a tensor that the
sparse codec stores smaller is replaced by its uint8 payload under the same key. Loading
rebuilds the *base* architecture, replays the plans, unpacks the payloads and loads the
state dict strictly. No module is ever pickled.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tinyai.errors import ModelError
from tinyai.prune.masks import copy_model, make_permanent
from tinyai.prune.plan import PruningPlan, apply_plan

PLAN_ATTR = "tinyai_pruning_plans"
PRUNING_FILE = "pruning.json"
WEIGHTS = "model.safetensors"
FORMAT_VERSION = 1


def pruning_plans(model: nn.Module) -> list[PruningPlan]:
    """The structured plans applied to `model` by prune_, oldest first."""
    return [PruningPlan.from_dict(p) for p in getattr(model, PLAN_ATTR, [])]


def save_pruned(model: nn.Module, out_dir: str | os.PathLike[str], tokenizer: Any = None) -> Path:
    """Write config + plans + compact weights; held masks are baked in (on a copy)."""
    from tinyai.models import save_model
    from tinyai.runtime.codecs.sparse import SparseCodec

    model = make_permanent(copy_model(model))
    out = save_model(model, out_dir, tokenizer=tokenizer)
    codec = SparseCodec()
    tensors, packed = {}, {}
    for key, value in model.state_dict().items():
        tensor = value.detach().cpu().contiguous()
        array = tensor.numpy()
        encoded = codec.encode(array) if tensor.is_floating_point() else None
        if encoded is not None and len(encoded[0]) < array.nbytes:
            data, meta = encoded
            tensors[key] = (
                torch.frombuffer(bytearray(data), dtype=torch.uint8)
                if data
                else torch.zeros(0, dtype=torch.uint8)
            )  # an all-zero tensor
            packed[key] = {
                "codec": codec.name,
                "meta": meta,
                "shape": list(array.shape),
                "dtype": array.dtype.name,
            }
        else:
            tensors[key] = tensor
    save_file(tensors, str(out / WEIGHTS), metadata={"format": "pt"})
    info = {
        "format_version": FORMAT_VERSION,
        "plans": getattr(model, PLAN_ATTR, []),
        "packed": packed,
    }
    (out / PRUNING_FILE).write_text(json.dumps(info) + "\n")
    return out


def load_pruned(model_dir: str | os.PathLike[str]) -> nn.Module:
    """Rebuild the base architecture, replay the plans, load (and unpack) the weights."""
    from tinyai.runtime.codecs import decode

    path = Path(model_dir)
    try:
        info = json.loads((path / PRUNING_FILE).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"{path} has no readable {PRUNING_FILE} ({exc}); save it with tinyai.prune.save_pruned"
        ) from None
    plans = [PruningPlan.from_dict(p) for p in info["plans"]]
    model = _build_base(path, plans[0].base_config if plans else None)
    for the_plan in plans:
        apply_plan(model, the_plan)
    object.__setattr__(model, PLAN_ATTR, list(info["plans"]))
    state = load_file(str(path / WEIGHTS))
    for key, entry in info["packed"].items():
        array = decode(
            entry["codec"],
            state[key].numpy().tobytes(),
            entry["meta"],
            entry["shape"],
            entry["dtype"],
        )
        state[key] = torch.from_numpy(np.ascontiguousarray(array))
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(
            f"{path / WEIGHTS} does not match the replayed plan: {str(exc).strip().splitlines()[0]}"
        ) from None
    return model.eval()


def _build_base(path: Path, base_config: dict[str, Any] | None) -> nn.Module:
    """The unpruned architecture with fresh weights (they are all overwritten)."""
    from tinyai.config import Config
    from tinyai.models import hf
    from tinyai.models.base import build_model
    from tinyai.models.heads import HEAD_TYPES, EncoderHeadConfig

    config = Config.from_dict(base_config or hf.read_json(path / "config.json"))
    if isinstance(config, EncoderHeadConfig):
        # The saved Hugging Face config still describes the unpruned encoder.
        encoder = hf.encoder_from_config_dir(path / "encoder", type(config).auto_class)
        return HEAD_TYPES[type(config)].from_config(config, encoder)  # type: ignore[attr-defined]
    return build_model(config)
