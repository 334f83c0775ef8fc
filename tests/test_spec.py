"""Spec validation: every mistake named with its path, its value and what is allowed, before anything runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import TINY_LISTOPS, tiny_spec
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import SpecError
from harness.plan import build_plan
from harness.spec import load_spec, parse_spec


def problems(data: dict) -> list[str]:
    with pytest.raises(SpecError) as raised:
        build_plan(parse_spec(data))
    return raised.value.problems


def test_a_valid_spec_gives_every_cell():
    plan = build_plan(parse_spec(tiny_spec(seeds=[0, 1])))
    assert len(plan.cells) == 2 * 2 * 2
    assert plan.cells[0].study_name == "digits-resnet/grid/seed-0"


def test_field_errors_name_path_value_and_rule():
    found = problems(tiny_spec(budget={"trials": 0, "epochs": "many"}, device="gpu", name="a b"))
    assert "budget.trials: input should be greater than 0 (got 0)" in found
    assert any(p.startswith("budget.epochs: input should be a valid integer") and "'many'" in p for p in found)
    assert any(p.startswith("device: string should match pattern") and "'gpu'" in p for p in found)
    assert any(p.startswith("name:") for p in found)


def test_missing_and_unknown_top_level_fields():
    data = tiny_spec(colour="red", budget={"trials": 1, "epochs": 1, "epoch": 2})
    del data["seeds"]
    found = problems(data)
    assert "seeds: field required" in found
    assert "budget.epoch: unknown option; allowed: epochs, seconds, total_epochs, trials" in found
    assert ("colour: unknown option; allowed: budget, device, executor, name, noise_floor, plugins, seeds, space, "
            "storage, strategies, tasks") in found


def test_unknown_options_list_the_allowed_ones():
    found = problems(tiny_spec(tasks=[{"name": "digits", "widht": 8}], strategies=[{"name": "random", "sead": 1}],
                               executor={"name": "batched", "batch_size": 4}))
    assert ("tasks[0].widht: unknown option; allowed: model_family, split_seed, test_fraction, val_fraction, name, "
            "label, space") in found
    assert "strategies[0].sead: unknown option; allowed: name, label" in found
    assert any(p.startswith("executor.batch_size: unknown option; allowed: batch_trials, heartbeat_seconds, ")
               and p.endswith(", name") for p in found)  # the executor takes no label and no space


def test_unknown_names_list_the_registered_ones():
    found = problems(tiny_spec(tasks=["digits", {"name": "cifar11"}], strategies=["random", "bayes"]))
    assert any(p.startswith("tasks[1].name: unknown task 'cifar11'; registered:") and "digits" in p for p in found)
    assert any(p.startswith("strategies[1].name: unknown strategy 'bayes'; registered:") and "tpe" in p
               for p in found)


def test_bad_options_and_space_overrides():
    found = problems(tiny_spec(
        tasks=[{"name": "digits", "model_family": "alexnet", "space": {"lr": {"low": 1, "high": 0.1}}},
               {"name": "listops", "space": {"layers": 1}}, {"name": "listops", "label": "b", "space": {"widht": 3}}],
        strategies=[{"name": "grid", "resolution": "fine"}, {"name": "manual", "configs": [{"lr": 9.0}]}],
        space={"nonsense": 1}))
    assert "tasks[0].model_family: input should be 'resnet' or 'vgg' (got 'alexnet')" in found
    assert any(p.startswith("tasks[2].space: unknown parameter 'widht'; this space has:") for p in found)
    assert any(p.startswith("strategies[0].resolution: input should be a valid integer") for p in found)
    assert any(p.startswith("strategies[1] on task 'listops-transformer': lr=9.0 is outside the space") for p in found)
    assert any(p.startswith("space.nonsense: no task has this parameter") for p in found)


def test_embedded_task_sizes_that_cannot_make_data_are_refused():
    found = problems(tiny_spec(tasks=[{"name": "digits", "val_fraction": 2},
                                      {"name": "digits", "label": "d", "val_fraction": 0.5, "test_fraction": 0.5},
                                      {"name": "listops", "train_size": -5, "max_length": 3, "max_args": 1}]))
    assert "tasks[0].val_fraction: input should be less than 1 (got 2)" in found
    assert "tasks[1]: val_fraction + test_fraction must be below 1 to leave training images (got 0.5 + 0.5)" in found
    assert "tasks[2].train_size: input should be greater than 0 (got -5)" in found
    assert "tasks[2].max_length: input should be greater than or equal to 4 (got 3)" in found
    assert "tasks[2].max_args: input should be greater than or equal to 2 (got 1)" in found


def test_transformer_widths_its_heads_cannot_split_are_refused():
    found = problems(tiny_spec(tasks=[{"name": "listops", "space": {"d_model": [36, 64], "heads": [4, 8]}},
                                      {"name": "listops", "label": "ok", "space": {"d_model": 48, "heads": [2, 4]}},
                                      {"name": "listops", "label": "rnn", "model_family": "rnn"}], space={}))
    assert found == ["tasks[0].space: d_model 36 is not a multiple of heads 8: a Transformer splits d_model evenly "
                     "among its heads"]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"budget": {"trials": 2, "epochs": True}}, "budget.epochs: input should be a valid integer (got True)"),
    ({"budget": {"trials": 2.0, "epochs": 1}}, "budget.trials: input should be a valid integer (got 2.0)"),
    ({"budget": {"trials": "3", "epochs": 1}}, "budget.trials: input should be a valid integer (got '3')"),
    ({"budget": {"seconds": True, "epochs": 1}}, "budget.seconds: input should be a valid number (got True)"),
    ({"seeds": [True]}, "seeds[0]: input should be a valid integer (got True)"),
    ({"noise_floor": 3.0}, "noise_floor: input should be a valid integer (got 3.0)"),
    ({"strategies": [{"name": "grid", "resolution": 2.0}]},
     "strategies[0].resolution: input should be a valid integer (got 2.0)"),
    ({"tasks": [{"name": "digits", "split_seed": False}]}, "tasks[0].split_seed: input should be a valid integer (got False)"),
    ({"executor": {"name": "local", "compile": 1}}, "executor.compile: input should be a valid boolean (got 1)"),
    ({"executor": {"name": "local", "compile": "yes"}}, "executor.compile: input should be a valid boolean (got 'yes')"),
])
def test_numbers_and_booleans_of_another_type_are_refused(changes, expected):
    """A spec is a record: `true` is not 1, `2.0` trials is not 2 and `"yes"` is not a boolean."""
    found = problems(tiny_spec(**changes))
    assert found == [expected]


def test_an_integer_is_a_number_where_a_float_is_asked():
    spec = parse_spec(tiny_spec(budget={"seconds": 60, "epochs": 1}))
    assert spec.budget.seconds == 60.0 and build_plan(spec).cells


def test_a_number_yaml_reads_as_a_string_says_how_to_write_it(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(budget={"seconds": 0, "epochs": 1})).replace("seconds: 0", "seconds: 1e3"))
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert raised.value.problems == ["budget.seconds: input should be a valid number (got '1e3'; YAML reads 1e3 "
                                     "as a string: write 1.0e+3)"]


@pytest.mark.parametrize("written", ["1e3", "1.0e3", "1e-3", "2E-4", "-5e+2"])
def test_the_spelling_the_hint_gives_reads_as_a_number(tmp_path, written):
    """YAML 1.1 reads a float only with a dot and a signed exponent: `1.0e3` is a string as much as `1e3` is."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(budget={"seconds": 0, "epochs": 1})).replace("seconds: 0",
                                                                                         f"seconds: {written}"))
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    hinted = re.search(r"write (\S+)\)$", raised.value.problems[0])
    assert hinted is not None, raised.value.problems
    assert yaml.safe_load(hinted[1]) == float(written)


