"""Topic names, topic filters, and the index that finds a message's subscribers.

A topic name follows the rules of iot-data Publish (:func:`iotfleet.emulator.publish.topic_problem`). A
topic filter may use ``+`` for one whole level and ``#`` for the rest, at the end; filters starting with a
wildcard never match a topic starting with ``$`` (MQTT 4.7.2), so a subscription to ``#`` does not see the
``$aws/`` reserved topics. AWS IoT Core has the same 256-byte and 7-slash limits on filters.

:class:`SubscriptionIndex` is a tree of topic levels, so finding the subscribers of a message costs the
number of its levels (times the wildcards met), not the number of subscriptions: a fleet of thousands of
devices, each subscribed to its own topics, routes as fast as one.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import Any

from iotfleet.emulator.publish import MAX_TOPIC_BYTES, MAX_TOPIC_SLASHES, topic_problem

__all__ = ["SubscriptionIndex", "filter_problem", "matches", "topic_problem"]

SHARED_PREFIX = "$share/"


def filter_problem(topic_filter: str) -> str | None:
    """Why ``topic_filter`` cannot be subscribed to, or None when it can."""
    if not topic_filter:
        return "the topic filter is empty"
    if len(topic_filter.encode("utf-8")) > MAX_TOPIC_BYTES:
        return f"the topic filter is longer than {MAX_TOPIC_BYTES} bytes"
    if topic_filter.count("/") > MAX_TOPIC_SLASHES:
        return f"the topic filter has more than {MAX_TOPIC_SLASHES} forward slashes"
    levels = topic_filter.split("/")
    for number, level in enumerate(levels):
        if "#" in level and (level != "#" or number != len(levels) - 1):
            return "'#' must be a whole level, and the last one"
        if "+" in level and level != "+":
            return "'+' must be a whole level"
    return None


def matches(topic_filter: str, topic: str) -> bool:
    """Whether a message on ``topic`` reaches a subscription to ``topic_filter``."""
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    wanted = topic_filter.split("/")
    levels = topic.split("/")
    for index, level in enumerate(wanted):
        if level == "#":
            return True
        if index >= len(levels) or (level != "+" and level != levels[index]):
            return False
    return len(wanted) == len(levels)


class _Node:
    __slots__ = ("children", "members", "rest")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.members: dict[Hashable, Any] = {}  # subscriber -> what it subscribed with (filter ends here)
        self.rest: dict[Hashable, Any] = {}  # subscriber -> ... of a filter ending in "#" here


class SubscriptionIndex:
    """Subscribers by topic filter: ``add``, ``remove``, ``subscribers(topic)``. Not thread-safe (one loop)."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0

    def add(self, topic_filter: str, subscriber: Hashable, value: Any) -> bool:
        """Subscribe (or replace ``value``); True when the subscription is new."""
        node, table = self._slot(topic_filter, create=True)
        assert node is not None
        new = subscriber not in table
        table[subscriber] = value
        self.count += int(new)
        return new

    def remove(self, topic_filter: str, subscriber: Hashable) -> bool:
        node, table = self._slot(topic_filter, create=False)
        if node is None or subscriber not in table:
            return False
        del table[subscriber]
        self.count -= 1
        return True

    def _slot(self, topic_filter: str, *, create: bool) -> tuple[_Node | None, dict[Hashable, Any]]:
        node = self._root
        levels = topic_filter.split("/")
        ends_with_rest = levels[-1] == "#"
        if ends_with_rest:
            levels = levels[:-1]
        for level in levels:
            child = node.children.get(level)
            if child is None:
                if not create:
                    return None, {}
                child = node.children[level] = _Node()
            node = child
        return node, (node.rest if ends_with_rest else node.members)

    def subscribers(self, topic: str) -> Iterator[tuple[Hashable, Any]]:
        """Every (subscriber, value) whose filter matches ``topic``; a subscriber may come more than once."""
        levels = topic.split("/")
        reserved = topic.startswith("$")
        nodes = [self._root]
        for depth, level in enumerate(levels):
            following: list[_Node] = []
            for node in nodes:
                if node.rest and not (reserved and depth == 0):
                    yield from node.rest.items()
                child = node.children.get(level)
                if child is not None:
                    following.append(child)
                plus = node.children.get("+")
                if plus is not None and not (reserved and depth == 0):
                    following.append(plus)
            nodes = following
            if not nodes:
                return
        for node in nodes:
            yield from node.members.items()
            yield from node.rest.items()  # "a/#" also matches "a"
