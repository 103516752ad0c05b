"""Input constraints from the botocore model (pattern, min, max) that AWS checks and moto does not.

Only URI labels and top-level strings are checked, which covers names (things, groups, jobs,
packages) where a bad value must give AWS's 400, not a resource with an impossible name.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.model import OperationModel

from iotfleet.emulator.errors import InvalidRequestException


@dataclass(frozen=True)
class _Constraint:
    member: str
    wire: str
    pattern: re.Pattern[str] | None
    pattern_text: str
    min_length: int | None
    max_length: int | None

    def check(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if self.min_length is not None and len(value) < self.min_length:
            return f"Member must have length greater than or equal to {self.min_length}"
        if self.max_length is not None and len(value) > self.max_length:
            return f"Member must have length less than or equal to {self.max_length}"
        if self.pattern is not None and self.pattern.fullmatch(value) is None:
            return f"Member must satisfy regular expression pattern: {self.pattern_text}"
        return None


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern)
    except re.error:
        return None  # Java-only syntax such as \p{...}; skip rather than guess


@functools.cache
def _constraints(operation: OperationModel) -> tuple[tuple[_Constraint, ...], tuple[_Constraint, ...]]:
    """(label constraints, top-level body string constraints) of an operation."""
    labels: list[_Constraint] = []
    body: list[_Constraint] = []
    shape = operation.input_shape
    if shape is None:
        return (), ()
    for name, member in shape.members.items():
        if member.type_name != "string":
            continue
        meta = member.metadata
        if not any(k in meta for k in ("pattern", "min", "max")):
            continue
        constraint = _Constraint(
            member=name,
            wire=member.serialization.get("name", name),
            pattern=_compile(meta.get("pattern")),
            pattern_text=meta.get("pattern", ""),
            min_length=meta.get("min"),
            max_length=meta.get("max"),
        )
        location = member.serialization.get("location")
        if location == "uri":
            labels.append(constraint)
        elif location is None:
            body.append(constraint)
    return tuple(labels), tuple(body)


def _fail(member: str, value: str, problem: str) -> InvalidRequestException:
    return InvalidRequestException(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {problem}"
    )


def check_labels(operation: OperationModel, labels: Mapping[str, str]) -> None:
    """Raise InvalidRequestException when a URI label breaks its model constraints."""
    for constraint in _constraints(operation)[0]:
        value = labels.get(constraint.wire)
        if value is not None:
            problem = constraint.check(value)
            if problem:
                raise _fail(constraint.member, value, problem)


def check_params(operation: OperationModel, params: Mapping[str, Any]) -> None:
    """Raise InvalidRequestException when a top-level string param breaks its model constraints."""
    for constraint in _constraints(operation)[1]:
        value = params.get(constraint.member)
        if value is not None:
            problem = constraint.check(value)
            if problem:
                raise _fail(constraint.member, value, problem)
