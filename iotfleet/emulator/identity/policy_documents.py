"""IoT policy documents: the checks CreatePolicy and CreatePolicyVersion make before storing one.

AWS IoT refuses, with ``MalformedPolicyException``, a document that is not a JSON object, has no
``Version`` of the policy language (``2012-10-17``; ``2008-10-17`` is still read), or no ``Statement``
whose entries each have an ``Effect`` (Allow or Deny), an ``Action`` (or ``NotAction``) and a
``Resource`` (or ``NotResource``), as strings or non-empty lists of strings, with an optional ``Sid`` and
``Condition``. Actions name an ``iot:`` or ``greengrass:`` action (wildcards allowed) or are ``*``. A
document may hold at most 2,048 characters, whitespace not counted.
"""

from __future__ import annotations

import json
import re
from typing import Any

from iotfleet.emulator.errors import NamedServiceError

VERSIONS = ("2012-10-17", "2008-10-17")
EFFECTS = ("Allow", "Deny")
MAX_CHARACTERS = 2048
_ACTION = re.compile(r"\*|(?:iot|greengrass):[A-Za-z0-9*?]+")
_STATEMENT_KEYS = frozenset({"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"})


class MalformedPolicyException(NamedServiceError):
    code = "MalformedPolicyException"
    status = 400


def check_policy_document(document: Any) -> dict[str, Any]:
    """The parsed document, or MalformedPolicyException naming the first problem."""
    if not isinstance(document, str) or not document.strip():
        raise MalformedPolicyException("The policy document is empty")
    if len(re.sub(r"\s", "", document)) > MAX_CHARACTERS:
        raise MalformedPolicyException(
            f"The policy document has more than {MAX_CHARACTERS} characters (whitespace not counted)"
        )
    try:
        parsed = json.loads(document)
    except ValueError as exc:
        raise MalformedPolicyException(f"The policy document is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise MalformedPolicyException("The policy document must be a JSON object")
    unknown = sorted(set(parsed) - {"Version", "Statement", "Id"})
    if unknown:
        raise MalformedPolicyException(f"Unknown field(s) in the policy document: {', '.join(unknown)}")
    version = parsed.get("Version")
    if version not in VERSIONS:
        raise MalformedPolicyException(
            f"The policy document's Version must be {VERSIONS[0]}, not {version!r}"
            if version is not None
            else "The policy document has no Version"
        )
    statements = parsed.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list) or not statements:
        raise MalformedPolicyException("The policy document needs a Statement: an object or a non-empty list")
    for number, statement in enumerate(statements, 1):
        _check_statement(statement, number)
    return parsed


def _check_statement(statement: Any, number: int) -> None:
    where = f"Statement {number}"
    if not isinstance(statement, dict):
        raise MalformedPolicyException(f"{where} is not a JSON object")
    unknown = sorted(set(statement) - _STATEMENT_KEYS)
    if unknown:
        raise MalformedPolicyException(f"{where} has unknown field(s): {', '.join(unknown)}")
    effect = statement.get("Effect")
    if effect not in EFFECTS:
        raise MalformedPolicyException(f"{where}: Effect must be Allow or Deny, not {effect!r}")
    actions = _one_of(statement, where, "Action", "NotAction")
    for action in actions:
        if _ACTION.fullmatch(action) is None:
            raise MalformedPolicyException(f"{where}: {action!r} is not an AWS IoT action")
    _one_of(statement, where, "Resource", "NotResource")
    condition = statement.get("Condition")
    if condition is not None and not isinstance(condition, dict):
        raise MalformedPolicyException(f"{where}: Condition must be a JSON object")
    sid = statement.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyException(f"{where}: Sid must be a string")


def _one_of(statement: dict[str, Any], where: str, key: str, negated: str) -> list[str]:
    present = [name for name in (key, negated) if name in statement]
    if len(present) != 1:
        raise MalformedPolicyException(
            f"{where} needs exactly one of {key} and {negated}" if present else f"{where} has no {key}"
        )
    value = statement[present[0]]
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
        raise MalformedPolicyException(f"{where}: {present[0]} must be a string or a non-empty list of strings")
    return values
