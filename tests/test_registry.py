"""The one registry type, and `harness ls` reading every registry."""

from __future__ import annotations

import itertools
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.optim import optimizers, schedules
from harness.plugins import load_builtins
from harness.registry import Registry, UnknownName
from harness.strategy import strategies
from harness.task import tasks


def test_register_look_up_and_help_from_docstring():
    things = Registry("thing")

    @things.register("one")
    def one():
        """The first thing.

        More text that is not help."""

    assert things.get("one") is one
    assert things.entry("one").help == "The first thing."
    assert things.name_of(one) == "one"
    assert "one" in things and things.names("o*") == ["one"]


def test_unknown_name_lists_the_registered_ones():
    things = Registry("thing")
    things.register("b", help="b")(object())
    things.register("a", help="a")(object())
    with pytest.raises(UnknownName, match="unknown thing 'c'; registered: a, b"):
        things.get("c")


def test_registering_a_name_twice_is_refused():
    things = Registry("thing")
    things.register("a", help="a")(1)
    with pytest.raises(ValueError, match="already registered"):
        things.register("a", help="a")(2)


def test_builtins_are_registered_with_help():
    load_builtins()
    assert {"digits", "listops"} <= set(tasks.names())
    assert {"manual", "grid", "random", "tpe"} <= set(strategies.names())
    assert {"sgd", "adam", "adamw", "rmsprop"} <= set(optimizers.names())
    assert {"constant", "step", "exponential", "cosine", "warmup_cosine"} <= set(schedules.names())
    for registry in (tasks, strategies, optimizers, schedules):
        assert all(entry.help for entry in registry), registry.kind


def test_ls_prints_every_name_with_its_help():
    result = CliRunner().invoke(app, ["ls"])
    assert result.exit_code == 0, result.output
    for registry in (tasks, strategies, optimizers, schedules):
        for entry in registry:
            assert entry.name in result.output
            assert entry.help[:30] in result.output.replace("\n", " ") or entry.help[:15] in result.output


def listed_options(output: str, executor: str) -> str:
    """The text `harness ls` prints under an executor's name (its options line, wrapped or not)."""
    lines = output.split("\nexecutors", 1)[1].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f" {executor} "))
    return " ".join(itertools.takewhile(lambda line: line.startswith("  "), lines[start + 1:]))


def test_ls_lists_only_the_options_each_executor_accepts():
    output = CliRunner().invoke(app, ["ls"]).output
    assert "compile=False" in listed_options(output, "local")
    assert "batch_trials=8" in listed_options(output, "batched")
    assert "compile" not in listed_options(output, "batched")  # its spec check refuses compile: true


def test_registering_the_builtins_leaves_the_heavy_libraries_to_the_tasks_that_use_them():
    """torchvision, scikit-learn and transformers took 4 of a `harness ls`'s 7 s to import, and with it of every
    command's, worker's and Ray task's start; they are imported where an image model, digits' data or a Transformer
    is built."""
    imports = subprocess.run([sys.executable, "-X", "importtime", "-m", "harness.cli", "ls"], capture_output=True,
                             text=True, check=True).stderr
    imported = {line.rpartition("|")[2].strip() for line in imports.splitlines() if line.startswith("import time:")}
    assert "tasks.image_models" in imported and "harness.executor" in imported  # what registering imports
    assert not imported & {"torchvision", "sklearn", "transformers"}