def test_a_space_value_yaml_reads_as_a_string_is_refused_before_anything_runs(tmp_path):
    """`lr: 1e-3` is the string '1e-3' to YAML: fixed as such, every trial failed comparing it with a number."""
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(tiny_spec(space={"lr": 0.5})).replace("lr: 0.5", "lr: 1e-3"))
    with pytest.raises(SpecError) as raised:
        build_plan(load_spec(path))
    assert raised.value.problems == [("space.lr: a fixed value must be a number, but got '1e-3'; YAML reads 1e-3 as "
                                      "a string: write 1.0e-3")]  # once, though both tasks have an lr


def test_optimizers_and_schedules_a_space_offers_must_be_registered():
    found = problems(tiny_spec(tasks=[{"name": "digits", "space": {"optimizer": ["sgd", "sgdd"]}},
                                      {"name": "listops", "space": {"schedule": "cosinus"}}], space={}))
    assert [p.split("; registered:")[0] for p in found] == [
        "tasks[0].space.optimizer: unknown optimizer 'sgdd'", "tasks[1].space.schedule: unknown schedule 'cosinus'"]


def test_an_unregistered_name_in_the_top_level_space_is_said_of_it_once():
    found = problems(tiny_spec(space={"optimizer": ["sgd", "adamz"]},
                               tasks=["digits", {**TINY_LISTOPS, "space": {"schedule": ["cosine", "cosinus"]}}]))
    assert [p.split("; registered:")[0] for p in found] == [
        "space.optimizer: unknown optimizer 'adamz'", "tasks[1].space.schedule: unknown schedule 'cosinus'"]


