"""Device shadows over MQTT, on the same shadow store as the HTTP API, and the messages a change publishes.

Requests go to ``$aws/things/<thing>/shadow/{get,update,delete}`` (the classic shadow) and
``$aws/things/<thing>/shadow/name/<shadow>/{get,update,delete}`` (named shadows); the answers are
published to ``.../accepted`` or ``.../rejected`` (``code`` is the HTTP status AWS would give, with
``message``), with ``clientToken`` echoed. An accepted update also publishes ``.../update/documents``
(the ``previous`` and ``current`` documents) and, when the update set desired state that the reported
state does not match, ``.../update/delta``. A shadow updated or deleted over HTTP publishes the same
messages, so a device listening on its shadow topics sees an operator's change as it would on AWS.
Unlike the jobs answers these go through the broker: any client allowed to subscribe receives them.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import ServiceError
from iotfleet.emulator.events import MESSAGE_PUBLISHED
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.moto_patches import accessors

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

Scope = tuple[str, str]
Message = tuple[str, bytes]
ACTIONS = ("get", "update", "delete")


def parse(topic: str) -> tuple[str, str | None, str] | None:
    """``(thing, shadow name or None, action)`` of a shadow request topic, or None."""
    parts = topic.split("/")
    if len(parts) < 5 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow" or not parts[2]:
        return None
    if len(parts) == 5 and parts[4] in ACTIONS:
        return parts[2], None, parts[4]
    if len(parts) == 7 and parts[4] == "name" and parts[5] and parts[6] in ACTIONS:
        return parts[2], parts[5], parts[6]
    return None


def is_request(topic: str) -> bool:
    return parse(topic) is not None


def base_topic(thing: str, shadow_name: str | None) -> str:
    return f"$aws/things/{thing}/shadow" + (f"/name/{shadow_name}" if shadow_name is not None else "")


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _section(document: dict[str, Any] | None) -> dict[str, Any] | None:
    """A shadow document as ``/update/documents`` shows it: state (no delta), metadata, version."""
    if document is None:
        return None
    state = {k: v for k, v in (document.get("state") or {}).items() if k in ("desired", "reported")}
    return {"state": state, "metadata": document.get("metadata") or {}, "version": document.get("version")}


def change_messages(
    thing: str,
    shadow_name: str | None,
    request: dict[str, Any],
    answer: dict[str, Any],
    previous: dict[str, Any] | None,
    current: dict[str, Any] | None,
    now: int,
) -> list[Message]:
    """What an accepted update publishes: ``/update/accepted``, ``/update/documents`` and maybe ``/update/delta``."""
    base = base_topic(thing, shadow_name)
    token = request.get("clientToken")
    accepted = dict(answer)
    if token is not None:
        accepted["clientToken"] = token
    documents: dict[str, Any] = {"previous": _section(previous), "current": _section(current), "timestamp": now}
    if token is not None:
        documents["clientToken"] = token
    messages = [(f"{base}/update/accepted", _json(accepted)), (f"{base}/update/documents", _json(documents))]
    delta = ((current or {}).get("state") or {}).get("delta")
    if delta and ((request.get("state") or {}).get("desired")):
        desired_metadata = ((current or {}).get("metadata") or {}).get("desired") or {}
        message = {
            "version": (current or {}).get("version"),
            "timestamp": now,
            "state": delta,
            "metadata": {key: desired_metadata[key] for key in delta if key in desired_metadata},
        }
        if token is not None:
            message["clientToken"] = token
        messages.append((f"{base}/update/delta", _json(message)))
    return messages


class ShadowTopics:
    """Answers shadow requests made over MQTT, in every account and region of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def handle(self, scope: Scope, topic: str, payload: bytes) -> list[Message]:
        found = parse(topic)
        assert found is not None
        thing, shadow_name, action = found
        base = base_topic(thing, shadow_name)
        account_id, region = scope
        now = int(self.state.clock.now())
        try:
            request = json.loads(payload) if payload.strip() else {}
        except ValueError:
            request = None
        if not isinstance(request, dict):
            return [self._rejected(base, action, 400, "Invalid JSON", None, now)]
        token = request.get("clientToken")
        with self.state.lock:
            try:
                if action == "get":
                    document = accessors.shadows(account_id, region, thing).get(shadow_name)
                    if document is None:
                        label = shadow_name if shadow_name is not None else thing
                        return [self._rejected(base, action, 404, f"No shadow exists with name: '{label}'", token, now)]
                    answer = {**document, **({"clientToken": token} if token is not None else {})}
                    return [(f"{base}/get/accepted", _json(answer))]
                if action == "delete":
                    deleted = accessors.delete_shadow(account_id, region, thing, shadow_name)
                    answer = {"version": deleted.get("version"), "timestamp": now}
                    if token is not None:
                        answer["clientToken"] = token
                    return [(f"{base}/delete/accepted", _json(answer))]
                previous = accessors.shadows(account_id, region, thing).get(shadow_name)
                update = {k: v for k, v in request.items() if k != "clientToken"}
                answer = accessors.write_shadow(account_id, region, thing, shadow_name, update)
                current = accessors.shadows(account_id, region, thing).get(shadow_name)
            except ServiceError as error:
                return [self._rejected(base, action, error.status, error.message or error.code, token, now)]
        return change_messages(thing, shadow_name, request, answer, previous, current, now)

    @staticmethod
    def _rejected(base: str, action: str, code: int, message: str, token: Any, now: int) -> Message:
        answer: dict[str, Any] = {"code": code, "message": message, "timestamp": now}
        if token is not None:
            answer["clientToken"] = token
        return f"{base}/{action}/rejected", _json(answer)


def _publish(state: EmulatorState, account_id: str, region: str, messages: list[Message]) -> None:
    for topic, payload in messages:
        state.events.emit(MESSAGE_PUBLISHED, account_id=account_id, region=region, topic=topic, payload=payload, qos=1)


@handles("iot-data", "UpdateThingShadow")
def update_thing_shadow(call: Call) -> dict[str, Any]:
    """UpdateThingShadow over HTTP; with MQTT clients listening, it publishes what the change publishes."""
    if not call.state.events.has_subscribers(MESSAGE_PUBLISHED):
        return call.moto()
    params = call.params
    thing, shadow_name = params["thingName"], params.get("shadowName")
    previous = accessors.shadows(call.account_id, call.region, thing).get(shadow_name)
    answer = call.moto()
    current = accessors.shadows(call.account_id, call.region, thing).get(shadow_name)
    try:
        request = json.loads(params.get("payload") or b"{}")
        response = json.loads(answer.get("payload") or b"{}")
    except ValueError:
        return answer  # moto accepted it, so it was JSON; nothing more to tell
    now = int(call.state.clock.now())
    _publish(call.state, call.account_id, call.region,
             change_messages(thing, shadow_name, request, response, previous, current, now))  # fmt: skip
    return answer


@handles("iot-data", "DeleteThingShadow")
def delete_thing_shadow(call: Call) -> dict[str, Any]:
    """DeleteThingShadow over HTTP; with MQTT clients listening, it publishes ``/delete/accepted``."""
    answer = call.moto()
    if call.state.events.has_subscribers(MESSAGE_PUBLISHED):
        params = call.params
        response = json.loads(answer.get("payload") or b"{}")
        message = {"version": response.get("version"), "timestamp": int(call.state.clock.now())}
        topic = f"{base_topic(params['thingName'], params.get('shadowName'))}/delete/accepted"
        _publish(call.state, call.account_id, call.region, [(topic, _json(message))])
    return answer
