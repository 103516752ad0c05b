"""IoT policy evaluation for the MQTT endpoint: what a connected certificate may do, as AWS IoT decides it.

A request (``iot:Connect`` on ``client/<clientId>``, ``iot:Publish``, ``iot:Receive`` and
``iot:RetainPublish`` on ``topic/<topic>``, ``iot:Subscribe`` on ``topicfilter/<filter>``) is allowed when a
statement of one of the principal's policies (their default versions) allows it and none denies it;
otherwise it is denied. Actions and resources match with ``*`` (any characters, ``/`` included) and ``?``
(one character); MQTT's ``+`` and ``#`` are literal characters in a policy, as on AWS.

What is evaluated, and nothing else (:func:`unsupported_feature` names anything else at CreatePolicy, so a
policy the emulator cannot evaluate is never silently allowed or denied):

* policy variables ``${iot:ClientId}``, ``${iot:Connection.Thing.ThingName}``, ``.ThingTypeName``,
  ``.Attributes[<name>]``, ``.IsAttached``, ``${iot:Certificate.Subject.<attribute>}`` and
  ``${iot:Certificate.Issuer.<attribute>}`` (CommonName, Organization, OrganizationalUnit, Country, State,
  Locality, SerialNumber), and the literal escapes ``${*}``, ``${?}``, ``${$}``. The thing variables stand
  for the registry thing named by the client id, and are unresolved (the resource cannot match) when there
  is no such thing;
* conditions on those keys with the string, ARN and ``Bool`` operators (``...IfExists`` too).

Everything a connection's statements depend on is fixed for the connection, so they are compiled once per
connection (and again when its policies change) into regular expressions and decided conditions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from iotfleet.emulator.errors import NotImplementedException

CONNECT = "iot:Connect"
PUBLISH = "iot:Publish"
RECEIVE = "iot:Receive"
SUBSCRIBE = "iot:Subscribe"
RETAIN_PUBLISH = "iot:RetainPublish"

NAME_ATTRIBUTES = {
    "CommonName": NameOID.COMMON_NAME,
    "Organization": NameOID.ORGANIZATION_NAME,
    "OrganizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "Country": NameOID.COUNTRY_NAME,
    "State": NameOID.STATE_OR_PROVINCE_NAME,
    "Locality": NameOID.LOCALITY_NAME,
    "SerialNumber": NameOID.SERIAL_NUMBER,
}
_THING = "iot:Connection.Thing."
_FIXED_KEYS = ("iot:ClientId", f"{_THING}ThingName", f"{_THING}ThingTypeName", f"{_THING}IsAttached")
_ATTRIBUTE_KEY = re.compile(r"^iot:Connection\.Thing\.Attributes\[([^\]]+)\]$")
_CERTIFICATE_KEY = re.compile(r"^iot:Certificate\.(Subject|Issuer)\.(\w+)$")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_ESCAPES = {"*": "*", "?": "?", "$": "$"}
_OPERATORS = frozenset(
    {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase", "StringLike",
     "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike", "Bool"}
)  # fmt: skip
_NEGATED = frozenset({"StringNotEquals", "StringNotEqualsIgnoreCase", "StringNotLike", "ArnNotEquals", "ArnNotLike"})


def supported_key(key: str) -> bool:
    if key in _FIXED_KEYS or _ATTRIBUTE_KEY.match(key):
        return True
    found = _CERTIFICATE_KEY.match(key)
    return bool(found and found.group(2) in NAME_ATTRIBUTES)


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def unsupported_feature(document: Mapping[str, Any]) -> str | None:
    """What in a (well-formed) policy document the emulator cannot evaluate, or None when it can all be."""
    statements = document.get("Statement")
    for number, statement in enumerate(statements if isinstance(statements, list) else [statements], 1):
        texts = _listed(statement.get("Resource")) + _listed(statement.get("NotResource"))
        for operator, block in (statement.get("Condition") or {}).items():
            base = operator.removesuffix("IfExists")
            if base not in _OPERATORS:
                return f"statement {number}: the condition operator {operator}"
            if not isinstance(block, dict):
                return f"statement {number}: the condition {operator} is not an object of keys"
            for key, values in block.items():
                if not supported_key(key):
                    return f"statement {number}: the condition key {key}"
                texts += [str(value) for value in _listed(values) or [values]]
        for text in texts:
            for name in _VARIABLE.findall(text):
                if name not in _ESCAPES and not supported_key(name):
                    return f"statement {number}: the policy variable ${{{name}}}"
    return None


def check_supported(document: Mapping[str, Any]) -> None:
    """NotImplementedException naming what the emulator cannot evaluate in ``document``."""
    problem = unsupported_feature(document)
    if problem is not None:
        raise NotImplementedException(
            f"The iotfleet emulator does not evaluate {problem} in IoT policies; the policy was not created"
        )


@dataclass(frozen=True)
class ConnectionFacts:
    """What policy variables and conditions may read of one connection."""

    client_id: str
    certificate: x509.Certificate | None
    thing_name: str | None  # the registry thing named by the client id, if it exists
    thing_type: str | None = None
    attributes: Mapping[str, str] | None = None
    is_attached: bool = False

    def value(self, key: str) -> str | None:
        """The value of a policy variable or condition key (None: unresolved)."""
        if key == "iot:ClientId":
            return self.client_id
        if key == f"{_THING}IsAttached":
            return "true" if self.is_attached else "false"
        if key.startswith(_THING) and self.thing_name is None:
            return None
        if key == f"{_THING}ThingName":
            return self.thing_name
        if key == f"{_THING}ThingTypeName":
            return self.thing_type
        attribute = _ATTRIBUTE_KEY.match(key)
        if attribute:
            return (self.attributes or {}).get(attribute.group(1))
        found = _CERTIFICATE_KEY.match(key)
        if found and self.certificate is not None and found.group(2) in NAME_ATTRIBUTES:
            name = self.certificate.subject if found.group(1) == "Subject" else self.certificate.issuer
            values = name.get_attributes_for_oid(NAME_ATTRIBUTES[found.group(2)])
            return str(values[0].value) if values else None
        return None

    def substitute(self, text: str) -> str | None:
        """``text`` with its policy variables replaced, or None when one of them is unresolved."""
        unresolved = False

        def replace(match: re.Match[str]) -> str:
            nonlocal unresolved
            name = match.group(1)
            if name in _ESCAPES:
                return "\x00" + name  # a literal wildcard character, kept apart from the pattern's own
            value = self.value(name)
            if value is None:
                unresolved = True
                return ""
            return value

        out = _VARIABLE.sub(replace, text)
        return None if unresolved else out


class _Pattern:
    """An action or resource pattern: ``*`` any characters, ``?`` one (a literal from ``${*}``/``${?}`` is
    kept apart by a NUL before it). Plain strings and ``*``-only globs are matched without regular expressions:
    a connection compiles a handful of these, and thousands of devices connect."""

    __slots__ = ("exact", "parts", "regex")

    def __init__(self, text: str, *, ignore_case: bool = False) -> None:
        self.exact: str | None = None
        self.parts: list[str] | None = None
        self.regex: re.Pattern[str] | None = None
        if ignore_case:
            text = text.lower()
        escaped = "\x00" in text
        if "?" not in text and not escaped:
            if "*" not in text:
                self.exact = text
            else:
                self.parts = text.split("*")
            return
        pieces = []
        index = 0
        while index < len(text):
            char = text[index]
            if char == "\x00":
                pieces.append(re.escape(text[index + 1]))
                index += 2
                continue
            pieces.append(".*" if char == "*" else "." if char == "?" else re.escape(char))
            index += 1
        self.regex = re.compile("".join(pieces), re.DOTALL | (re.IGNORECASE if ignore_case else 0))

    def fullmatch(self, value: str) -> bool:
        if self.exact is not None:
            return value == self.exact
        if self.parts is not None:
            parts = self.parts
            if not value.startswith(parts[0]) or len(value) < len(parts[0]) + len(parts[-1]):
                return False
            end = len(value) - len(parts[-1])
            if not value.endswith(parts[-1]):
                return False
            position = len(parts[0])
            for middle in parts[1:-1]:
                found = value.find(middle, position, end)
                if found < 0:
                    return False
                position = found + len(middle)
            return True
        assert self.regex is not None
        return self.regex.fullmatch(value) is not None


def _pattern(text: str, *, ignore_case: bool = False) -> _Pattern:
    return _Pattern(text, ignore_case=ignore_case)


def _condition_holds(operator: str, key: str, values: Any, facts: ConnectionFacts) -> bool:
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    actual = facts.value(key)
    if actual is None:
        return if_exists or base in _NEGATED
    wanted = [facts.substitute(str(v)) for v in (_listed(values) or [values])]
    candidates = [w for w in wanted if w is not None]
    if base == "Bool":
        hit = any(actual.lower() == w.lower() for w in candidates)
    elif base in ("StringEquals", "StringNotEquals", "ArnEquals", "ArnNotEquals"):
        hit = actual in candidates
    elif base in ("StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase"):
        hit = actual.lower() in {w.lower() for w in candidates}
    else:  # the Like operators
        hit = any(_pattern(w).fullmatch(actual) for w in candidates)
    return not hit if base in _NEGATED else hit


@dataclass(frozen=True)
class _Statement:
    allow: bool
    actions: tuple[_Pattern, ...]
    not_action: bool
    resources: tuple[_Pattern, ...]
    not_resource: bool

    def applies(self, action: str, resource: str) -> bool:
        lowered = action.lower()
        acted = any(p.fullmatch(lowered) for p in self.actions)
        if acted == self.not_action:
            return False
        hit = any(p.fullmatch(resource) for p in self.resources)
        return hit != self.not_resource


class Authorizer:
    """The compiled statements of a principal's policy documents for one connection."""

    def __init__(self, documents: Iterable[Mapping[str, Any]], facts: ConnectionFacts) -> None:
        self.facts = facts
        self._statements: list[_Statement] = []
        self._cache: dict[tuple[str, str], bool] = {}
        for document in documents:
            statements = document.get("Statement")
            for statement in statements if isinstance(statements, list) else [statements]:
                compiled = self._compile(statement)
                if compiled is not None:
                    self._statements.append(compiled)

    def _compile(self, statement: Mapping[str, Any]) -> _Statement | None:
        for operator, block in (statement.get("Condition") or {}).items():
            for key, values in block.items():
                if not _condition_holds(operator, key, values, self.facts):
                    return None
        not_action = "NotAction" in statement
        not_resource = "NotResource" in statement
        actions = tuple(
            _pattern(a, ignore_case=True) for a in _listed(statement.get("NotAction" if not_action else "Action"))
        )
        resources = []
        for text in _listed(statement.get("NotResource" if not_resource else "Resource")):
            substituted = self.facts.substitute(text)
            if substituted is not None:
                resources.append(_pattern(substituted))
        return _Statement(statement.get("Effect") == "Allow", actions, not_action, tuple(resources), not_resource)

    def allows(self, action: str, resource: str) -> bool:
        key = (action, resource)
        found = self._cache.get(key)
        if found is None:
            applying = [s.allow for s in self._statements if s.applies(action, resource)]
            found = bool(applying) and all(applying)
            if len(self._cache) < 4096:
                self._cache[key] = found
        return found
