"""Base for plugin objects whose fields are their spec options (tasks, strategies, executors)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.fields import FieldInfo


class Options(BaseModel):
    """Frozen and strict: a misspelt option in a spec is an error, never silently ignored, and so is a value of
    another type (`true` or `2.0` for an integer, `1` or "yes" for a boolean, "3" for a number); an integer
    stays a number where a float is asked."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    # options inherited from a base class that this one cannot honour, each with the error said when one is set
    # away from its default; `accepted` leaves them out, so listings and error messages never offer them
    unsupported: ClassVar[dict[str, str]] = {}

    @model_validator(mode="after")
    def refuse_unsupported(self) -> Any:
        for name, why in self.unsupported.items():
            if getattr(self, name) != type(self).model_fields[name].default:
                raise ValueError(why)
        return self

    @classmethod
    def accepted(cls) -> dict[str, FieldInfo]:
        """The options a spec may set: every field but the unsupported ones."""
        return {name: field for name, field in cls.model_fields.items() if name not in cls.unsupported}
