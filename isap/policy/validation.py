"""Checking a policy that is not the defaults, with pydantic.

`isap.policy.Policy` is a plain frozen dataclass, so that a command using the
defaults never imports pydantic (docs/performance.md).  A policy file, or a
`Policy(...)` with values of its own, is checked here by a pydantic model made
from the dataclass's own fields: their types, limits and descriptions are
declared once, on `Policy`, and this model cannot drift from them.
"""

from __future__ import annotations

import functools
import typing
from dataclasses import fields
from typing import Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field, create_model, field_validator

from isap.policy import FIELD_CHECKS, Policy


def _validator(check: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def run(cls: Any, value: Any) -> Any:
        return check(value)

    return run


@functools.cache
def policy_model() -> type[BaseModel]:
    """The pydantic model of `Policy`: the same fields, defaults, descriptions and limits, no unknown field."""
    hints = typing.get_type_hints(Policy)
    declared: dict[str, Any] = {
        f.name: (hints[f.name], Field(f.default, description=f.metadata["description"], **f.metadata["limits"]))
        for f in fields(Policy)
    }
    checks = {f"_check_{name}": field_validator(name)(_validator(check)) for name, check in FIELD_CHECKS.items()}
    return create_model("Policy", __config__=ConfigDict(frozen=True, extra="forbid"), __validators__=checks,
                        **declared)


def validated(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every field's value, `values` checked and given their fields' types over the defaults; raises pydantic's
    ValidationError naming each field that is wrong and why."""
    model = policy_model()(**values)
    return {name: getattr(model, name) for name in type(model).model_fields}
