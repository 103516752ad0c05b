"""One simulated device: it runs its job executions through the jobs data plane, as a real device does.

For each execution the device

1. gets it: ``start_next_pending_job_execution`` with a step timeout (fleet scope), or, when the run is
   about one job, ``describe_job_execution(jobId, includeJobDocument=True)`` followed by
   ``update_job_execution(IN_PROGRESS)`` with the step timeout (``$next`` cannot be pointed at a job);
2. reports IN_PROGRESS with ``statusDetails {"step": "downloading"}``;
3. downloads every artifact of the document through its presigned URL with a plain HTTP GET;
4. checks each download's SHA-256 (and size) against the package version's attributes, read from the
   document's substituted attributes placeholder or, when the document has none, from
   ``get_package_version`` (once per version per run);
5. "installs";
6. reports SUCCEEDED, or FAILED / REJECTED with ``statusDetails`` naming the ``failureType`` and ``reason``;
7. after a success, reports its new firmware version in its classic shadow (and, when asked, in the
   ``$package`` named shadow, which AWS otherwise writes itself).

A device is a :class:`~iotfleet.fleet.stepping.SteppedTask`: each step makes at most one API call or one
round of downloads, and returns how long to wait (the simulated latency, or a polling backoff). What it
does with an execution (succeed, or fail in which way) comes from the :class:`BehaviourModel`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import requests
from botocore.exceptions import ClientError

from iotfleet.aws.errors import error_code
from iotfleet.fleet import behaviour
from iotfleet.fleet.jobs.documents import PLACEHOLDER_PREFIX, SHA256_ATTRIBUTE, SIZE_ATTRIBUTE

if TYPE_CHECKING:
    from iotfleet.fleet.simulate import SimulationRun

# Execution statuses.
QUEUED = "QUEUED"
IN_PROGRESS = "IN_PROGRESS"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
REJECTED = "REJECTED"
TERMINAL_STATUSES = frozenset({SUCCEEDED, FAILED, REJECTED, "TIMED_OUT", "CANCELED", "REMOVED"})

# What happened to an execution the device took on.
OUTCOME_SUCCEEDED = "succeeded"
OUTCOME_FAILED = "failed"
OUTCOME_REJECTED = "rejected"
OUTCOME_HUNG = "hung"  # left IN_PROGRESS on purpose; the job's timeout ends it
OUTCOME_ENDED_BY_SERVICE = "ended by the service"  # canceled, timed out or deleted while the device worked
EXECUTION_OUTCOMES = (OUTCOME_SUCCEEDED, OUTCOME_FAILED, OUTCOME_REJECTED, OUTCOME_HUNG, OUTCOME_ENDED_BY_SERVICE)

# Why a device ended without running an execution.
IDLE_NOTHING_PENDING = "nothing pending"
IDLE_NOT_RELEASED = "not released before the job ended"
IDLE_UNTIL = "still waiting when --until expired"
IDLE_ALREADY_FINISHED = "execution already finished"

# Errors meaning "the service ended this execution (or job) while the device was working on it".
_ENDED_CODES = frozenset(
    {"TerminalStateException", "InvalidStateTransitionException", "ResourceNotFoundException",
     "VersionConflictException"}
)  # fmt: skip
_DOWNLOAD_CHUNK = 64 * 1024
# Where a device reports its firmware in its classic shadow.
FIRMWARE_SHADOW_KEY = "firmware"
PACKAGE_SHADOW = "$package"


@dataclass(frozen=True)
class ExecutionRecord:
    """One execution a device took on, and how it ended from the device's side."""

    job_id: str
    thing_name: str
    execution_number: int
    attempt: int  # 0 for the device's first execution of the job, 1 for its first retry, ...
    outcome: str  # one of EXECUTION_OUTCOMES
    status: str | None = None  # the final status the device reported (None when it hung)
    failure_type: str | None = None
    reason: str | None = None
    firmware_version: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobId": self.job_id,
            "thingName": self.thing_name,
            "executionNumber": self.execution_number,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "status": self.status,
            "failureType": self.failure_type,
            "reason": self.reason,
            "firmwareVersion": self.firmware_version,
        }


