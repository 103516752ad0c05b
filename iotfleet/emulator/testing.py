"""Contract checks for tests: does a boto3-parsed response fit botocore's output shape?

    from iotfleet.emulator.testing import assert_valid_output

    response = iot.describe_thing(thingName="pump-1")
    assert_valid_output(iot, "describe_thing", response)

It checks required members, member types (timestamps are datetimes, blobs bytes, integers not
booleans), enum values, and nested structures, lists and maps, and fails with the exact path of the
first problem, e.g. ``DescribeThing: thing.attributes['a']: expected string, got int 3``. botocore's
parser accepts almost anything the server sends, so this is where emulator answers that would
break other SDKs (or strict code) show up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from botocore.client import BaseClient
from botocore.model import ListShape, MapShape, Shape, StructureShape
from botocore.response import StreamingBody


class OutputShapeError(AssertionError):
    """A response does not fit the operation's output shape; the message gives the path."""


_SCALARS: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "character": (str,),
    "integer": (int,),
    "long": (int,),
    "short": (int,),
    "byte": (int,),
    "float": (float, int),
    "double": (float, int),
    "bigdecimal": (float, int),
    "biginteger": (int,),
    "boolean": (bool,),
    "timestamp": (dt.datetime,),
    "blob": (bytes, bytearray, StreamingBody),
}
_TYPE_NAMES = {"integer": "integer", "long": "integer", "float": "number", "double": "number"}


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    if value is None:
        problems.append(f"{path}: null where a {shape.type_name} is expected")
        return
    if isinstance(shape, StructureShape):
        if shape.metadata.get("document"):
            return
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected structure {shape.name}, got {_describe(value)}")
            return
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}.{name}: required member missing" if path else f"{name}: required member missing")
        for name, item in value.items():
            if name == "ResponseMetadata" and not path:
                continue
            where = f"{path}.{name}" if path else name
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{where}: not a member of {shape.name}")
                continue
            _check(member, item, where, problems)
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(f"{path}: expected list, got {_describe(value)}")
            return
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, Mapping):
            problems.append(f"{path}: expected map, got {_describe(value)}")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{path} key {key!r}", problems)
            _check(shape.value, item, f"{path}[{key!r}]", problems)
        return
    expected = _SCALARS.get(shape.type_name)
    if expected is None:
        return
    if shape.type_name != "boolean" and isinstance(value, bool):
        problems.append(f"{path}: expected {_TYPE_NAMES.get(shape.type_name, shape.type_name)}, got {_describe(value)}")
        return
    if not isinstance(value, expected):
        problems.append(f"{path}: expected {_TYPE_NAMES.get(shape.type_name, shape.type_name)}, got {_describe(value)}")
        return
    enum = shape.enum if shape.type_name == "string" else None
    if enum and value not in enum:
        problems.append(f"{path}: {value!r} is not one of {', '.join(enum)}")
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        problems.append(f"{path}: timestamp without a time zone")


def output_problems(client: BaseClient, operation_name: str, response: Mapping[str, Any]) -> list[str]:
    """Every mismatch between ``response`` and the output shape of ``operation_name`` (snake or API name)."""
    api_name = client.meta.method_to_api_mapping.get(operation_name, operation_name)
    operation = client.meta.service_model.operation_model(api_name)
    shape = operation.output_shape
    if shape is None:
        extra = [key for key in response if key != "ResponseMetadata"]
        return [f"{key}: the operation has no output" for key in extra]
    problems: list[str] = []
    _check(shape, response, "", problems)
    return problems


def assert_valid_output(client: BaseClient, operation_name: str, response: Mapping[str, Any]) -> None:
    """Fail with every mismatch (and its path) between ``response`` and the operation's output shape."""
    problems = output_problems(client, operation_name, response)
    if problems:
        api_name = client.meta.method_to_api_mapping.get(operation_name, operation_name)
        raise OutputShapeError(f"{api_name}: " + "; ".join(problems))
