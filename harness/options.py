"""Base for plugin objects whose fields are their spec options (tasks, strategies)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Options(BaseModel):
    """Frozen and strict: a misspelt option in a spec is an error, never silently ignored, and so is a value of
    another type (`true` or `2.0` for an integer, `1` or "yes" for a boolean, "3" for a number); an integer
    stays a number where a float is asked."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
