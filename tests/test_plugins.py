"""The README's plugin example, run as written: a task and a strategy from a module outside the package."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from types import ModuleType

from conftest import TABLES_ONLY, tiny_spec
from typer.testing import CliRunner

from harness.cli import app
from harness.plugins import source_of
from harness.store import frames, open_storage

README = Path(__file__).resolve().parent.parent / "README.md"


def plugin_example() -> str:
    text = README.read_text()
    return re.search(r"<!-- plugin example.*?-->\n```python\n(.*?)```", text, re.S).group(1)


def test_readme_plugin_task_and_strategy_run_from_a_spec(tmp_path):
    (tmp_path / "my_plugins.py").write_text(plugin_example())
    spec = tiny_spec(tasks=["blobs"], strategies=["halton", "random"], plugins=["my_plugins"],
                     space={}, budget={"trials": 3, "epochs": 2})
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(tmp_path / "runs"),
                                      *TABLES_ONLY])
    assert result.exit_code == 0, result.output
    run_dir = tmp_path / "runs" / "tiny"
    spec_hash = json.loads((run_dir / "manifest.json").read_text())["spec_hash"]
    results = frames(open_storage(f"sqlite:///{run_dir / 'studies.db'}"), spec_hash)[0]
    assert results.groupby("strategy").size().to_dict() == {"halton": 3, "random": 3}
    assert set(results["task"]) == {"blobs"} and (results["state"] == "COMPLETE").all()
    assert results["val_accuracy"].max() > 0.5  # three well-separated blobs are learnable


def test_a_plugin_that_cannot_be_imported_is_named(tmp_path):
    spec = tiny_spec(plugins=["no_such_plugin_module"])
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))
    result = CliRunner().invoke(app, ["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2
    assert "plugins[0]: cannot import 'no_such_plugin_module'" in result.output


def test_the_manifest_and_report_record_each_plugin_s_source_and_compare_lists_a_change(tmp_path):
    plugin = tmp_path / "recorded_plugin.py"
    plugin.write_text('"""A plugin that registers nothing: only its source matters here."""\n')
    spec = tiny_spec(tasks=["digits"], strategies=["random"], plugins=["recorded_plugin"],
                     space={"width": 8, "depth": 1}, budget={"trials": 1, "epochs": 1})
    (tmp_path / "spec.yaml").write_text(json.dumps(spec))

    def run(runs: str, *report: str) -> None:
        result = CliRunner().invoke(app, ["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(tmp_path / runs),
                                          *report])
        assert result.exit_code == 0, result.output

    run("a")
    manifest = json.loads((tmp_path / "a" / "tiny" / "manifest.json").read_text())
    assert manifest["sessions"][-1]["plugins"]["recorded_plugin"] == {
        "path": str(plugin.resolve()), "sha256": hashlib.sha256(plugin.read_bytes()).hexdigest()}
    digest = hashlib.sha256(plugin.read_bytes()).hexdigest()
    report = (tmp_path / "a" / "tiny" / "report.md").read_text()
    assert f"| session 1 plugins | recorded_plugin sha256 {digest} |" in report
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    plugin.write_text(plugin.read_text() + "LR = 0.1\n")
    run("b", *TABLES_ONLY)  # the copy resumes with every trial done: only a session is added
    compared = CliRunner().invoke(app, ["report", "--compare", str(tmp_path / "a" / "tiny"), str(tmp_path / "b" / "tiny")])
    assert compared.exit_code == 0, compared.output  # the same numbers, with the plugin changed beside them
    environment = compared.output.split("## Environment")[1]
    assert "plugins.recorded_plugin.sha256: " in environment
    assert "plugins.recorded_plugin.path" not in environment


def test_a_plugin_package_is_hashed_by_its_source_files_wherever_it_lies(tmp_path):
    def package(where: Path, size: int) -> ModuleType:
        folder = where / "plugin_package"
        (folder / "__pycache__").mkdir(parents=True)
        (folder / "__init__.py").write_text("from plugin_package.part import SIZE\n")
        (folder / "part.py").write_text(f"SIZE = {size}\n")
        (folder / "__pycache__" / "part.pyc").write_bytes(where.name.encode())  # compiled, not source
        module = ModuleType("plugin_package")
        module.__path__ = [str(folder)]
        return module

    first = source_of(package(tmp_path / "a", 1))
    assert first["path"] == str((tmp_path / "a" / "plugin_package").resolve())
    assert source_of(package(tmp_path / "b", 1))["sha256"] == first["sha256"]
    assert source_of(package(tmp_path / "c", 2))["sha256"] != first["sha256"]
