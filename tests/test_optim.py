"""Every registered optimizer (schedules: test_schedules.py)."""

from __future__ import annotations

import pytest
import torch

from harness.optim import optimizers


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_steps_towards_a_minimum(name):
    weight = torch.nn.Parameter(torch.tensor([3.0]))
    optimizer = optimizers.get(name)([weight], lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        (weight ** 2).sum().backward()
        optimizer.step()
    assert abs(weight.item()) < 3.0
