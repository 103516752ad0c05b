"""The fleet's one IoT policy: what a device's certificate allows it to do, and nothing more.

A device may connect only with its own thing's name as client id, and only while its certificate is
attached to that thing (``iot:Connection.Thing.IsAttached``); it may publish, subscribe and receive only on
its own jobs and shadow topics (``$aws/things/<thing>/jobs/*`` and ``$aws/things/<thing>/shadow/*``,
named shadows included). ``${iot:Connection.Thing.ThingName}`` stands for the connected thing, so the one
policy serves every device and grows with the fleet without a change. There is no wildcard action and no
resource outside the connected thing's own: :func:`least_privilege_problems` checks both.
"""

from __future__ import annotations

import json
from typing import Any

from iotfleet.fleet import naming

THING_VARIABLE = "${iot:Connection.Thing.ThingName}"
TOPIC_AREAS = ("jobs", "shadow")
POLICY_VERSION = "2012-10-17"


def policy_name(fleet: str) -> str:
    """``iotfleet-<fleet>-device``."""
    return naming.POLICY_NAME.check(f"iotfleet-{fleet}-device", "--fleet")


def policy_document(partition: str, region: str, account: str) -> dict[str, Any]:
    """The device policy of a fleet in ``account``/``region``."""
    base = f"arn:{partition}:iot:{region}:{account}"
    topics = [f"{base}:topic/$aws/things/{THING_VARIABLE}/{area}/*" for area in TOPIC_AREAS]
    filters = [f"{base}:topicfilter/$aws/things/{THING_VARIABLE}/{area}/*" for area in TOPIC_AREAS]
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "ConnectAsItsOwnThing",
                "Effect": "Allow",
                "Action": "iot:Connect",
                "Resource": f"{base}:client/{THING_VARIABLE}",
                "Condition": {"Bool": {"iot:Connection.Thing.IsAttached": "true"}},
            },
            {"Sid": "PublishAndReceiveItsOwnTopics", "Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
             "Resource": topics},
            {"Sid": "SubscribeToItsOwnTopics", "Effect": "Allow", "Action": "iot:Subscribe", "Resource": filters},
        ],
    }  # fmt: skip


def policy_text(document: dict[str, Any]) -> str:
    """The document as sent to AWS (compact, keys in a stable order)."""
    return json.dumps(document, separators=(",", ":"))


def same_document(found: str | dict[str, Any] | None, wanted: dict[str, Any]) -> bool:
    """Whether a policy document read back from AWS says the same as ``wanted`` (whitespace aside)."""
    if found is None:
        return False
    try:
        parsed = json.loads(found) if isinstance(found, str) else found
    except ValueError:
        return False
    return bool(parsed == wanted)


def least_privilege_problems(document: dict[str, Any]) -> list[str]:
    """What makes ``document`` broader than one device's own: wildcard actions, resources not scoped to the
    connected thing, or an ``iot:Connect`` without the attachment condition. Empty when there is none."""
    problems: list[str] = []
    for number, statement in enumerate(document.get("Statement") or [], 1):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action")
        actions = [actions] if isinstance(actions, str) else list(actions or [])
        resources = statement.get("Resource")
        resources = [resources] if isinstance(resources, str) else list(resources or [])
        if "NotAction" in statement or "NotResource" in statement:
            problems.append(f"statement {number} uses NotAction or NotResource")
        for action in actions:
            if "*" in action or "?" in action:
                problems.append(f"statement {number} allows the wildcard action {action!r}")
        for resource in resources:
            if resource == "*" or THING_VARIABLE not in resource:
                problems.append(f"statement {number}: resource {resource!r} is not scoped to the connected thing")
        if "iot:Connect" in actions:
            condition = (statement.get("Condition") or {}).get("Bool") or {}
            if condition.get("iot:Connection.Thing.IsAttached") != "true":
                problems.append(f"statement {number} allows iot:Connect without requiring an attached certificate")
    return problems
