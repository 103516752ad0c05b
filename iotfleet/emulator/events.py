"""An in-process event bus, so feature modules react to changes made anywhere in the emulator.

The core emits :data:`THING_CHANGED` after every successful call that can change how a thing is
indexed (and after internal shadow writes) and :data:`THING_DELETED` when a thing goes away;
dynamic groups re-evaluate membership and continuous jobs react. Subscribers run synchronously on
the emitting thread, under the emulator's global lock, so they see a consistent state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

THING_CHANGED = "thing_changed"
"""``thing_changed(account_id, region, thing_name)``: a thing's registry data, groups or shadows changed."""
THING_DELETED = "thing_deleted"
"""``thing_deleted(account_id, region, thing_name)``: the thing no longer exists."""
GROUP_MEMBERSHIP_CHANGED = "group_membership_changed"
"""``group_membership_changed(account_id, region, group_name, thing_name, added)``: a thing was put in
(``added=True``) or taken out of a thing group, by an API call or an accessor. May fire for no-op calls."""
MESSAGE_PUBLISHED = "message_published"
"""``message_published(account_id, region, topic, payload, qos)``: a message (bytes) for the MQTT endpoint's
subscribers, published by an HTTP call (iot-data Publish, a shadow change); nothing hears it while the
endpoint is off."""
RESET = "reset"
"""``reset()``: all emulator state was wiped."""

Subscriber = Callable[..., None]


class EventBus:
    """``subscribe(name, fn)`` then ``emit(name, **kw)`` calls ``fn(**kw)`` for each subscriber, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[str, list[Subscriber]] = {}

    def subscribe(self, name: str, fn: Subscriber) -> None:
        with self._lock:
            self._subscribers.setdefault(name, []).append(fn)

    def unsubscribe(self, name: str, fn: Subscriber) -> None:
        with self._lock:
            subscribers = self._subscribers.get(name, [])
            if fn in subscribers:
                subscribers.remove(fn)

    def has_subscribers(self, name: str) -> bool:
        return bool(self._subscribers.get(name))

    def emit(self, name: str, **kwargs: Any) -> None:
        with self._lock:
            subscribers = list(self._subscribers.get(name, ()))
        for fn in subscribers:
            fn(**kwargs)