def test_a_refused_override_does_not_hide_its_task_s_parameters():
    found = problems(tiny_spec(space={"width": {"low": 8}}))  # only digits has a width; its override is refused
    assert found == ["space.width: cannot set ['low'] on a Choice; allowed: ['choices', 'default']"]


def test_a_value_for_a_parameter_no_offered_choice_uses_is_refused():
    """Momentum set where only Adam is offered, or a step schedule's gamma where only cosine is, once went into the
    space and every trial trained without it."""
    found = problems(tiny_spec(space={"optimizer": "adam", "momentum": [0.9, 0.95]},
                               tasks=["digits", {**TINY_LISTOPS, "space": {"schedule": "cosine", "step_gamma": 0.2}}]))
    assert found == [
        ("tasks[1].space.step_gamma: 0.2 is never used: step_gamma is used only when schedule is multistep or step, "
         "but this space offers schedule cosine only; drop it, or offer a choice that uses it"),
        ("space.momentum: [0.9, 0.95] is never used: momentum is used only when optimizer is sgd, but this space "
         "offers optimizer adam only; drop it, or offer a choice that uses it")]


def test_a_range_given_to_an_optimizer_the_space_does_not_offer_is_refused():
    """A top-level one only when no task offers the optimizer."""
    listops = {**TINY_LISTOPS, "space": {"optimizer": ["adamw", "sgd"], "lr": {"rmsprop": {"high": 1e-3}}}}
    found = problems(tiny_spec(space={"lr": {"sgd": {"high": 0.3}, "adam": {"low": 1e-4}, "nadam": {"low": 1e-4}}},
                               tasks=["digits", listops]))
    assert found == [
        ("tasks[1].space.lr: the range for rmsprop is never used: this space offers optimizer adamw or sgd only; "
         "drop it, or offer rmsprop"),
        ("space.lr.nadam: the range for nadam is never used: this space offers optimizer sgd or adam or adamw only; "
         "drop it, or offer nadam")]


def test_l2_weight_decay_set_where_only_adamw_is_offered_is_refused_and_its_decoupled_decay_kept():
    """AdamW takes its decay as `decoupled_decay`: a `weight_decay` beside it alone would train no trial."""
    found = problems(tiny_spec(tasks=[{**TINY_LISTOPS, "space": {"optimizer": "adamw", "weight_decay": 1e-4}}],
                               space={"d_model": 32, "layers": 1}))
    assert found == [("tasks[0].space.weight_decay: 0.0001 is never used: weight_decay is used only when optimizer is "
                      "adadelta or adagrad or adam or adamax or nadam or rmsprop or sgd, but this space offers "
                      "optimizer adamw only; drop it, or offer a choice that uses it")]
    plan = build_plan(parse_spec(tiny_spec(tasks=[TINY_LISTOPS], space={"optimizer": "adamw", "decoupled_decay": 0.05,
                                                                         "d_model": 32, "layers": 1})))
    assert plan.tasks[0].space.defaults()["decoupled_decay"] == 0.05


def test_a_top_level_value_one_task_uses_is_kept():
    """The top-level `space:` reaches every task that has the parameter: one whose choices never use it is no
    mistake while another task's do."""
    plan = build_plan(parse_spec(tiny_spec(space={"momentum": 0.95},
                                           tasks=[{"name": "digits", "space": {"optimizer": "adam"}}, TINY_LISTOPS])))
    assert [run.space["momentum"].default for run in plan.tasks] == [0.95, 0.95]


