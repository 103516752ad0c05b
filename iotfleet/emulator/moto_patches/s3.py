"""S3 in moto: bucket policies evaluated with the request's transport (``aws:SecureTransport``).

moto ignores conditions when it checks a bucket policy, so a statement that denies requests without
TLS (``aws:SecureTransport`` false), as iotfleet's buckets have, denied every request. The front app
says whether a request counts as sent over TLS (:data:`SECURE_TRANSPORT_KEY`); the gateway records it
in :data:`transport` for the request moto is handling, and the fixed ``FakeBucket.get_permission``
evaluates the statements with it.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from typing import Any

import moto.s3.models as _s3_models
from moto.iam.access_control import PermissionResult
from moto.s3.models import S3Backend

SECURE_TRANSPORT_KEY = "iotfleet.secure_transport"
"""Environ key the front app sets when a request counts as sent over TLS (``aws:SecureTransport``)."""

# The moto functions as shipped; the accessors read objects with get_object.
ORIGINALS: dict[str, Any] = {
    "S3Backend.get_object": S3Backend.get_object,
    "FakeBucket.get_permission": _s3_models.FakeBucket.get_permission,
}
EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "S3Backend.get_object": ("bucket_name", "key_name", "version_id"),
    "FakeBucket.get_permission": ("action", "resource"),
}


class _Transport(threading.local):
    secure = False


transport = _Transport()
"""The transport of the request moto is handling (moto runs under the global lock, one request at a time)."""


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _applies(statement: dict[str, Any], element: str, value: str) -> bool:
    """Whether ``Action``/``Resource`` (or their ``Not`` forms) of a statement cover ``value``."""
    if element in statement:
        return any(_glob(str(p), value) for p in _as_list(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_glob(str(p), value) for p in _as_list(statement[negated]))
    return element == "Resource"


def _condition_holds(condition: dict[str, Any], secure: bool) -> bool:
    """Conditions the emulator can evaluate: ``Bool`` on ``aws:SecureTransport``. Any other condition
    is treated as not holding, so a statement that needs it does not apply."""
    for operator, entries in condition.items():
        if operator != "Bool" or not isinstance(entries, dict):
            return False
        for key, expected in entries.items():
            if key.lower() != "aws:securetransport":
                return False
            wanted = {str(v).lower() for v in _as_list(expected)}
            if ("true" if secure else "false") not in wanted:
                return False
    return True


def bucket_policy_permission(policy: dict[str, Any], action: str, resource: str, secure: bool) -> Any:
    """moto's PermissionResult of a bucket policy for one request: an explicit deny wins, then an allow."""
    permitted = False
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        principal = statement.get("Principal", "*")
        if principal not in ("*", {"AWS": "*"}):
            continue  # a named principal: the emulator's callers are the account itself
        if not (_applies(statement, "Action", action) and _applies(statement, "Resource", resource)):
            continue
        if not _condition_holds(statement.get("Condition") or {}, secure):
            continue
        if statement.get("Effect") == "Deny":
            return PermissionResult.DENIED
        permitted = permitted or statement.get("Effect") == "Allow"
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL


def apply() -> None:
    """Evaluate bucket policies with the request's transport, skipping statements whose condition does not hold."""

    def get_permission(self: _s3_models.FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return bucket_policy_permission(json.loads(self.policy), action, resource, transport.secure)

    _s3_models.FakeBucket.get_permission = get_permission  # type: ignore[method-assign]
