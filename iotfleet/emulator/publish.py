"""iot-data ``Publish``: the topic name is checked as AWS IoT's message broker checks it, then moto records
the message and the MQTT endpoint delivers it to its subscribers.

A topic name (unlike a topic filter) holds no ``+`` or ``#`` wildcard, is at most 256 bytes of UTF-8, and
has at most 7 forward slashes (8 levels), not counting the ``$aws/rules/<rule-name>/`` prefix of a Basic
Ingest topic. Anything else is a 400 ``InvalidRequestException`` and nothing is published.
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.events import MESSAGE_PUBLISHED
from iotfleet.emulator.extension import Call, handles

MAX_TOPIC_BYTES = 256
MAX_TOPIC_SLASHES = 7
BASIC_INGEST_PREFIX = "$aws/rules/"
WILDCARDS = ("+", "#")


def topic_problem(topic: str) -> str | None:
    """Why ``topic`` cannot be published to, or None when it can."""
    if not topic:
        return "the topic name is empty"
    wildcards = [w for w in WILDCARDS if w in topic]
    if wildcards:
        return (
            f"topic {topic!r} contains the wildcard {' and '.join(wildcards)}: wildcards belong in topic "
            "filters (subscriptions), not in the topic a message is published to"
        )
    size = len(topic.encode("utf-8"))
    if size > MAX_TOPIC_BYTES:
        return f"the topic name is {size} bytes of UTF-8; at most {MAX_TOPIC_BYTES} are allowed"
    levels = topic
    if topic.startswith(BASIC_INGEST_PREFIX):
        rule, _, rest = topic[len(BASIC_INGEST_PREFIX) :].partition("/")
        if rule:
            levels = rest
    slashes = levels.count("/")
    if slashes > MAX_TOPIC_SLASHES:
        return (
            f"topic {topic!r} has {slashes} forward slashes; at most {MAX_TOPIC_SLASHES} are allowed "
            "(8 levels, not counting a $aws/rules/<rule-name>/ prefix)"
        )
    return None


@handles("iot-data", "Publish")
def publish(call: Call) -> dict[str, Any]:
    problem = topic_problem(call.params.get("topic", ""))
    if problem is not None:
        raise InvalidRequestException(problem)
    answer = call.moto()
    params = call.params
    payload = params.get("payload") or b""
    call.state.events.emit(
        MESSAGE_PUBLISHED, account_id=call.account_id, region=call.region, topic=params["topic"],
        payload=payload if isinstance(payload, bytes) else bytes(payload), qos=int(params.get("qos") or 0),
    )  # fmt: skip
    return answer
