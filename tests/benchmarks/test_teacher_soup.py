"""teacher_soup.py's average of the members' weights."""

from __future__ import annotations

import torch
from benchmarks.teacher_soup import soup


def test_a_soup_averages_float_tensors_and_keeps_integer_buffers() -> None:
    states = [{"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])},
              {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([0, 1])}]
    averaged = soup(states)
    assert averaged["w"].tolist() == [2.0, 4.0]
    assert averaged["ids"].tolist() == [0, 1] and averaged["ids"].dtype == torch.int64
