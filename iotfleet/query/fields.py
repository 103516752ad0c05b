"""The fields a Fleet Indexing query may name, and what kind of value each holds.

Field names are case-sensitive. The catalogue:

==========================================================  ==========  ==============================
field                                                       value       needs (indexing configuration)
==========================================================  ==========  ==============================
``thingName`` ``thingId`` ``thingTypeName``                 string      REGISTRY
``thingGroupNames``                                         string[]    REGISTRY
``attributes.<name>``                                       string      REGISTRY
``shadow.reported|desired|delta.<key>[.<key>...]``          JSON        REGISTRY_AND_SHADOW
``shadow.hasDelta`` / ``shadow.version``                    bool / int  REGISTRY_AND_SHADOW
``shadow.name.<shadow>.reported|desired|delta.<key>...``    JSON        + named shadow in the filter
``shadow.name.<shadow>.hasDelta`` / ``.version``            bool / int  + named shadow in the filter
``connectivity.connected`` / ``.timestamp``                 bool / int  thingConnectivityIndexingMode
``connectivity.disconnectReason``                           string      STATUS
==========================================================  ==========  ==============================
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from iotfleet.query.errors import UnknownFieldError

Source = Literal["registry", "attributes", "shadow", "named_shadow", "connectivity"]
ValueType = Literal["string", "boolean", "number", "json"]

REGISTRY_FIELDS: dict[str, ValueType] = {
    "thingName": "string",
    "thingId": "string",
    "thingTypeName": "string",
    "thingGroupNames": "string",
}
CONNECTIVITY_FIELDS: dict[str, ValueType] = {
    "connected": "boolean",
    "timestamp": "number",
    "disconnectReason": "string",
}
SHADOW_SECTIONS = ("reported", "desired", "delta")
SHADOW_SCALARS: dict[str, ValueType] = {"hasDelta": "boolean", "version": "number"}
PACKAGE_SHADOW = "$package"

_SHADOW_NAME = re.compile(r"[$a-zA-Z0-9:_-]+")
_FIELD_SHAPES = (
    "thingName",
    "thingId",
    "thingTypeName",
    "thingGroupNames",
    "attributes.<name>",
    "shadow.reported.<key>",
    "shadow.desired.<key>",
    "shadow.delta.<key>",
    "shadow.hasDelta",
    "shadow.version",
    "shadow.name.<shadow>.reported.<key>",
    "shadow.name.<shadow>.hasDelta",
    "connectivity.connected",
    "connectivity.timestamp",
    "connectivity.disconnectReason",
)


@dataclass(frozen=True)
class FieldSpec:
    """A resolved field name.

    ``key`` is the registry or connectivity key, the attribute name, or for shadows the section
    (``reported``/``desired``/``delta``) or scalar (``hasDelta``/``version``); ``path`` is the key path
    inside a shadow section.
    """

    name: str
    source: Source
    value_type: ValueType
    key: str
    path: tuple[str, ...] = ()
    shadow_name: str | None = None

    @property
    def is_package_version(self) -> bool:
        """``shadow.name.$package.reported.<package>.version``: a version string, not a number."""
        return (
            self.shadow_name == PACKAGE_SHADOW
            and self.key in SHADOW_SECTIONS
            and len(self.path) == 2
            and self.path[1] == "version"
        )


def resolve_field(name: str, position: int = 0, query: str | None = None) -> FieldSpec:
    """The :class:`FieldSpec` for ``name``, or :class:`UnknownFieldError` saying what was probably meant."""
    spec = _resolve(name)
    if spec is None:
        raise UnknownFieldError(_unknown_field_message(name), name, position, query)
    return spec


def _resolve(name: str) -> FieldSpec | None:
    if name in REGISTRY_FIELDS:
        return FieldSpec(name, "registry", REGISTRY_FIELDS[name], name)
    head, _, rest = name.partition(".")
    if head == "attributes" and rest:
        return FieldSpec(name, "attributes", "string", rest)
    if head == "connectivity" and rest in CONNECTIVITY_FIELDS:
        return FieldSpec(name, "connectivity", CONNECTIVITY_FIELDS[rest], rest)
    if head == "shadow" and rest:
        if rest.startswith("name."):
            shadow_name, _, inner = rest[len("name.") :].partition(".")
            if not _SHADOW_NAME.fullmatch(shadow_name):
                return None
            return _resolve_shadow(name, inner, shadow_name)
        return _resolve_shadow(name, rest, None)
    return None


def _resolve_shadow(name: str, inner: str, shadow_name: str | None) -> FieldSpec | None:
    source: Source = "shadow" if shadow_name is None else "named_shadow"
    if inner in SHADOW_SCALARS:
        return FieldSpec(name, source, SHADOW_SCALARS[inner], inner, (), shadow_name)
    section, _, key_path = inner.partition(".")
    if section not in SHADOW_SECTIONS or not key_path:
        return None
    path = tuple(key_path.split("."))
    if "" in path:
        return None
    return FieldSpec(name, source, "json", section, path, shadow_name)


def _unknown_field_message(name: str) -> str:
    for shape in _FIELD_SHAPES:
        fixed = shape.split("<", 1)[0]
        if name.lower() == shape.lower() or ("<" in shape and name.lower().startswith(fixed.lower())):
            if not name.startswith(fixed):
                meant = fixed + name[len(fixed) :] if "<" in shape else shape
                return f"unknown field '{name}': field names are case-sensitive, did you mean '{meant}'?"
    head = name.split(".", 1)[0]
    if name in ("attributes", "attributes."):
        return "unknown field 'attributes': name the attribute, e.g. attributes.model"
    if head == "shadow":
        parts = name.split(".")
        section = parts[3:4] if parts[1:2] == ["name"] else parts[1:2]
        if section == ["metadata"]:
            return f"unknown field '{name}': shadow metadata fields are not supported"
        if parts[1:2] == ["name"]:
            return (
                f"unknown field '{name}': expected shadow.name.<shadow>.reported|desired|delta.<key>, "
                "shadow.name.<shadow>.hasDelta or shadow.name.<shadow>.version"
            )
        return (
            f"unknown field '{name}': expected shadow.reported|desired|delta.<key>, shadow.hasDelta, "
            "shadow.version or shadow.name.<shadow>..."
        )
    if head == "connectivity":
        return f"unknown field '{name}': expected connectivity.connected, .timestamp or .disconnectReason"
    if head == "deviceDefender":
        return f"unknown field '{name}': Device Defender fields are not supported"
    candidates = [shape for shape in _FIELD_SHAPES if "<" not in shape]
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    hint = f", did you mean '{close[0]}'?" if close else f"; fields are: {', '.join(_FIELD_SHAPES)}"
    return f"unknown field '{name}'{hint}"
