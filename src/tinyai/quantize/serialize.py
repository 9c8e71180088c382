"""How quantization is recorded in a model directory (`tinyai.models.dir` owns the format).

One record type, ``quantized-layers`` (phase LAYERS), registered when `tinyai.quantize` is
imported: every converted layer by module name, class and `to_meta()`, and every
``nn.Identity`` (where a BatchNorm was folded into the conv before it, or a ReLU taken into
it: static int8, QAT, Deep Compression's fold; an Identity the architecture already has is
recorded too, harmlessly), and the layers a scheme left in float with the reason
(``kept_float``, which summary shows). Loading puts `Class.from_meta(meta)` in place of
each, an empty layer of the saved shapes that the strict state-dict load then fills. Only
the classes
below can be named: nothing else is ever built.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from tinyai.measure.summary import FLOAT_REASON
from tinyai.models.dir import LAYERS, RecordType, register_record_type
from tinyai.quantize.layer_types import QUANTIZED_TYPES
from tinyai.quantize.modules import QuantizedModule
from tinyai.quantize.ptq import set_submodule

_CLASSES: dict[str, type[QuantizedModule]] = {cls.__name__: cls for cls in QUANTIZED_TYPES}
_IDENTITY = "Identity"


def _capture(model: nn.Module) -> list[dict[str, Any]]:
    layers: list[dict[str, Any]] = []
    kept_float: dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, QuantizedModule):
            layers.append({"name": name, "class": type(module).__name__, "meta": module.to_meta()})
        elif type(module) is nn.Identity and name:
            layers.append({"name": name, "class": _IDENTITY})
        if isinstance(getattr(module, FLOAT_REASON, None), str):
            kept_float[name] = getattr(module, FLOAT_REASON)
    if not layers and not kept_float:
        return []
    return [{"layers": layers, "kept_float": kept_float} if kept_float else {"layers": layers}]


def _replay(model: nn.Module, record: dict[str, Any]) -> None:
    for layer in record["layers"]:
        cls_name = layer["class"]
        if cls_name == _IDENTITY:
            new: nn.Module = nn.Identity()
        elif cls_name in _CLASSES:
            new = _CLASSES[cls_name].from_meta(layer["meta"])
        else:
            raise ValueError(f"{cls_name!r} is not a quantized layer class")
        set_submodule(model, layer["name"], new)
    for name, reason in record.get("kept_float", {}).items():  # what summary says of them
        setattr(model.get_submodule(name), FLOAT_REASON, str(reason))


register_record_type(RecordType("quantized-layers", LAYERS, _capture, _replay))
