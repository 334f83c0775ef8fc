"""Base for plugin objects whose fields are their spec options (tasks, strategies)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Options(BaseModel):
    """Frozen and strict: a misspelt option in a spec is an error, never silently ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")
