"""The jobs device API over MQTT, on the same jobs engine as the HTTP data plane, and its notifications.

Requests are published to ``$aws/things/<thing>/jobs/``:

===================  ==========================================  =========================================
topic                operation                                   answer (``/accepted`` or ``/rejected``)
===================  ==========================================  =========================================
``get``              GetPendingJobExecutions                     ``inProgressJobs``, ``queuedJobs``
``start-next``       StartNextPendingJobExecution                ``execution`` (absent when none is pending)
``<jobId>/get``      DescribeJobExecution (``$next`` allowed)    ``execution``
``<jobId>/update``   UpdateJobExecution                          ``executionState``, ``jobDocument`` if asked
===================  ==========================================  =========================================

Every answer carries ``timestamp`` (epoch seconds) and echoes ``clientToken``; an execution's job document
is a JSON object here (a string over HTTP), with its placeholders substituted and presigned URLs minted.
A rejection carries AWS's MQTT error ``code`` (``InvalidTopic``, ``InvalidJson``, ``InvalidRequest``,
``InvalidStateTransition``, ``ResourceNotFound``, ``VersionMismatch``, ``InternalError``,
``RequestThrottled``) and, for the two conflicts, the current ``executionState``. Answers go to the
requesting client only, whether or not it subscribed to them, as on AWS. Each request counts as its
``iot-jobs-data`` operation: it is counted, and quotas and injected faults apply to it as over HTTP.

Notifications. Whenever the engine reports a thing's pending executions touched, the thing's pending list
is compared with what was last announced: ``notify`` (``jobs`` by status, at most 15) goes out when an
execution joined or left the list, ``notify-next`` (``execution`` with its document, or no execution when
nothing is left) when the first one of the list changed, as AWS documents both. The endpoint also moves
every engine's time forward a few times a second while clients are connected, so rollout releases,
timeouts and scheduled starts reach devices that only listen.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import ServiceError
from iotfleet.emulator.jobs import store as jobs_store
from iotfleet.emulator.jobs.engine import NEXT, JobsEngine
from iotfleet.emulator.jobs.models import IN_PROGRESS, QUEUED, Job, JobExecution
from iotfleet.emulator.jobs.views import device_execution, device_summary, execution_state

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

Scope = tuple[str, str]
Reply = tuple[str, bytes]
MAX_LISTED = 15
_CODES = {
    "InvalidRequestException": "InvalidRequest",
    "ResourceNotFoundException": "ResourceNotFound",
    "InvalidStateTransitionException": "InvalidStateTransition",
    "TerminalStateException": "TerminalStateReached",
    "ThrottlingException": "RequestThrottled",
    "InternalFailureException": "InternalError",
    "ServiceUnavailableException": "InternalError",
}


def parse(topic: str) -> tuple[str, str] | None:
    """``(thing, rest)`` of a topic under ``$aws/things/<thing>/jobs/``, or None."""
    parts = topic.split("/", 4)
    if len(parts) == 5 and parts[0] == "$aws" and parts[1] == "things" and parts[3] == "jobs" and parts[2]:
        return parts[2], parts[4]
    return None


def is_request(topic: str) -> bool:
    return parse(topic) is not None


def _document(engine: JobsEngine, job: Job) -> Any:
    text = engine.document_for_device(job)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _execution(engine: JobsEngine, job: Job, execution: JobExecution, with_document: bool = True) -> dict[str, Any]:
    data = device_execution(execution, engine.now)
    data.pop("approximateSecondsBeforeTimedOut", None)
    if with_document:
        data["jobDocument"] = _document(engine, job)
    return data


class Rejected(Exception):
    def __init__(self, code: str, message: str, execution_state: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.execution_state = execution_state


class JobsTopics:
    """The jobs API and notifications of every account and region of one emulator."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self._announced: dict[tuple[str, str, str], tuple[list[tuple[str, int]], tuple[str, int] | None]] = {}

    def forget(self) -> None:
        self._announced.clear()

    # --- requests -------------------------------------------------------------------------------------------

    def handle(self, scope: Scope, topic: str, payload: bytes) -> list[Reply]:
        """The answer to one request (published to the requester only)."""
        found = parse(topic)
        assert found is not None
        thing, rest = found
        token: Any = None
        with self.state.lock:
            try:
                request = json.loads(payload) if payload.strip() else {}
                if not isinstance(request, dict):
                    raise ValueError("not an object")
            except ValueError:
                return [self._rejected(topic, Rejected("InvalidJson", "The request is not a JSON object"), None)]
            token = request.get("clientToken")
            try:
                answer = self._answer(scope, thing, rest, request)
            except Rejected as problem:
                return [self._rejected(topic, problem, token)]
            except ServiceError as error:
                code = _CODES.get(error.code, "InvalidRequest")
                problem = Rejected(code, error.message, error.fields.get("executionState"))
                return [self._rejected(topic, problem, token)]
        answer["timestamp"] = int(self.state.clock.now())
        if token is not None:
            answer["clientToken"] = token
        return [(f"{topic}/accepted", _json(answer))]

    def _rejected(self, topic: str, problem: Rejected, token: Any) -> Reply:
        answer: dict[str, Any] = {"code": problem.code, "message": str(problem), "timestamp": int(self.state.clock.now())}
        if token is not None:
            answer["clientToken"] = token
        if problem.execution_state is not None:
            answer["executionState"] = problem.execution_state
        return f"{topic}/rejected", _json(answer)

    def _admit(self, operation: str) -> None:
        """Count the request as its iot-jobs-data operation; quotas and injected faults apply as over HTTP."""
        state = self.state
        key = f"iot-jobs-data:{operation}"
        state.counters.call(key)
        if not state.quotas.allow(key):
            state.counters.throttle(key)
            raise Rejected("RequestThrottled", f"Rate exceeded for {key}")
        fault = state.faults.draw("iot-jobs-data", operation)
        if fault is not None:
            state.counters.fault(key)
            raise Rejected(_CODES.get(fault.code, "InternalError"), fault.message)

    def _answer(self, scope: Scope, thing: str, rest: str, request: dict[str, Any]) -> dict[str, Any]:
        engine = jobs_store.engine(self.state, *scope)
        if rest == "get":
            self._admit("GetPendingJobExecutions")
            in_progress, queued = engine.pending_executions(thing)
            return {
                "inProgressJobs": [device_summary(e) for e in in_progress],
                "queuedJobs": [device_summary(e) for e in queued],
            }
        if rest == "start-next":
            self._admit("StartNextPendingJobExecution")
            found = engine.start_next(
                thing, status_details=request.get("statusDetails"), step_timeout=request.get("stepTimeoutInMinutes")
            )
            return {"execution": _execution(engine, *found)} if found else {}
        job_id, _, action = rest.rpartition("/")
        if not job_id or "/" in job_id or action not in ("get", "update"):
            raise Rejected("InvalidTopic", f"{rest!r} is not a topic of the jobs API")
        if action == "get":
            self._admit("DescribeJobExecution")
            number = request.get("executionNumber")
            described = engine.device_describe(thing, job_id, number)
            if described is None:
                if job_id == NEXT:
                    return {}
                raise Rejected("ResourceNotFound", f"No execution of job {job_id} on thing {thing}")
            return {"execution": _execution(engine, *described, request.get("includeJobDocument", True))}
        self._admit("UpdateJobExecution")
        expected = request.get("expectedVersion")
        if expected is not None:
            current = engine.device_describe(thing, job_id, request.get("executionNumber"))
            if current is not None and current[1].version_mismatch(expected) is not None:
                execution = current[1]
                raise Rejected("VersionMismatch", execution.version_mismatch(expected) or "", execution_state(execution))
        job, execution = engine.device_update(
            thing, job_id, request.get("status"), status_details=request.get("statusDetails"),
            expected_version=expected, step_timeout=request.get("stepTimeoutInMinutes"),
            execution_number=request.get("executionNumber"),
        )  # fmt: skip
        answer: dict[str, Any] = {}
        if request.get("includeJobExecutionState"):
            answer["executionState"] = execution_state(execution)
        if request.get("includeJobDocument"):
            answer["jobDocument"] = _document(engine, job)
        return answer

    # --- time and notifications -----------------------------------------------------------------------------

    def advance(self) -> None:
        """Run every engine's due events (under the emulator's lock)."""
        for _, _, engine in self.state.stores(jobs_store.STORE):
            engine.advance()

    def notifications(self) -> list[tuple[Scope, str, bytes]]:
        """The ``notify`` and ``notify-next`` messages of every thing touched since the last call."""
        messages: list[tuple[Scope, str, bytes]] = []
        with self.state.lock:
            for account_id, region, engine in self.state.stores(jobs_store.STORE):
                if not engine.touched:
                    continue
                touched, engine.touched = engine.touched, set()
                now = int(self.state.clock.now())
                for thing in sorted(touched):
                    messages += self._thing_notifications(engine, (account_id, region), thing, now)
        return messages

    def _thing_notifications(self, engine: JobsEngine, scope: Scope, thing: str, now: int) -> list[tuple[Scope, str, bytes]]:
        pending = engine.pending_of_thing(thing)
        listed = [(job.job_id, execution.execution_number) for job, execution in pending]
        first = listed[0] if listed else None
        key = (*scope, thing)
        before_listed, before_first = self._announced.get(key, ([], None))
        self._announced[key] = (listed, first)
        if not listed:
            self._announced.pop(key, None)
        out: list[tuple[Scope, str, bytes]] = []
        base = f"$aws/things/{thing}/jobs"
        if sorted(listed) != sorted(before_listed):
            jobs: dict[str, list[dict[str, Any]]] = {}
            for _, execution in pending[:MAX_LISTED]:
                if execution.status in (IN_PROGRESS, QUEUED):
                    jobs.setdefault(execution.status, []).append(device_summary(execution))
            out.append((scope, f"{base}/notify", _json({"timestamp": now, "jobs": jobs})))
        if first != before_first:
            document: dict[str, Any] = {"timestamp": now}
            if pending:
                document["execution"] = _execution(engine, *pending[0])
            out.append((scope, f"{base}/notify-next", _json(document)))
        return out


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()
