"""The thing document a query is evaluated against, and reading field values out of it.

A thing document is a plain dict. The emulator builds exactly this shape, holding only what the indexing
configuration indexes (``shadow`` is ``None`` under REGISTRY indexing, ``name`` holds only the named shadows
in the filter, ``connectivity`` is ``None`` when connectivity indexing is OFF)::

    {
        "thingName": str,
        "thingId": str,
        "thingTypeName": str | None,
        "thingGroupNames": [str, ...],
        "attributes": {str: str, ...},
        "shadow": {
            "reported": {...}, "desired": {...}, "delta": {...},   # JSON objects, any depth
            "hasDelta": bool,
            "version": int,
            "name": {
                "<shadowName>": {"reported": {...}, "desired": {...}, "delta": {...},
                                 "hasDelta": bool, "version": int},
            },
        } | None,
        "connectivity": {"connected": bool, "timestamp": int (epoch ms), "disconnectReason": str} | None,
    }

Any key may be missing; a missing key simply has no value. Shadow values are JSON: strings, numbers,
booleans, nested objects and arrays. A key path walks nested objects (``shadow.reported.a.b.c``), walks
into every element of an array on the way, and at the end yields every element of an array, so a term
matches a thing when any array element matches. A JSON key that itself contains dots is found too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iotfleet.query.fields import SHADOW_SCALARS, SHADOW_SECTIONS, FieldSpec, resolve_field

ThingDocument = dict[str, Any]
Scalar = str | int | float | bool
ValueReader = Callable[[ThingDocument], list[Any]]


def field_values(doc: ThingDocument, field: str | FieldSpec) -> list[Scalar]:
    """Every scalar value ``doc`` holds for ``field`` (arrays flattened; objects and nulls left out).

    >>> field_values({"shadow": {"reported": {"temp": [20, 21]}}}, "shadow.reported.temp")
    [20, 21]
    """
    spec = field if isinstance(field, FieldSpec) else resolve_field(field)
    return scalars(raw_reader(spec)(doc))


def raw_reader(spec: FieldSpec) -> ValueReader:
    """A function returning the raw JSON nodes found at ``spec`` in a document (objects included)."""
    if spec.source == "registry":
        key = spec.key
        return lambda doc: _present([doc.get(key)])
    if spec.source == "attributes":
        key = spec.key
        return lambda doc: _present([(doc.get("attributes") or {}).get(key)])
    if spec.source == "connectivity":
        key = spec.key
        return lambda doc: _present([(doc.get("connectivity") or {}).get(key)])
    return _shadow_reader(spec)


def _shadow_reader(spec: FieldSpec) -> ValueReader:
    shadow_name, key, path = spec.shadow_name, spec.key, spec.path

    def read(doc: ThingDocument) -> list[Any]:
        shadow = doc.get("shadow")
        if shadow and shadow_name is not None:
            shadow = (shadow.get("name") or {}).get(shadow_name)
        if not shadow:
            return []
        if key in SHADOW_SCALARS:
            return _present([shadow.get(key)])
        found: list[Any] = []
        _walk(shadow.get(key), path, 0, found)
        return _present(found)

    return read


def _walk(node: Any, path: tuple[str, ...], index: int, found: list[Any]) -> None:
    if node is None:
        return
    if index == len(path):
        found.append(node)
        return
    if isinstance(node, list):
        for element in node:
            _walk(element, path, index, found)
        return
    if not isinstance(node, dict):
        return
    if path[index] in node:
        _walk(node[path[index]], path, index + 1, found)
    for key in node:
        if "." in key:
            parts = tuple(key.split("."))
            if path[index : index + len(parts)] == parts:
                _walk(node[key], path, index + len(parts), found)


def _present(values: list[Any]) -> list[Any]:
    return [value for value in values if value is not None]


def scalars(nodes: list[Any]) -> list[Scalar]:
    """The scalar values among ``nodes``, with arrays (at any depth) flattened and objects dropped."""
    out: list[Scalar] = []
    stack = list(reversed(nodes))
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(reversed(node))
        elif node is not None and not isinstance(node, dict):
            out.append(node)
    return out


def has_leaf(nodes: list[Any]) -> bool:
    """Whether any scalar value sits anywhere under ``nodes`` (objects searched too): ``field:*``."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif node is not None:
            return True
    return False


def searchable_values(doc: ThingDocument) -> list[Scalar]:
    """What a bare term (no field) is matched against.

    AWS searches "all the registry, Device Shadow and Device Defender fields". Here that is thingName,
    thingId, thingTypeName, thingGroupNames, attribute values, and every value in the reported, desired
    and delta sections of the classic and named shadows. Shadow ``hasDelta``/``version`` and connectivity
    are not searched (they are status, not content).
    """
    nodes: list[Any] = [doc.get("thingName"), doc.get("thingId"), doc.get("thingTypeName")]
    nodes.append(doc.get("thingGroupNames") or [])
    nodes.extend((doc.get("attributes") or {}).values())
    shadow = doc.get("shadow")
    if shadow:
        shadows = [shadow, *(shadow.get("name") or {}).values()]
        for one in shadows:
            for section in SHADOW_SECTIONS:
                nodes.append(one.get(section))
    return _all_leaves(nodes)


def _all_leaves(nodes: list[Any]) -> list[Scalar]:
    out: list[Scalar] = []
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif node is not None:
            out.append(node)
    return out
