"""Repeated, comma-separated flag values (``--only jobs,things --only groups``), split by one rule.

A value that names nothing (``""``, ``" "``, ``","``) is refused rather than skipped: it is almost always a
script variable that expanded to nothing, and reading it as "no filter" would widen what a command acts on
(a cleanup of everything instead of some kinds, a group of every country instead of some).
"""

from __future__ import annotations

from collections.abc import Iterable

from iotfleet.aws.errors import UsageError


def split_values(values: Iterable[str] | str, param: str, what: str = "value") -> list[str]:
    """Every comma-separated item of ``values``, stripped, in order; a value with no item is a usage error."""
    if isinstance(values, str):
        values = [values]
    items: list[str] = []
    for value in values:
        found = [part.strip() for part in value.split(",") if part.strip()]
        if not found:
            raise UsageError(f"{param} {value!r} names no {what}: give at least one, or leave {param} out", param)
        items.extend(found)
    return items
