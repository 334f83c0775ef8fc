"""Learning-rate schedules as pure functions of the step, and every registered optimizer."""

from __future__ import annotations

import math

import pytest
import torch

from harness.optim import optimizers, schedules

TOTAL, PER_EPOCH = 100, 10


@pytest.mark.parametrize("step, factor", [(0, 1.0), (33, 1.0), (34, 0.1), (67, pytest.approx(0.01)), (99, pytest.approx(0.01))])
def test_step_decays_by_gamma_every_third(step, factor):
    assert schedules.get("step")(step, TOTAL, PER_EPOCH) == factor


def test_exponential_decays_per_epoch():
    exponential = schedules.get("exponential")
    assert exponential(9, TOTAL, PER_EPOCH, gamma=0.5) == 1.0
    assert exponential(10, TOTAL, PER_EPOCH, gamma=0.5) == 0.5
    assert exponential(35, TOTAL, PER_EPOCH, gamma=0.5) == 0.125


def test_cosine_starts_at_one_halves_midway_and_ends_near_zero():
    cosine = schedules.get("cosine")
    assert cosine(0, TOTAL, PER_EPOCH) == 1.0
    assert cosine(50, TOTAL, PER_EPOCH) == pytest.approx(0.5)
    assert cosine(99, TOTAL, PER_EPOCH) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.99)))


def test_warmup_cosine_rises_linearly_then_anneals():
    warmup_cosine = schedules.get("warmup_cosine")
    factors = [warmup_cosine(s, TOTAL, PER_EPOCH, warmup=0.1) for s in range(TOTAL)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[10] == 1.0
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))


def test_constant_is_constant():
    assert {schedules.get("constant")(s, TOTAL, PER_EPOCH) for s in range(TOTAL)} == {1.0}


@pytest.mark.parametrize("name", optimizers.names())
def test_every_optimizer_steps_towards_a_minimum(name):
    weight = torch.nn.Parameter(torch.tensor([3.0]))
    optimizer = optimizers.get(name)([weight], lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        (weight ** 2).sum().backward()
        optimizer.step()
    assert abs(weight.item()) < 3.0