def test_an_epoch_budget_smaller_than_one_trial_is_refused():
    found = problems(tiny_spec(budget={"total_epochs": 2, "epochs": 5}))
    assert any(p.startswith("budget: total_epochs (2) must be at least epochs (5)") for p in found)
    assert not any("(got {" in p for p in found)  # the validator's message says what it was given, once


def test_range_errors_say_what_must_hold():
    found = problems(tiny_spec(space={"lr": {"low": 1, "high": 0.1}}))
    assert any("space.lr: `low <= high` must hold, but got (low=1, high=0.1)" in p for p in found)


def test_duplicate_labels_and_seeds():
    found = problems(tiny_spec(strategies=["random", "random"], seeds=[1, 1]))
    assert any(p.startswith("strategies[1]: label 'random' is used twice") for p in found)
    assert "seeds: every seed must be distinct (got [1, 1])" in found


def test_seeds_and_seconds_outside_what_runs_are_refused():
    found = problems(tiny_spec(seeds=[-1, 2**32], budget={"seconds": float("inf"), "epochs": 1}))
    assert "seeds[0]: input should be greater than or equal to 0 (got -1)" in found
    assert f"seeds[1]: input should be less than {2**32} (got {2**32})" in found
    assert "budget.seconds: input should be a finite number (got inf)" in found


def test_entry_labels_and_spaces_of_the_wrong_type_are_refused():
    found = problems(tiny_spec(tasks=[{"name": "digits", "label": 5}, {"name": "digits", "space": 3}],
                               strategies=[{"name": "random", "label": ""}]))
    assert "tasks[0].label: a label must be a non-empty string (got 5)" in found
    assert "tasks[1].space: overrides must be a mapping of parameter to value (got 3)" in found
    assert "strategies[0].label: a label must be a non-empty string (got '')" in found


def test_a_key_given_twice_is_refused_with_its_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text(yaml.safe_dump(tiny_spec()) + "seeds: [3]\n")
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    assert "'seeds' is given twice in one mapping" in str(raised.value)
    assert f"line {len(path.read_text().splitlines())}" in str(raised.value)


def test_equal_specs_hash_equally_whatever_the_layout(write_spec):
    a = load_spec(write_spec(tiny_spec(), "a.yaml"))
    b = parse_spec(dict(reversed(list(tiny_spec().items()))))
    assert a.hash() == b.hash()
    assert a.hash() != parse_spec(tiny_spec(seeds=[5])).hash()
    assert a.hash() == parse_spec(tiny_spec(storage="postgresql://host/db")).hash()  # where, not what


def test_cli_prints_one_message_and_exits_non_zero(write_spec, tmp_path):
    path = write_spec(tiny_spec(tasks=["cifar11"]))
    result = CliRunner().invoke(app, ["run", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "tasks[0].name: unknown task 'cifar11'" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs").exists()  # nothing started


def test_cli_refuses_a_value_of_the_wrong_type_in_one_message(write_spec, tmp_path):
    path = write_spec(tiny_spec(budget={"trials": 2, "epochs": True}))
    result = CliRunner().invoke(app, ["run", str(path), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "budget.epochs: input should be a valid integer (got True)" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "runs").exists()


def test_cli_reports_unreadable_and_malformed_files(tmp_path):
    missing = CliRunner().invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 2 and "cannot read spec" in missing.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    malformed = CliRunner().invoke(app, ["run", str(bad)])
    assert malformed.exit_code == 2 and "is not valid YAML" in malformed.output


def test_the_readme_spec_example_is_valid():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    example = yaml.safe_load(re.search(r"## The spec\n\n```yaml\n(.*?)```", readme, re.S).group(1))
    example["plugins"] = []  # the example's plugin module lives in the README, not on the path
    plan = build_plan(parse_spec(example))
    assert [s.label for s in plan.strategies] == ["manual", "grid", "random", "tpe-2"]
    assert plan.tasks[0].space["width"].default == 16
    assert plan.tasks[1].space["optimizer"].choices == ("sgd", "adamw")


@pytest.mark.parametrize("example", sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_example_spec_is_valid(example):
    assert build_plan(load_spec(example), example.parent).cells
