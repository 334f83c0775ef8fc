"""Learning-rate schedules as pure functions of the step, their conditional arguments, and the trainer using them."""

from __future__ import annotations

import inspect
import math

import pytest
import torch

from harness.optim import training_space
from harness.plugins import load_builtins
from harness.schedules import schedule_space, schedules
from harness.space import Space
from harness.task import Data, Split, tasks
from harness.trainer import fit

TOTAL, PER_EPOCH = 100, 10


@pytest.mark.parametrize("name", schedules.names())
def test_every_schedule_gives_positive_factors_at_most_one(name):
    factors = [schedules.get(name)(s, TOTAL, PER_EPOCH) for s in range(TOTAL)]
    assert all(0.0 < f <= 1.0 + 1e-12 for f in factors), name


@pytest.mark.parametrize("step, factor", [(0, 1.0), (33, 1.0), (34, 0.1), (67, pytest.approx(0.01)), (99, pytest.approx(0.01))])
def test_step_decays_by_gamma_every_third(step, factor):
    assert schedules.get("step")(step, TOTAL, PER_EPOCH) == factor


def test_multistep_drops_at_half_and_three_quarters():
    multistep = schedules.get("multistep")
    assert [multistep(s, TOTAL, PER_EPOCH, step_gamma=0.5) for s in (0, 49, 50, 74, 75, 99)] == [1, 1, 0.5, 0.5, 0.25, 0.25]


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


def test_warmup_cosine_rises_linearly_peaks_for_one_step_then_anneals_towards_zero():
    warmup_cosine = schedules.get("warmup_cosine")
    factors = [warmup_cosine(s, TOTAL, PER_EPOCH, warmup=0.1) for s in range(TOTAL)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[9] == 1.0 and factors.count(1.0) == 1
    assert all(a > b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] < 1e-3


def test_warmup_cosine_is_hugging_face_s_one_step_on():
    """Hugging Face's first factor is 0, a step spent at lr 0; ours skips it and ends one step short of its 0."""
    from transformers import get_cosine_schedule_with_warmup

    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    theirs = get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=10, num_training_steps=TOTAL + 1)
    factors = [schedules.get("warmup_cosine")(s, TOTAL, PER_EPOCH, warmup=0.1) for s in range(TOTAL)]
    assert factors == pytest.approx([theirs.lr_lambdas[0](s + 1) for s in range(TOTAL)])


def test_one_cycle_rises_from_a_25th_to_the_peak_then_anneals_far_below_the_start():
    one_cycle = schedules.get("one_cycle")
    factors = [one_cycle(s, TOTAL, PER_EPOCH) for s in range(TOTAL + 1)]
    assert factors[0] == pytest.approx(1 / 25) and factors[30] == 1.0 and max(factors) == 1.0
    assert all(a <= b for a, b in zip(factors[:30], factors[1:31]))
    assert all(a >= b for a, b in zip(factors[30:], factors[31:]))
    assert factors[TOTAL] == pytest.approx(1 / 25e4)


def test_linear_and_constant():
    assert [schedules.get("linear")(s, TOTAL, PER_EPOCH) for s in (0, 50, 99)] == [1.0, 0.5, pytest.approx(0.01)]
    assert {schedules.get("constant")(s, TOTAL, PER_EPOCH) for s in range(TOTAL)} == {1.0}


def test_plateau_reduces_after_patience_epochs_without_improvement_then_waits_again():
    plateau = schedules.get("plateau")
    losses = [1.0, 0.9, 0.9, 0.9, 0.9, 0.8, 0.8, 0.8, 0.8]

    def factor(epochs_seen: int) -> float:
        return plateau(0, TOTAL, PER_EPOCH, val_losses=losses[:epochs_seen], plateau_factor=0.5, plateau_patience=2)

    assert [factor(n) for n in range(len(losses) + 1)] == [1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.25]


def test_schedule_arguments_exist_only_for_their_schedules():
    space = Space(schedule_space(("constant", "step", "exponential"), "constant"))
    assert space["step_gamma"].when == (("schedule", ("multistep", "step")),)
    assert space["gamma"].when == (("schedule", ("exponential",)),)
    grid = space.grid(2)
    assert {c["schedule"]: set(c) - {"schedule"} for c in grid} == {
        "constant": set(), "step": {"step_every", "step_gamma"}, "exponential": {"gamma"}}
    assert len(grid) == 1 + 2 * 2 + 2  # no meaningless points


def test_schedule_arguments_default_to_the_functions_own_and_a_fixed_schedule_keeps_its_arguments():
    space = Space(training_space(lr=(1e-3, 1e-1, 1e-2), schedule_choices=("cosine",), default_schedule="cosine"))
    assert space["plateau_patience"].default == inspect.signature(schedules.get("plateau")).parameters[
        "plateau_patience"].default
    fixed = space.override({"schedule": "step"})
    assert fixed.defaults()["step_gamma"] == 0.1 and "gamma" not in fixed.defaults()


def test_trainer_hands_validation_losses_to_plateau():
    """A threshold no loss can meet makes every epoch a bad one: with patience 0 the rate drops each epoch."""
    load_builtins()
    task = tasks.get("digits")()
    full = task.data()
    data = Data(*(Split(s.inputs[:128], s.labels[:128]) for s in (full.train, full.val, full.test)), full.num_classes)
    config = task.space().complete({"width": 8, "optimizer": "sgd", "lr": 0.05, "batch_size": 64})
    config = {**config, "schedule": "plateau", "plateau_patience": 0, "plateau_factor": 0.5, "plateau_threshold": 1.0}
    torch.manual_seed(0)
    result = fit(task.model(config, data), data, config, epochs=3, seed=0)
    assert [r.lr for r in result.curve] == pytest.approx([0.05, 0.025, 0.0125])
