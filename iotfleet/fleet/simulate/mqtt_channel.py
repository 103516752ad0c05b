"""A simulated device's jobs API and shadow over its own MQTT connection (see :mod:`.channels`).

Requests go to the jobs and shadow topics (``$aws/things/<thing>/jobs/...``, ``.../shadow/...``) and the
answers arrive on their ``/accepted`` or ``/rejected`` topics: the jobs service's without a subscription (it
sends them to the requester), a shadow's through one ``.../update/+`` subscription, made at connect for the
classic shadow and on its first update for a named one. A rejection is raised as the
``ClientError`` the HTTPS API raises for the same failure (``InvalidStateTransition`` as
``InvalidStateTransitionException``, and ``VersionMismatch`` too, since that is how the HTTPS API answers
a stale ``expectedVersion``), so the device treats both transports alike; a throttled request or an
internal error is retried a few times with backoff, as the access layer retries them over HTTPS. The
device's thread blocks on each answer, while ``notify-next`` messages that announce an execution wake the
device (through ``on_notify``).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.ratelimit import RateLimiter
from iotfleet.fleet.simulate.mqtt_network import DeviceConnection, MqttNetwork

JOBS_ERRORS = {
    "InvalidStateTransition": "InvalidStateTransitionException",
    "ResourceNotFound": "ResourceNotFoundException",
    "VersionMismatch": "InvalidStateTransitionException",
    "TerminalStateReached": "TerminalStateException",
    "InvalidRequest": "InvalidRequestException",
    "InvalidJson": "InvalidRequestException",
    "InvalidTopic": "InvalidRequestException",
    "RequestThrottled": "ThrottlingException",
    "InternalError": "InternalFailureException",
}
SHADOW_ERRORS = {400: "InvalidRequestException", 401: "UnauthorizedException", 403: "ForbiddenException",
                 404: "ResourceNotFoundException", 409: "ConflictException", 413: "RequestEntityTooLargeException",
                 429: "ThrottlingException"}  # fmt: skip
RETRIED = frozenset({"ThrottlingException", "InternalFailureException"})
ATTEMPTS = 4
BACKOFF = 0.2


class MqttChannel:
    """One device's requests over its MQTT connection, opened on first use with its own certificate."""

    pushes_notifications = True

    def __init__(
        self,
        network: MqttNetwork,
        thing_name: str,
        credentials: Callable[[str], tuple[str, str]],
        limiter: RateLimiter,
        on_notify: Callable[[], None],
    ) -> None:
        self.network = network
        self.thing_name = thing_name
        self._credentials = credentials
        self._limiter = limiter
        self._on_notify = on_notify
        self._connection: DeviceConnection | None = None
        self._notified = threading.Event()
        base = f"$aws/things/{thing_name}"
        self._jobs = f"{base}/jobs"
        self._shadow = f"{base}/shadow"
        # The answers of the classic shadow's updates, subscribed at connect; a named shadow's on its first update.
        self._shadow_answers = {self._shadow_topic(None)}

    def _notify(self) -> None:
        self._notified.set()
        self._on_notify()

    def take_notification(self) -> bool:
        if self._notified.is_set():
            self._notified.clear()
            return True
        return False

    def _connected(self) -> DeviceConnection:
        if self._connection is None:
            cert_file, key_file = self._credentials(self.thing_name)
            self._connection = self.network.connect(
                self.thing_name, cert_file, key_file, subscriptions=[f"{t}/+" for t in self._shadow_answers],
                on_notify=self._notify,
            )  # fmt: skip
        return self._connection

    def _shadow_topic(self, shadow_name: str | None) -> str:
        return f"{self._shadow}/update" if shadow_name is None else f"{self._shadow}/name/{shadow_name}/update"

    def _call(self, operation: str, topic: str, document: dict[str, Any], errors: Callable[[Any], str]) -> dict[str, Any]:
        connection = self._connected()
        for attempt in range(1, ATTEMPTS + 1):
            self._limiter.acquire(operation)
            outcome, answer = connection.request(topic, document)
            if outcome == "accepted":
                self._limiter.on_success(operation)
                return answer
            code = errors(answer.get("code"))
            if code == "ThrottlingException":
                self._limiter.on_throttle(operation)
            if code not in RETRIED or attempt == ATTEMPTS:
                error = {"Code": code, "Message": str(answer.get("message") or code)}
                response: dict[str, Any] = {"Error": error}
                if "executionState" in answer:
                    response["executionState"] = answer["executionState"]
                raise ClientError(response, operation.split(":", 1)[1])  # type: ignore[arg-type]
            time.sleep(BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _job(self, operation: str, topic: str, document: dict[str, Any]) -> dict[str, Any]:
        return self._call(f"iot-jobs-data:{operation}", topic, document, lambda code: JOBS_ERRORS.get(str(code), str(code)))

    def describe_execution(self, job_id: str) -> dict[str, Any]:
        return self._job("DescribeJobExecution", f"{self._jobs}/{job_id}/get", {"includeJobDocument": True})

    def start_next(self, status_details: dict[str, str], step_timeout_minutes: int) -> dict[str, Any]:
        document = {"statusDetails": status_details, "stepTimeoutInMinutes": step_timeout_minutes}
        return self._job("StartNextPendingJobExecution", f"{self._jobs}/start-next", document)

    def update_execution(
        self,
        job_id: str,
        status: str,
        status_details: dict[str, str],
        execution_number: int,
        step_timeout_minutes: int | None = None,
    ) -> dict[str, Any]:
        document: dict[str, Any] = {"status": status, "statusDetails": status_details, "executionNumber": execution_number}
        if step_timeout_minutes is not None:
            document["stepTimeoutInMinutes"] = step_timeout_minutes
        return self._job("UpdateJobExecution", f"{self._jobs}/{job_id}/update", document)

    def report_shadow(self, reported: dict[str, Any], shadow_name: str | None = None) -> None:
        topic = self._shadow_topic(shadow_name)
        if topic not in self._shadow_answers:  # one filter for its accepted and rejected answers
            self._connected().subscribe([f"{topic}/+"])
            self._shadow_answers.add(topic)

        def error(code: Any) -> str:
            number = int(code) if str(code).isdigit() else 400
            return SHADOW_ERRORS.get(number, "InternalFailureException" if number >= 500 else "InvalidRequestException")

        self._call("iot-data:UpdateThingShadow", topic, {"state": {"reported": reported}}, error)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
