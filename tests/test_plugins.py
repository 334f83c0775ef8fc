"""The README's plugin example, run as written: a task and a strategy from a module outside the package."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import tiny_spec
from typer.testing import CliRunner

from harness.cli import app
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
    result = CliRunner().invoke(app, ["run", str(tmp_path / "spec.yaml"), "--runs-dir", str(tmp_path / "runs")])
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
