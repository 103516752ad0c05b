"""The HTTP control API under ``/_emulator/``: health, clock, counters, quotas, faults and reset.

JSON in, JSON out. :class:`iotfleet.emulator.control.EmulatorControl` is the client.

==========================  ==============================================================
``GET  /_emulator/health``  ``{"status": "ok", "tls": bool, "now": epoch, "pid": int, "mqtt": "host:port" | null,
                            "mqtt_ca": path | null}``: the MQTT endpoint, and the CA file that signs its certificate
``GET  /_emulator/clock``   ``{"now": epoch, "time_scale": x}``
``POST /_emulator/clock``   ``{"advance": seconds}`` and/or ``{"time_scale": x}``
``GET  /_emulator/counters`` per operation ``{"calls", "throttles", "faults"}``
``POST /_emulator/counters/reset``
``GET|POST /_emulator/quotas`` ``{"enforce": bool, "overrides": {"iot:CreateThing": 5}, "scale": 0.5}``
``GET|POST /_emulator/faults`` ``{"rate": 0.1, "seed": 7, "operations": [...] | null, "after": 0.5}``
``GET|POST /_emulator/search`` ``{"mode": "index" | "scan"}``: how fleet-indexing queries find things
``POST /_emulator/reset``   wipe all state
==========================  ==============================================================
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.protocol import HttpResponse

if TYPE_CHECKING:
    from iotfleet.emulator.app import EmulatorApp

_MISSING = object()


class BadControlRequest(ValueError):
    """A control request with a bad body; answered with HTTP 400."""


def _reply(status: int, document: Any) -> HttpResponse:
    return status, [("Content-Type", "application/json")], json.dumps(document).encode("utf-8")


def _document(raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise BadControlRequest(f"the body is not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadControlRequest("the body must be a JSON object")
    return document


def _number(document: dict[str, Any], name: str) -> float | None:
    value = document.get(name, _MISSING)
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadControlRequest(f"{name} must be a number")
    return float(value)


def _health(app: EmulatorApp, _doc: dict[str, Any]) -> HttpResponse:
    state = app.state
    return _reply(
        200,
        {"status": "ok", "tls": state.settings.tls, "now": state.clock.now(), "pid": os.getpid(),
         "mqtt": state.mqtt_endpoint, "mqtt_ca": state.mqtt_ca_path},
    )  # fmt: skip


def _clock(app: EmulatorApp, doc: dict[str, Any]) -> HttpResponse:
    state = app.state
    scale = _number(doc, "time_scale")
    advance = _number(doc, "advance")
    try:
        if scale is not None:
            state.clock.set_time_scale(scale)
        if advance is not None:
            state.advance(advance)
    except ValueError as exc:
        raise BadControlRequest(str(exc)) from exc
    return _reply(200, {"now": state.clock.now(), "time_scale": state.clock.time_scale})


def _counters(app: EmulatorApp, _doc: dict[str, Any]) -> HttpResponse:
    return _reply(200, app.state.counters.snapshot())


def _reset_counters(app: EmulatorApp, _doc: dict[str, Any]) -> HttpResponse:
    app.state.counters.reset()
    return _reply(200, {})


def _quotas(app: EmulatorApp, doc: dict[str, Any]) -> HttpResponse:
    quotas = app.state.quotas
    if doc:
        enforce = doc.get("enforce")
        if enforce is not None and not isinstance(enforce, bool):
            raise BadControlRequest("enforce must be true or false")
        overrides = doc.get("overrides")
        if overrides is not None and (
            not isinstance(overrides, dict)
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in overrides.values())
        ):
            raise BadControlRequest("overrides must map service:Operation to a positive number")
        try:
            quotas.configure(enforce=enforce, overrides=overrides, scale=_number(doc, "scale"))
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from exc
    return _reply(200, quotas.settings())


def _faults(app: EmulatorApp, doc: dict[str, Any]) -> HttpResponse:
    faults = app.state.faults
    if doc:
        operations = doc.get("operations", faults.operations)
        if operations is not None and not (
            isinstance(operations, list) and all(isinstance(o, str) for o in operations)
        ):
            raise BadControlRequest("operations must be a list of names or null")
        rate = _number(doc, "rate")
        seed = doc.get("seed", faults.seed)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise BadControlRequest("seed must be an integer")
        after = _number(doc, "after")
        try:
            faults.configure(
                rate=faults.rate if rate is None else rate, seed=seed, operations=operations, after=after
            )
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from exc
    return _reply(200, faults.settings())


def _search(app: EmulatorApp, doc: dict[str, Any]) -> HttpResponse:
    state = app.state
    if "mode" in doc:
        try:
            state.set_search_mode(doc["mode"])
        except ValueError as exc:
            raise BadControlRequest(str(exc)) from exc
    return _reply(200, {"mode": state.search_mode})


def _reset(app: EmulatorApp, _doc: dict[str, Any]) -> HttpResponse:
    app.reset()
    return _reply(200, {})


_Route = Callable[["EmulatorApp", dict[str, Any]], HttpResponse]
_ROUTES: dict[tuple[str, str], _Route] = {
    ("GET", "health"): _health,
    ("GET", "clock"): _clock,
    ("POST", "clock"): _clock,
    ("GET", "counters"): _counters,
    ("POST", "counters/reset"): _reset_counters,
    ("GET", "quotas"): _quotas,
    ("POST", "quotas"): _quotas,
    ("GET", "faults"): _faults,
    ("POST", "faults"): _faults,
    ("GET", "search"): _search,
    ("POST", "search"): _search,
    ("POST", "reset"): _reset,
}


def handle(app: EmulatorApp, environ: dict[str, Any], body: bytes) -> HttpResponse:
    method = environ.get("REQUEST_METHOD", "GET").upper()
    name = environ.get("PATH_INFO", "")[len("/_emulator/") :].strip("/")
    route = _ROUTES.get((method, name))
    if route is None:
        known = sorted({f"{m} /_emulator/{n}" for m, n in _ROUTES})
        return _reply(404, {"error": f"no control route {method} /_emulator/{name}", "routes": known})
    try:
        return route(app, _document(body) if method == "POST" else {})
    except BadControlRequest as exc:
        return _reply(400, {"error": str(exc)})
