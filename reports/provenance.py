"""Where the numbers came from and how to get them again, read from the run's manifest.json."""

from __future__ import annotations

from typing import Any

import pandas as pd
import yaml

from reports.render import Table
from reports.stats import VALIDATION, Metric

SPEC_FILE = "spec.yaml"  # written beside the report, so the command below runs as printed


def spec_yaml(manifest: dict[str, Any]) -> str:
    """The run's validated spec (its own fields' defaults spelt out; the manifest's `resolved` has the tasks' and
    strategies'), in the form `harness run` reads."""
    return yaml.safe_dump(manifest["spec"], sort_keys=False)


def commands(manifest: dict[str, Any], metric: Metric = VALIDATION) -> list[str]:
    """The shell commands that re-run the study and regenerate this report (ranked on `metric`)."""
    name = manifest["spec"]["name"]
    commit = (manifest.get("sessions") or [{}])[-1].get("git_commit")
    lines = [f"git checkout {commit.removesuffix('+dirty')}"] if commit else []
    if commit and commit.endswith("+dirty"):
        lines.append("# the run's checkout had uncommitted changes: this commit alone may not repeat it")
    option = "" if metric == VALIDATION else f" --metric {metric.name}"
    return lines + [f"harness run {SPEC_FILE} --runs-dir runs", f"harness report runs/{name}{option}"]


def provenance_rows(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(what, value) pairs: spec hash, storage, and per session its start, commit, hardware, versions and the
    SHA-256 of each plugin module's source, where it had any."""
    rows = [("spec hash", manifest["spec_hash"]), ("storage", manifest.get("storage", ""))]
    for i, session in enumerate(manifest.get("sessions", []), start=1):
        hardware = session.get("hardware", {})
        rows += [(f"session {i} started", str(session.get("started", ""))),
                 (f"session {i} git commit", str(session.get("git_commit"))),
                 (f"session {i} hardware", ", ".join(f"{k}={v}" for k, v in hardware.items())),
                 (f"session {i} packages", ", ".join(f"{k} {v}" for k, v in session.get("packages", {}).items()))]
        if session.get("plugins"):
            rows.append((f"session {i} plugins", ", ".join(f"{name} sha256 {source['sha256']}"
                                                          for name, source in session["plugins"].items())))
    return rows



def search_space_table(manifest: dict[str, Any]) -> Table | None:
    """Each task's search space as every strategy searched it (the spec's overrides applied), from the manifest;
    None for a run recorded before manifests held it."""
    if "spaces" not in manifest:
        return None
    rows = [[task, *row] for task, space in manifest["spaces"].items() for row in space]
    cells = pd.DataFrame(rows, columns=["Task", "Parameter", "Values", "Default", "Used when"])
    return Table("search_space", "Search space of each task, the same for every strategy", cells, cells,
                 note="A range is searched on a linear scale, or on a log scale where marked; a parameter with a "
                      "condition exists only in the configurations that meet it. The defaults make the configuration "
                      "that harness train trains when no --set is given.", align="lllll")
