"""Input constraints from the botocore model that AWS checks on the server and moto does not.

Every rest-json request is checked against its input shape before it reaches a handler or moto:
string patterns and lengths, enum values, number ranges, list and map sizes, map keys and values,
nested structures. A violation is answered the way AWS does, e.g. ``InvalidRequestException: 1
validation error detected: Value 'a b' at 'thingName' failed to satisfy constraint: Member must
satisfy regular expression pattern: [a-zA-Z0-9:_-]+`` (``ValidationException`` for operations whose
model uses that code, such as the package catalog). botocore itself checks only required members
and minimums on the client side.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from iotfleet.emulator.errors import InvalidRequestException, ServiceError, ValidationException

MAX_REPORTED = 5


@functools.cache
def _pattern(text: str) -> re.Pattern[str] | None:
    try:
        return re.compile(text)
    except re.error:
        return None  # Java-only syntax such as \p{...}: not checked rather than guessed


def _scalar_problem(shape: Shape, value: Any) -> str | None:
    meta = shape.metadata
    kind = shape.type_name
    if kind == "string" and isinstance(value, str):
        enum = meta.get("enum")
        if enum and value not in enum:
            return f"Member must satisfy enum value set: [{', '.join(enum)}]"
        if "min" in meta and len(value) < meta["min"]:
            return f"Member must have length greater than or equal to {meta['min']}"
        if "max" in meta and len(value) > meta["max"]:
            return f"Member must have length less than or equal to {meta['max']}"
        pattern = meta.get("pattern")
        if pattern:
            compiled = _pattern(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                return f"Member must satisfy regular expression pattern: {pattern}"
    elif kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "min" in meta and value < meta["min"]:
            return f"Member must have value greater than or equal to {meta['min']}"
        if "max" in meta and value > meta["max"]:
            return f"Member must have value less than or equal to {meta['max']}"
    return None


def _collect(shape: Shape, value: Any, path: str, problems: list[tuple[str, Any, str]]) -> None:
    if value is None or len(problems) >= MAX_REPORTED:
        return
    meta = shape.metadata
    if isinstance(shape, StructureShape):
        if not isinstance(value, Mapping):
            return
        for name, member in shape.members.items():
            if name in value:
                _collect(member, value[name], f"{path}.{name}" if path else name, problems)
        return
    if isinstance(shape, (ListShape, MapShape)):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            problems.append((path, value, f"Member must have length greater than or equal to {meta['min']}"))
        elif "max" in meta and size > meta["max"]:
            problems.append((path, value, f"Member must have length less than or equal to {meta['max']}"))
        if isinstance(shape, ListShape) and isinstance(value, list):
            for index, item in enumerate(value):
                _collect(shape.member, item, f"{path}.{index + 1}.member", problems)
        elif isinstance(shape, MapShape) and isinstance(value, Mapping):
            for key, item in value.items():
                _collect(shape.key, key, f"{path}.{key}.key", problems)
                _collect(shape.value, item, f"{path}.{key}.value", problems)
        return
    problem = _scalar_problem(shape, value)
    if problem:
        problems.append((path, value, problem))


@functools.cache
def _error_code(operation: OperationModel) -> type[ServiceError]:
    names = {error.name for error in operation.error_shapes}
    if "ValidationException" in names and "InvalidRequestException" not in names:
        return ValidationException
    return InvalidRequestException


def _shown(value: Any) -> str:
    if isinstance(value, (list, dict)):
        return "[" + ", ".join(map(str, value)) + "]" if isinstance(value, list) else str(value)
    return str(value)


def check_params(operation: OperationModel, params: Mapping[str, Any]) -> None:
    """Raise the operation's validation error when ``params`` break the model's constraints."""
    shape = operation.input_shape
    if shape is None:
        return
    problems: list[tuple[str, Any, str]] = []
    _collect(shape, params, "", problems)
    if not problems:
        return
    details = "; ".join(
        f"Value '{_shown(value)}' at '{path}' failed to satisfy constraint: {problem}" for path, value, problem in problems
    )
    count = len(problems)
    raise _error_code(operation)(f"{count} validation error{'s' if count > 1 else ''} detected: {details}")

