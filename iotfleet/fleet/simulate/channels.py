"""How a simulated device talks to AWS IoT: the jobs API and its shadow, over HTTPS or over MQTT.

A :class:`DeviceChannel` offers a device the four things it does (describe a job's execution, start the
next pending one, report an execution's status, report its shadow), each answering with the document of
the HTTPS API's answer or raising the ``ClientError`` the HTTPS API raises for the same failure, so the
device's logic (:mod:`.device`) is one for both transports and the outcomes match.

* :class:`HttpsChannel`: the ``iot-jobs-data`` and ``iot-data`` planes through the access layer (IAM
  credentials, rate-limited per operation). A device polls while it waits for the rollout.
* :class:`~iotfleet.fleet.simulate.mqtt_channel.MqttChannel`: the device's own MQTT connection with its
  certificate; the service pushes ``notify-next``, so a waiting device makes no request until told.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from iotfleet.aws.context import AwsContext


class DeviceChannel(Protocol):
    """What a device calls; see the module docstring."""

    @property
    def pushes_notifications(self) -> bool:
        """True when the service tells the device that its next execution changed (no polling needed)."""
        ...

    def take_notification(self) -> bool:
        """Whether a notification arrived since the last call (always False without pushes)."""
        ...

    def describe_execution(self, job_id: str) -> dict[str, Any]: ...

    def start_next(self, status_details: dict[str, str], step_timeout_minutes: int) -> dict[str, Any]: ...

    def update_execution(
        self,
        job_id: str,
        status: str,
        status_details: dict[str, str],
        execution_number: int,
        step_timeout_minutes: int | None = None,
    ) -> dict[str, Any]: ...

    def report_shadow(self, reported: dict[str, Any], shadow_name: str | None = None) -> None: ...

    def close(self) -> None: ...


class HttpsChannel:
    """A device's calls through the jobs data plane and iot-data, signed with the run's credentials."""

    pushes_notifications = False

    def __init__(self, ctx: AwsContext, thing_name: str) -> None:
        self.ctx = ctx
        self.thing_name = thing_name

    def take_notification(self) -> bool:
        return False

    def describe_execution(self, job_id: str) -> dict[str, Any]:
        return self.ctx.jobs_data.describe_job_execution(  # type: ignore[no-any-return]
            thingName=self.thing_name, jobId=job_id, includeJobDocument=True
        )

    def start_next(self, status_details: dict[str, str], step_timeout_minutes: int) -> dict[str, Any]:
        return self.ctx.jobs_data.start_next_pending_job_execution(  # type: ignore[no-any-return]
            thingName=self.thing_name, statusDetails=status_details, stepTimeoutInMinutes=step_timeout_minutes
        )

    def update_execution(
        self,
        job_id: str,
        status: str,
        status_details: dict[str, str],
        execution_number: int,
        step_timeout_minutes: int | None = None,
    ) -> dict[str, Any]:
        extra = {} if step_timeout_minutes is None else {"stepTimeoutInMinutes": step_timeout_minutes}
        return self.ctx.jobs_data.update_job_execution(  # type: ignore[no-any-return]
            thingName=self.thing_name, jobId=job_id, status=status, statusDetails=status_details,
            executionNumber=execution_number, **extra,
        )  # fmt: skip

    def report_shadow(self, reported: dict[str, Any], shadow_name: str | None = None) -> None:
        extra = {} if shadow_name is None else {"shadowName": shadow_name}
        payload = json.dumps({"state": {"reported": reported}}).encode()
        # Reading the answer lets the connection go back to the pool (an unread body closes it).
        self.ctx.iot_data.update_thing_shadow(thingName=self.thing_name, payload=payload, **extra)["payload"].read()

    def close(self) -> None:
        return None
