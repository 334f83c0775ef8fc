"""The run directory and the Optuna storage: the single source of truth for trials.

Trials live in the storage (SQLite in the run directory unless the spec names another URL); the
directory holds the manifest (spec, hash, versions, commit, hardware) and the exported frames.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import warnings
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import torch

from harness.budget import counts_against_budget
from harness.errors import HarnessError
from harness.plan import Cell, Plan

PACKAGES = ("torch", "torchvision", "optuna", "numpy", "pandas", "scikit-learn", "transformers", "tokenizers")
HEARTBEAT_SECONDS = 60


def package_versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def git_commit(where: Path) -> str | None:
    """The harness checkout's commit, with `+dirty` when it has uncommitted changes."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def hardware(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                            "device": str(device)}
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


class RunStore:
    """One run: its directory under `runs_root/<spec name>` and its Optuna storage."""

    def __init__(self, plan: Plan, runs_root: Path) -> None:
        self.plan = plan
        self.dir = Path(runs_root) / plan.spec.name
        self.url = plan.spec.storage or f"sqlite:///{(self.dir / 'studies.db').resolve()}"
        self._storage: optuna.storages.BaseStorage | None = None

    @property
    def manifest_path(self) -> Path:
        return self.dir / "manifest.json"

    def check_same_spec(self) -> None:
        """Refuse to mix two different specs in one run directory or study; nothing existing is touched."""
        spec_hash = self.plan.spec.hash()
        if self.manifest_path.exists():
            recorded = json.loads(self.manifest_path.read_text())["spec_hash"]
            if recorded != spec_hash:
                raise HarnessError(f"{self.dir} holds a run of another spec (hash {recorded}, this spec {spec_hash}); "
                                   "give this spec another `name:` or use --runs-dir")
        names = {self.study_name(cell) for cell in self.plan.cells}
        for summary in optuna.get_all_study_summaries(self.storage):
            recorded = summary.user_attrs.get("spec_hash")
            if summary.study_name in names and recorded != spec_hash:
                raise HarnessError(f"storage {self.url} already holds study {summary.study_name!r} of another spec "
                                   f"(hash {recorded}, this spec {spec_hash}); give this spec another `name:`")

    def record_session(self, device: torch.device) -> None:
        """Write the manifest on the first session; later sessions (resumes) are appended to it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        session = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   "packages": package_versions(), "git_commit": git_commit(Path(__file__).parent),
                   "hardware": hardware(device)}
        if self.manifest_path.exists():
            manifest = json.loads(self.manifest_path.read_text())
        else:
            manifest = {"spec": self.plan.spec.model_dump(mode="json"), "spec_hash": self.plan.spec.hash(),
                        "storage": self.url, "sessions": []}
        manifest["storage"] = self.url  # the latest session's, which a report reads
        manifest["sessions"].append(session)
        self.manifest_path.write_text(json.dumps(manifest, indent=2))

    @property
    def storage(self) -> optuna.storages.BaseStorage:
        if self._storage is None:
            if self.plan.spec.storage is None:
                self.dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
            self._storage = open_storage(self.url)
        return self._storage

    def study_name(self, cell: Cell) -> str:
        """Prefixed with the run's name, so many runs can share one database."""
        return f"{self.plan.spec.name}/{cell.study_name}"

    def study(self, cell: Cell) -> optuna.Study:
        """The cell's study, created on first use and labelled with its cell so reports need no plan."""
        study = optuna.create_study(storage=self.storage, study_name=self.study_name(cell), direction="maximize",
                                    load_if_exists=True)
        if not study.user_attrs:
            for key, value in {"task": cell.task.label, "strategy": cell.strategy.label, "seed": cell.seed,
                               "spec_hash": self.plan.spec.hash()}.items():
                study.set_user_attr(key, value)
        return study

    def existing_trials(self, cell: Cell) -> list[optuna.trial.FrozenTrial]:
        """The cell's trials, or none if its study does not exist yet."""
        if self.study_name(cell) not in optuna.get_all_study_names(self.storage):
            return []
        return optuna.load_study(study_name=self.study_name(cell), storage=self.storage).get_trials(deepcopy=False)


def open_storage(url: str) -> optuna.storages.BaseStorage:
    """The RDB storage, with heartbeats so a trial whose process died can be recognised."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS)
    except Exception as error:  # SQLAlchemy raises many kinds; all mean the same to the user
        raise HarnessError(f"cannot open storage {url}: {type(error).__name__}: {error}") from None


def frames(storage: optuna.storages.BaseStorage, spec_hash: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tidy results frame (one row per trial that spent budget) and curves frame (one row per trial-epoch).

    Read from the storage alone (each study's user attributes name its run and cell), so a report
    needs neither the spec nor the plugins that ran it.
    """
    rows, curve_rows = [], []
    for summary in optuna.get_all_study_summaries(storage):
        if summary.user_attrs.get("spec_hash") != spec_hash:
            continue  # another run sharing the database
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        cell = {k: study.user_attrs[k] for k in ("task", "strategy", "seed")}
        for trial in filter(counts_against_budget, study.get_trials(deepcopy=False)):
            key = {**cell, "trial": trial.number}
            attrs = trial.user_attrs
            curve = attrs.get("curve", [])
            rows.append({**key, "state": trial.state.name,
                         "val_accuracy": trial.value if trial.value is not None else math.nan,
                         "test_accuracy": attrs.get("test_accuracy", math.nan),
                         "epochs": len(curve), "seconds": trial.duration.total_seconds() if trial.duration else math.nan,
                         "train_seed": attrs.get("train_seed"), "fail_reason": attrs.get("fail_reason"),
                         "device_seconds": attrs.get("device_seconds", math.nan),
                         "energy_joules": attrs.get("energy_joules", math.nan),
                         **{f"param_{k}": v for k, v in attrs.get("config", trial.params).items()}})
            curve_rows += [{**key, **record} for record in curve]
    return pd.DataFrame(rows), pd.DataFrame(curve_rows)
