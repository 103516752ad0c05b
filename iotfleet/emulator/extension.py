"""The extension API: how feature modules add or change operations on top of moto.

Three decorators, used at import time of a feature module (listed in :mod:`iotfleet.emulator.features`):

``@handles("iot", "CreateDynamicThingGroup")``
    ``fn(call: Call) -> dict`` answers the operation instead of moto. ``call.params`` holds the
    boto3-shaped input; return the boto3-shaped output (datetimes and bytes are fine), or raise
    :class:`~iotfleet.emulator.errors.ServiceError` (or a subclass such as
    ``ResourceNotFoundException("...")``). ``call.moto()`` runs the same request through moto and
    returns its parsed answer, so a handler can extend what moto says.

``@after("iot", "CreateThing")``
    ``fn(call: Call, params: dict, response: dict) -> None`` runs after every successful call of
    the operation, whether moto or a handler answered it.

``@on_state_init``
    ``fn(state: EmulatorState) -> None`` runs once for each emulator started, to subscribe to
    events (``state.events.subscribe(THING_CHANGED, ...)``) or clock advances
    (``state.clock.on_advance(...)``).

Handlers, hooks and subscribers all run under the emulator's global lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from botocore.model import OperationModel

from iotfleet.emulator.protocol import WireRequest, parse_response
from iotfleet.emulator.routing import SERVICES, service_model

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

HttpResult = tuple[int, list[tuple[str, str]], bytes]


class Call:
    """One API call as an extension handler or after-hook sees it."""

    __slots__ = (
        "service",
        "operation",
        "operation_model",
        "account_id",
        "region",
        "request_id",
        "base_url",
        "state",
        "request",
        "_params",
        "_moto",
    )

    def __init__(
        self,
        *,
        service: str,
        operation_model: OperationModel,
        account_id: str,
        region: str,
        request_id: str,
        base_url: str,
        state: EmulatorState,
        request: WireRequest,
        moto: Callable[[WireRequest], HttpResult],
    ) -> None:
        self.service = service
        self.operation = operation_model.name
        self.operation_model = operation_model
        self.account_id = account_id
        self.region = region
        self.request_id = request_id
        self.base_url = base_url  # the emulator's URL as the client sees it, e.g. http://127.0.0.1:4567
        self.state = state
        self.request = request
        self._params: dict[str, Any] | None = None
        self._moto = moto

    @property
    def params(self) -> dict[str, Any]:
        """The boto3-shaped input (parsed on first use)."""
        if self._params is None:
            self._params = self.request.params(self.operation_model)
        return self._params

    def moto(self) -> dict[str, Any]:
        """Run this same request through moto and return its parsed answer (raises ServiceError on errors)."""
        status, headers, body = self._moto(self.request)
        return parse_response(self.operation_model, status, dict(headers), body)

    def __repr__(self) -> str:
        return f"Call({self.service}:{self.operation}, account={self.account_id}, region={self.region})"


Handler = Callable[[Call], dict[str, Any]]
AfterHook = Callable[[Call, dict[str, Any], dict[str, Any]], None]
StateInit = Callable[["EmulatorState"], None]

_lock = threading.Lock()
_handlers: dict[tuple[str, str], Handler] = {}
_after_hooks: dict[tuple[str, str], list[AfterHook]] = {}
_state_inits: list[StateInit] = []


def _check(service: str, operation: str) -> tuple[str, str]:
    if service not in SERVICES:
        raise ValueError(f"the emulator does not serve {service!r} (it serves {', '.join(SERVICES)})")
    if operation not in service_model(service).operation_names:
        raise ValueError(f"{service} has no operation {operation!r}")
    return service, operation


def handles(service: str, operation: str, *, replace: bool = False) -> Callable[[Handler], Handler]:
    """Register ``fn(call) -> dict`` as the answer to ``service:operation``. One handler per operation."""
    key = _check(service, operation)

    def register(fn: Handler) -> Handler:
        with _lock:
            if key in _handlers and not replace and _handlers[key] is not fn:
                raise ValueError(f"{service}:{operation} already has a handler ({_handlers[key].__qualname__})")
            _handlers[key] = fn
        return fn

    return register


def after(service: str, operation: str) -> Callable[[AfterHook], AfterHook]:
    """Register ``fn(call, params, response)`` to run after each successful ``service:operation``."""
    key = _check(service, operation)

    def register(fn: AfterHook) -> AfterHook:
        with _lock:
            hooks = _after_hooks.setdefault(key, [])
            if fn not in hooks:
                hooks.append(fn)
        return fn

    return register


def on_state_init(fn: StateInit) -> StateInit:
    """Register ``fn(state)`` to run for each emulator started (subscribe to events and clock here)."""
    with _lock:
        if fn not in _state_inits:
            _state_inits.append(fn)
    return fn


def handler_for(service: str, operation: str) -> Handler | None:
    return _handlers.get((service, operation))


def after_hooks_for(service: str, operation: str) -> list[AfterHook]:
    return _after_hooks.get((service, operation), [])


def state_initializers() -> list[StateInit]:
    with _lock:
        return list(_state_inits)


@contextmanager
def temporary_handler(service: str, operation: str, fn: Handler) -> Iterator[Handler]:
    """Install ``fn`` for the duration of a ``with`` block, then restore what was there (for tests)."""
    key = _check(service, operation)
    with _lock:
        previous = _handlers.get(key)
        _handlers[key] = fn
    try:
        yield fn
    finally:
        with _lock:
            if previous is None:
                _handlers.pop(key, None)
            else:
                _handlers[key] = previous


@contextmanager
def temporary_after_hook(service: str, operation: str, fn: AfterHook) -> Iterator[AfterHook]:
    """Add an after-hook for the duration of a ``with`` block (for tests)."""
    after(service, operation)(fn)
    try:
        yield fn
    finally:
        with _lock:
            hooks = _after_hooks.get((service, operation), [])
            if fn in hooks:
                hooks.remove(fn)
