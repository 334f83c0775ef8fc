"""A trial's attributes written together: one storage transaction for several, not one each.

Optuna writes each `set_user_attr` in a transaction of its own (a commit on a database, a locked
append and a sync to disk on a journal file), and a trial records about ten attributes, so over
hundreds of short trials these writes were a large part of what the harness spends around
training. Here the attributes of one record (the configuration and seed; the cost and test
scores) are written together, through Optuna's own write path: in one transaction on a database,
in one append on the harness's journal file, one by one on other storages. Each record is durable
once written, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import optuna
from optuna.storages._rdb import models  # Optuna's tables; the write path below is its own set_trial_user_attr's
from optuna.storages._rdb.storage import _create_scoped_session

from harness.journal import HeartbeatJournalStorage
from harness.patience import backend_of, patiently

NONE: Mapping[str, Any] = MappingProxyType({})


def write_trial_attrs(storage: optuna.storages.BaseStorage, trial_id: int, user: Mapping[str, Any] = NONE,
                      system: Mapping[str, Any] = NONE) -> None:
    """Set several user and system attributes of a running trial together (see above)."""
    backend = backend_of(storage)
    if isinstance(backend, HeartbeatJournalStorage):
        backend.set_trial_attrs(trial_id, user, system)
    elif isinstance(backend, optuna.storages.RDBStorage):
        patiently(backend, write_in_one_transaction, backend, trial_id, user, system)
    else:
        for key, value in user.items():
            storage.set_trial_user_attr(trial_id, key, value)
        for key, value in system.items():
            storage.set_trial_system_attr(trial_id, key, value)


def write_in_one_transaction(storage: optuna.storages.RDBStorage, trial_id: int, user: Mapping[str, Any],
                             system: Mapping[str, Any]) -> None:
    with _create_scoped_session(storage.scoped_session, True) as session:
        for table, attrs in ((models.TrialUserAttributeModel, user), (models.TrialSystemAttributeModel, system)):
            for key, value in attrs.items():
                storage._set_trial_attr_without_commit(session, table, trial_id, key, value)


def set_user_attrs(trial: optuna.Trial, attrs: Mapping[str, Any]) -> None:
    """`trial.set_user_attr` for several attributes at once; `trial.user_attrs` shows them as it would."""
    write_trial_attrs(trial.storage, trial._trial_id, user=attrs)
    trial._cached_frozen_trial.user_attrs.update(attrs)