@dataclass(frozen=True)
class Artifact:
    """A file the document tells the device to download, with what it should hash to."""

    url: str
    sha256: str | None = None
    size: int | None = None
    package: str | None = None
    version: str | None = None

    @property
    def name(self) -> str:
        path = self.url.split("?", 1)[0]
        return path.rsplit("/", 1)[-1] or path


@dataclass(frozen=True)
class Download:
    """What a GET brought back: its SHA-256 and size, or why it failed."""

    sha256: str = ""
    size: int = 0
    error: str | None = None


class PackageAttributes:
    """``get_package_version`` attributes, asked once per version and shared by every device of a run."""

    def __init__(self, fetch: Callable[[str, str], dict[str, str]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], dict[str, str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, package: str, version: str) -> dict[str, str]:
        key = (package, version)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            attributes = self._fetch(package, version)
            with self._lock:
                self._cache[key] = attributes
            return attributes


def parse_attributes(value: Any) -> dict[str, str] | None:
    """Attributes from a substituted ``...:attributes`` placeholder (JSON text) or a plain object."""
    if isinstance(value, str):
        if not value.startswith("{"):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return None


def find_artifacts(document: Any) -> list[Artifact]:
    """Every object of the document with a ``url`` to download, with the attributes and names beside it.

    iotfleet's OTA document is one such object (``url``, ``attributes``, ``package``, ``version``); custom
    documents may nest them anywhere. A ``package``/``version`` missing next to the URL is taken from the
    nearest enclosing object.
    """
    found: list[Artifact] = []

    def walk(node: Any, package: str | None, version: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, package, version)
            return
        if not isinstance(node, Mapping):
            return
        own_package = node.get("package") if isinstance(node.get("package"), str) else package
        own_version = node.get("version") if isinstance(node.get("version"), str) else version
        url = node.get("url")
        if isinstance(url, str):
            attributes = parse_attributes(node.get("attributes")) or {}
            size = attributes.get(SIZE_ATTRIBUTE)
            found.append(
                Artifact(
                    url=url,
                    sha256=(attributes.get(SHA256_ATTRIBUTE) or None),
                    size=int(size) if size is not None and size.isdigit() else None,
                    package=own_package,
                    version=own_version,
                )
            )
        for value in node.values():
            if isinstance(value, (Mapping, list)):
                walk(value, own_package, own_version)

    walk(document, None, None)
    return found


def download(session: requests.Session, url: str, *, corrupt: bool = False, timeout: float = 60.0) -> Download:
    """GET ``url`` and hash it on the fly; ``corrupt`` flips one bit of the first byte before hashing."""
    digest = hashlib.sha256()
    size = 0
    try:
        with session.get(url, stream=True, timeout=(10.0, timeout)) as response:
            if response.status_code != 200:
                return Download(error=f"HTTP {response.status_code} {_s3_error(response.text)}".strip())
            first = True
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                if first and corrupt and chunk:
                    chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
                first = False
                digest.update(chunk)
                size += len(chunk)
    except requests.RequestException as exc:
        return Download(error=f"{type(exc).__name__}: {exc}")
    if corrupt and size == 0:
        # Nothing to flip in an empty file: corruption shows as a stray byte.
        digest.update(b"\x01")
    return Download(digest.hexdigest(), size)


def _s3_error(body: str) -> str:
    """``Code: Message`` of an S3 XML error body, or nothing."""
    code = _between(body, "<Code>", "</Code>")
    message = _between(body, "<Message>", "</Message>")
    return ": ".join(part for part in (code, message) if part)


def _between(text: str, start: str, end: str) -> str:
    head, found, rest = text.partition(start)
    return rest.partition(end)[0] if found else ""


@dataclass
class _Work:
    """The execution a device is working on."""

    job_id: str
    execution_number: int
    attempt: int
    document: Any
    plan: behaviour.PlannedExecution
    artifacts: list[Artifact] = field(default_factory=list)
    firmware_version: str | None = None


class SimulatedDevice:
    """A device of one run; see the module docstring. ``step()`` is called by the stepping loop."""

    def __init__(self, thing_name: str, run: SimulationRun) -> None:
        self.thing_name = thing_name
        self.run = run
        self.idle_reason: str | None = None
        self.executions: list[ExecutionRecord] = []
        self._handled: set[tuple[str, int]] = set()
        self._work: _Work | None = None
        self._polls_waiting = 0
        self._waiting = False
        self._next: Callable[[], float | None] = self._poll

    # -- the loop's entry points -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """True while the device works on an execution (it goes before devices still polling)."""
        return self._work is not None

    def step(self) -> float | None:
        delay = self._next()
        if delay is None:
            self._stop_waiting()
        return delay

    # -- getting work ----------------------------------------------------------------------------

    def _poll(self) -> float | None:
        run = self.run
        if run.deadline_passed():
            return self._finish_idle(IDLE_UNTIL if not self.executions else None)
        if run.job_id is None:
            return self._poll_next_pending()
        return self._poll_job(run.job_id)

    def _poll_job(self, job_id: str) -> float | None:
        run = self.run
        polled_at = run.monotonic()
        try:
            answer = run.ctx.jobs_data.describe_job_execution(
                thingName=self.thing_name, jobId=job_id, includeJobDocument=True
            )
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            return self._wait_for_release(polled_at)
        execution = answer.get("execution") or {}
        status = execution.get("status")
        number = int(execution.get("executionNumber") or 0)
        if status in TERMINAL_STATUSES:
            if (job_id, number) in self._handled or self.executions:
                return self._finish_idle(None)
            return self._finish_idle(IDLE_ALREADY_FINISHED)
        if status not in (QUEUED, IN_PROGRESS):
            return self._wait_for_release(polled_at)
        self._stop_waiting()
        self._take(job_id, number, execution)
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.REJECT:
            # A device may refuse a job straight from QUEUED, before it downloads anything.
            self._next = self._reject
            return 0.0
        self._next = self._report_in_progress
        return 0.0

    def _poll_next_pending(self) -> float | None:
        run = self.run
        polled_at = run.monotonic()
        answer = run.ctx.jobs_data.start_next_pending_job_execution(
            thingName=self.thing_name,
            statusDetails={"step": "downloading"},
            stepTimeoutInMinutes=run.options.step_timeout_minutes,
        )
        execution = answer.get("execution")
        if not execution:
            return self._wait_for_release(polled_at)
        self._stop_waiting()
        self._take(str(execution["jobId"]), int(execution.get("executionNumber") or 0), execution)
        return self._started()

    def _take(self, job_id: str, number: int, execution: Mapping[str, Any]) -> None:
        document: Any = execution.get("jobDocument")
        if isinstance(document, str):
            try:
                document = json.loads(document)
            except ValueError:
                document = None
        attempt = sum(1 for handled_job, _ in self._handled if handled_job == job_id)
        plan = self.run.model.plan(job_id, self.thing_name, attempt)
        self._handled.add((job_id, number))
        self._work = _Work(job_id, number, attempt, document, plan)

    def _wait_for_release(self, polled_at: float) -> float | None:
        """Nothing to run yet: keep polling while the rollout may still release something."""
        run = self.run
        if run.deadline_passed():
            return self._finish_idle(IDLE_UNTIL)
        if not run.releases_pending(polled_at):
            return self._finish_idle(IDLE_NOTHING_PENDING if run.job_id is None else IDLE_NOT_RELEASED)
        if not self._waiting:
            self._waiting = True
            run.waiting_changed(+1)
        self._polls_waiting += 1
        return run.poll_delay(self._polls_waiting, self.thing_name)

    def _stop_waiting(self) -> None:
        if self._waiting:
            self._waiting = False
            self.run.waiting_changed(-1)
        self._polls_waiting = 0

    def _finish_idle(self, reason: str | None) -> float | None:
        """End the device (returns None, the loop's "finished"); ``reason`` says why it ran nothing."""
        if reason is not None and not self.executions:
            self.idle_reason = reason
        return None

    # -- running one execution -------------------------------------------------------------------

    def _report_in_progress(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        try:
            run.ctx.jobs_data.update_job_execution(
                thingName=self.thing_name,
                jobId=work.job_id,
                status=IN_PROGRESS,
                statusDetails={"step": "downloading"},
                stepTimeoutInMinutes=run.options.step_timeout_minutes,
                executionNumber=work.execution_number,
            )
        except ClientError as err:
            return self._ended_by_service(err)
        return self._started()

    def _started(self) -> float | None:
        """The execution is IN_PROGRESS: hang, refuse, or go on to download after the download latency."""
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.HANG:
            self._record(OUTCOME_HUNG, None, behaviour.HANG, "the device stopped responding")
            return self._after_execution(None)
        if work.plan.outcome == behaviour.REJECT:
            self._next = self._reject
            return 0.0
        self._next = self._download
        return work.plan.download_latency

    def _reject(self) -> float | None:
        work = self._work
        assert work is not None
        reason = "the device refused the job: the firmware is not compatible with its hardware revision"
        return self._report_final(REJECTED, {"failureType": behaviour.REJECT, "reason": reason}, behaviour.REJECT)

    def _download(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        if work.document is None:
            details = {"failureType": behaviour.DOWNLOAD, "reason": "the job document is not valid JSON"}
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        artifacts = find_artifacts(work.document)
        unsubstituted = [a for a in artifacts if a.url.startswith(PLACEHOLDER_PREFIX)]
        if unsubstituted:
            details = {
                "step": "downloading",
                "failureType": behaviour.DOWNLOAD,
                "reason": f"the document's URL was not substituted: {unsubstituted[0].url[:200]}",
            }
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        if work.plan.outcome == behaviour.DOWNLOAD and artifacts:
            name = artifacts[0].name
            details = {
                "step": "downloading",
                "failureType": behaviour.DOWNLOAD,
                "reason": f"the connection was reset while downloading {name}",
            }
            return self._report_final(FAILED, details, behaviour.DOWNLOAD)
        work.artifacts = [self._with_checksum(work.job_id, artifact) for artifact in artifacts]
        corrupt = work.plan.outcome == behaviour.CHECKSUM
        for index, artifact in enumerate(work.artifacts):
            got = download(run.session, artifact.url, corrupt=corrupt and index == 0)
            if got.error is not None:
                details = {
                    "step": "downloading",
                    "failureType": behaviour.DOWNLOAD,
                    "reason": f"downloading {artifact.name} failed: {got.error}"[:1024],
                }
                return self._report_final(FAILED, details, behaviour.DOWNLOAD)
            problem = _verify(artifact, got)
            if problem is not None:
                return self._report_final(FAILED, problem, behaviour.CHECKSUM)
        work.firmware_version = next((a.version for a in work.artifacts if a.version), None) or run.job_version(
            work.job_id
        )
        self._next = self._install
        return work.plan.install_latency

    def _with_checksum(self, job_id: str, artifact: Artifact) -> Artifact:
        """Fill in the SHA-256 and size from the package version when the document did not carry them."""
        if artifact.sha256:
            return artifact
        package, version = artifact.package, artifact.version
        if not (package and version):
            destination = self.run.job_destination(job_id)
            if destination is None:
                return artifact
            package, version = destination
        attributes = self.run.package_attributes.get(package, version)
        size = attributes.get(SIZE_ATTRIBUTE)
        return Artifact(
            url=artifact.url,
            sha256=attributes.get(SHA256_ATTRIBUTE) or None,
            size=int(size) if size is not None and size.isdigit() else artifact.size,
            package=package,
            version=version,
        )

    def _install(self) -> float | None:
        work = self._work
        assert work is not None
        if work.plan.outcome == behaviour.INSTALL:
            target = work.firmware_version or "the new firmware"
            details = {
                "step": "installing",
                "failureType": behaviour.INSTALL,
                "reason": f"installing {target} failed: the image did not pass the boot check",
            }
            return self._report_final(FAILED, details, behaviour.INSTALL)
        details = {"step": "completed"}
        if work.firmware_version:
            details["firmwareVersion"] = work.firmware_version
        return self._report_final(SUCCEEDED, details, None)

    def _report_final(self, status: str, details: dict[str, str], failure_type: str | None) -> float | None:
        work = self._work
        assert work is not None
        try:
            self.run.ctx.jobs_data.update_job_execution(
                thingName=self.thing_name,
                jobId=work.job_id,
                status=status,
                statusDetails=details,
                executionNumber=work.execution_number,
            )
        except ClientError as err:
            return self._ended_by_service(err)
        outcome = {SUCCEEDED: OUTCOME_SUCCEEDED, FAILED: OUTCOME_FAILED, REJECTED: OUTCOME_REJECTED}[status]
        self._record(outcome, status, failure_type, details.get("reason"))
        if status == SUCCEEDED and work.firmware_version:
            self._next = self._report_firmware
            return 0.0
        return self._after_execution(status)

    def _report_firmware(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        version = work.firmware_version
        reported = {FIRMWARE_SHADOW_KEY: {"version": version}}
        package = next((a.package for a in work.artifacts if a.package), None)
        if package:
            reported[FIRMWARE_SHADOW_KEY]["package"] = package
        run.ctx.iot_data.update_thing_shadow(
            thingName=self.thing_name, payload=json.dumps({"state": {"reported": reported}}).encode()
        )
        if run.options.write_package_shadow and package:
            self._next = self._report_package
            return 0.0
        return self._after_execution(SUCCEEDED)

    def _report_package(self) -> float | None:
        work = self._work
        assert work is not None
        run = self.run
        reported: dict[str, Any] = {}
        for artifact in work.artifacts:
            if artifact.package and artifact.version:
                attributes = run.package_attributes.get(artifact.package, artifact.version)
                reported[artifact.package] = {"version": artifact.version, "attributes": attributes}
        run.ctx.iot_data.update_thing_shadow(
            thingName=self.thing_name,
            shadowName=PACKAGE_SHADOW,
            payload=json.dumps({"state": {"reported": reported}}).encode(),
        )
        return self._after_execution(SUCCEEDED)

    def _ended_by_service(self, err: ClientError) -> float | None:
        """The service ended the execution (or the job) while the device worked on it."""
        if error_code(err) not in _ENDED_CODES:
            raise err
        message = err.response.get("Error", {}).get("Message") or error_code(err)
        self._record(OUTCOME_ENDED_BY_SERVICE, None, None, f"{error_code(err)}: {message}")
        return self._after_execution(None)

    def _record(self, outcome: str, status: str | None, failure_type: str | None, reason: str | None) -> None:
        work = self._work
        assert work is not None
        record = ExecutionRecord(
            job_id=work.job_id,
            thing_name=self.thing_name,
            execution_number=work.execution_number,
            attempt=work.attempt,
            outcome=outcome,
            status=status,
            failure_type=failure_type,
            reason=reason,
            firmware_version=work.firmware_version if outcome == OUTCOME_SUCCEEDED else None,
        )
        self.executions.append(record)

    def _after_execution(self, status: str | None) -> float | None:
        """Look for more work (a retry, or another job in fleet scope), or stop."""
        work = self._work
        assert work is not None
        self._work = None
        run = self.run
        if status is None:
            return None  # hung or ended by the service: this device is done for the run
        if run.job_id is not None and not (status == FAILED and run.retries_failures(work.job_id)):
            return None
        self._next = self._poll
        return 0.0


def _verify(artifact: Artifact, got: Download) -> dict[str, str] | None:
    """statusDetails of a checksum failure, or None when the download is what was published."""
    if not artifact.sha256:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"no SHA-256 is published for {artifact.name}, so it cannot be verified",
        }
    if artifact.size is not None and artifact.size != got.size:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"size mismatch for {artifact.name}: expected {artifact.size} bytes, got {got.size}",
            "expectedSha256": artifact.sha256,
            "actualSha256": got.sha256,
        }
    if artifact.sha256.lower() != got.sha256:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"SHA-256 mismatch for {artifact.name}",
            "expectedSha256": artifact.sha256,
            "actualSha256": got.sha256,
        }
    return None
