"""The one binding of a task's named inputs to a model's forward parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tinyai.errors import ConfigError
from tinyai.models.calling import bind, call_model, set_input_names

TEXT = ["input_ids", "attention_mask"]


class _Fwd(nn.Module):
    """A module whose forward is the given function (the signature is what matters)."""

    def __init__(self, forward) -> None:
        super().__init__()
        self.forward = forward


def _binding(forward, names=TEXT):
    binding = bind(_Fwd(forward), names)
    return tuple(name for _, name in binding.args), dict(binding.kwargs)


@pytest.mark.parametrize(
    ("forward", "args", "kwargs"),
    [
        (lambda input_ids, attention_mask: 0, ("input_ids", "attention_mask"), {}),
        (lambda ids: 0, ("input_ids",), {}),  # fewer inputs than offered: the mask is dropped
        (lambda x, mask: 0, ("input_ids", "attention_mask"), {}),  # by position
        (lambda attention_mask, input_ids: 0, ("attention_mask", "input_ids"), {}),  # by name
        (lambda ids, lengths=None: 0, ("input_ids",), {}),  # a default takes only its own name
        (lambda ids, attention_mask=None: 0, ("input_ids", "attention_mask"), {}),
        # Hugging Face style: a skipped optional parameter moves the rest to keywords
        (lambda input_ids, token_type_ids=None, attention_mask=None: 0, ("input_ids",),
         {"attention_mask": "attention_mask"}),
        (lambda *tensors: 0, ("input_ids", "attention_mask"), {}),
        (lambda **named: 0, (), {"input_ids": "input_ids", "attention_mask": "attention_mask"}),
        (lambda *args, **kwargs: 0, (),  # a wrapper (torch.compile): by name, as it passes on
         {"input_ids": "input_ids", "attention_mask": "attention_mask"}),
        (lambda ids, *, attention_mask: 0, ("input_ids",), {"attention_mask": "attention_mask"}),
    ],
)
def test_binding_rules(forward, args, kwargs) -> None:
    assert _binding(forward) == (args, kwargs)


def test_an_explicit_mapping_wins_over_the_rules() -> None:
    model = set_input_names(_Fwd(lambda tokens, mask=None: 0), {"mask": "attention_mask"})
    binding = bind(model, TEXT)
    assert binding.to_dict() == {"tokens": "input_ids", "mask": "attention_mask"}


@pytest.mark.parametrize(
    ("forward", "mapping", "message"),
    [
        (lambda a, b, c: 0, None, "needs 'c'"),
        (lambda: 0, None, "takes none of the task's inputs"),
        (lambda x: 0, {"y": "input_ids"}, "does not take"),
        (lambda x: 0, {"x": "pixel_values"}, "does not offer"),
    ],
)
def test_what_cannot_be_bound_is_one_line_naming_the_fix(forward, mapping, message) -> None:
    model = _Fwd(forward)
    if mapping is not None:
        set_input_names(model, mapping)
    with pytest.raises(ConfigError, match=message) as info:
        bind(model, TEXT)
    assert "\n" not in str(info.value)


def test_call_model_runs_a_positional_module_on_named_inputs() -> None:
    lin = nn.Linear(4, 2)
    x = torch.randn(3, 4)
    out = call_model(lin, {"pixel_values": x, "attention_mask": torch.ones(3, 4)})
    torch.testing.assert_close(out, lin(x))
