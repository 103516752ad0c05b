"""The rollout's record: its state, kept in AWS so that any machine can read it, change it and resume it.

Two JSON objects in the fleet's firmware bucket (versioned, encrypted, TLS-only; see :mod:`iotfleet.fleet.storage`):

* ``iotfleet/rollouts/<id>/record.json``: the spec, every wave's status, job and gate decision (with the
  figures it was taken on), the state, pending requests (abort), the rollback, and a timeline of events;
* ``iotfleet/rollouts/<id>/waves.json``: the devices of each wave, written once at the start and never
  changed (it can be large; the record stays small, so watching a rollout reads little).

Every change is a compare-and-swap: read the record and its ETag, change it, and write it back with
``If-Match`` (a new record with ``If-None-Match: *``). When someone else wrote in between (S3 answers 412
or 409), the change is applied again to what is there now. Controller changes are facts ("wave 2's job
exists", "wave 2's gate failed on these figures") that apply to any state, so a pause or an approval
written at the same moment is never lost, and neither is the fact. The bucket's versioning keeps every
earlier revision. The wave jobs carry the same facts as tags (``iotfleet:rollout``, ``iotfleet:rollout-wave``
and, once decided, ``iotfleet:rollout-gate``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, ResourceFailure, UsageError, is_error
from iotfleet.fleet.explore.times import iso_time
from iotfleet.fleet.resources import provisioned
from iotfleet.fleet.rollout.spec import GateSpec
from iotfleet.fleet.storage import owned_buckets

FORMAT = 1
PREFIX = "iotfleet/rollouts/"
RECORD_NAME = "record.json"
MEMBERSHIP_NAME = "waves.json"
CONFLICT_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
MAX_ATTEMPTS = 20
MAX_EVENTS = 500

# Rollout states.
RUNNING = "RUNNING"
WAITING_APPROVAL = "WAITING_APPROVAL"
PAUSED = "PAUSED"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
ROLLED_BACK = "ROLLED_BACK"
ABORTED = "ABORTED"
STATES = (RUNNING, WAITING_APPROVAL, PAUSED, COMPLETED, FAILED, ROLLED_BACK, ABORTED)
TERMINAL = frozenset({COMPLETED, FAILED, ROLLED_BACK, ABORTED})

# Wave statuses.
PENDING = "PENDING"
WAVE_RUNNING = "RUNNING"
PASSED = "PASSED"
WAVE_FAILED = "FAILED"
STOPPED = "STOPPED"  # its job was canceled when the rollout stopped, before its gate decided

# Phases of stopping a rollout (a failed gate, or an abort).
CANCELING = "CANCELING"  # cancel every wave job still active
DRAINING = "DRAINING"  # wait for executions in progress to end, so every updated device is known
ROLLING_BACK = "ROLLING_BACK"  # the rollback job runs
STOP_DONE = "DONE"


def to_iso(epoch: float | None) -> str | None:
    return iso_time(epoch)


def from_iso(text: Any) -> float | None:
    if not text:
        return None
    value = str(text)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    return dt.datetime.fromisoformat(value).timestamp()


@dataclass
class WaveRecord:
    """One wave: its devices (how many; the names are in the membership object), group, job and gate."""

    number: int
    percent: float
    size: int
    strata: dict[str, int]
    group: str
    job_id: str
    status: str = PENDING
    started_at: float | None = None
    ready_at: float | None = None
    decided_at: float | None = None
    approved_at: float | None = None
    gate: dict[str, Any] | None = None  # the verdict that decided it, with its figures
    tagged: bool = False  # the decision is on the job's tags too

    @property
    def started(self) -> bool:
        return self.status != PENDING

    def to_document(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "percent": self.percent,
            "devices": self.size,
            "strata": self.strata,
            "group": self.group,
            "jobId": self.job_id,
            "status": self.status,
            "startedAt": to_iso(self.started_at),
            "readyAt": to_iso(self.ready_at),
            "decidedAt": to_iso(self.decided_at),
            "approvedAt": to_iso(self.approved_at),
            "gate": self.gate,
            "tagged": self.tagged,
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> WaveRecord:
        return cls(
            number=int(data["number"]),
            percent=float(data["percent"]),
            size=int(data["devices"]),
            strata=dict(data.get("strata") or {}),
            group=str(data["group"]),
            job_id=str(data["jobId"]),
            status=str(data.get("status") or PENDING),
            started_at=from_iso(data.get("startedAt")),
            ready_at=from_iso(data.get("readyAt")),
            decided_at=from_iso(data.get("decidedAt")),
            approved_at=from_iso(data.get("approvedAt")),
            gate=data.get("gate"),
            tagged=bool(data.get("tagged")),
        )


@dataclass
class StopRecord:
    """How the rollout is being stopped: why, whether it rolls back, and how far it got."""

    cause: str  # "gate" or "abort"
    reason: str
    rollback: bool
    phase: str = CANCELING
    requested_at: float | None = None
    canceled_jobs: list[str] = field(default_factory=list)
    devices: int | None = None  # devices found on the new version, to roll back
    job_id: str | None = None  # the rollback job
    group: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    counts: dict[str, int] | None = None  # the rollback job's counters at its end

    def to_document(self) -> dict[str, Any]:
        return {
            "cause": self.cause,
            "reason": self.reason,
            "rollback": self.rollback,
            "phase": self.phase,
            "requestedAt": to_iso(self.requested_at),
            "canceledJobs": self.canceled_jobs,
            "devices": self.devices,
            "jobId": self.job_id,
            "group": self.group,
            "startedAt": to_iso(self.started_at),
            "endedAt": to_iso(self.ended_at),
            "counts": self.counts,
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> StopRecord:
        return cls(
            cause=str(data["cause"]),
            reason=str(data.get("reason") or ""),
            rollback=bool(data.get("rollback")),
            phase=str(data.get("phase") or CANCELING),
            requested_at=from_iso(data.get("requestedAt")),
            canceled_jobs=list(data.get("canceledJobs") or []),
            devices=data.get("devices"),
            job_id=data.get("jobId"),
            group=data.get("group"),
            started_at=from_iso(data.get("startedAt")),
            ended_at=from_iso(data.get("endedAt")),
            counts=data.get("counts"),
        )


@dataclass
class RolloutRecord:
    """Everything about one rollout that lives in AWS (see the module docstring)."""

    rollout_id: str
    fleet: str
    package: str
    version: str
    target: dict[str, Any]
    gate: GateSpec
    waves: list[WaveRecord]
    wave_request: dict[str, Any]  # the CreateJob request of every wave, without jobId, targets and tags
    wave_tags: list[dict[str, str]]
    seed: int
    approve: bool = False
    rollback_version: str | None = None
    rollback_request: dict[str, Any] | None = None
    state: str = RUNNING
    paused_from: str | None = None
    created_at: float | None = None
    updated_at: float | None = None
    ended_at: float | None = None
    stop: StopRecord | None = None
    retries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    excluded: int = 0  # target devices left out because they already report the version
    groups_released: bool = False
    description: str | None = None
    notes: list[str] = field(default_factory=list)
    revision: int = 0

    @property
    def ended(self) -> bool:
        return self.state in TERMINAL

    @property
    def devices(self) -> int:
        return sum(wave.size for wave in self.waves)

    def wave(self, number: int) -> WaveRecord:
        return self.waves[number - 1]

    @property
    def current(self) -> WaveRecord | None:
        """The first wave whose gate has not passed (None when every gate passed)."""
        return next((wave for wave in self.waves if wave.status != PASSED), None)

    def started_waves(self) -> list[WaveRecord]:
        return [wave for wave in self.waves if wave.started]

    def event(self, at: float, kind: str, message: str, *, wave: int | None = None, **extra: Any) -> None:
        entry: dict[str, Any] = {"at": to_iso(at), "kind": kind, "message": message}
        if wave is not None:
            entry["wave"] = wave
        entry.update(extra)
        self.events.append(entry)
        del self.events[:-MAX_EVENTS]

    def end(self, state: str, at: float, message: str) -> None:
        self.state = state
        self.paused_from = None
        self.ended_at = at
        self.event(at, state.lower().replace("_", "-"), message)

    def to_document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "rolloutId": self.rollout_id,
            "fleet": self.fleet,
            "package": self.package,
            "version": self.version,
            "target": self.target,
            "gate": self.gate.as_dict(),
            "approve": self.approve,
            "seed": self.seed,
            "rollbackVersion": self.rollback_version,
            "state": self.state,
            "pausedFrom": self.paused_from,
            "createdAt": to_iso(self.created_at),
            "updatedAt": to_iso(self.updated_at),
            "endedAt": to_iso(self.ended_at),
            "devices": self.devices,
            "excluded": self.excluded,
            "waves": [wave.to_document() for wave in self.waves],
            "stop": None if self.stop is None else self.stop.to_document(),
            "retries": self.retries,
            "groupsReleased": self.groups_released,
            "description": self.description,
            "notes": self.notes,
            "revision": self.revision,
            "waveRequest": self.wave_request,
            "waveTags": self.wave_tags,
            "rollbackRequest": self.rollback_request,
            "events": self.events,
        }

    @classmethod
    def from_document(cls, data: dict[str, Any]) -> RolloutRecord:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown rollout record format {data.get('format')!r}")
        stop = data.get("stop")
        return cls(
            rollout_id=str(data["rolloutId"]),
            fleet=str(data["fleet"]),
            package=str(data["package"]),
            version=str(data["version"]),
            target=dict(data.get("target") or {}),
            gate=GateSpec.from_dict(data.get("gate") or {}),
            waves=[WaveRecord.from_document(w) for w in data.get("waves") or []],
            wave_request=dict(data.get("waveRequest") or {}),
            wave_tags=list(data.get("waveTags") or []),
            seed=int(data.get("seed") or 0),
            approve=bool(data.get("approve")),
            rollback_version=data.get("rollbackVersion"),
            rollback_request=data.get("rollbackRequest"),
            state=str(data.get("state") or RUNNING),
            paused_from=data.get("pausedFrom"),
            created_at=from_iso(data.get("createdAt")),
            updated_at=from_iso(data.get("updatedAt")),
            ended_at=from_iso(data.get("endedAt")),
            stop=None if not stop else StopRecord.from_document(stop),
            retries=list(data.get("retries") or []),
            events=list(data.get("events") or []),
            excluded=int(data.get("excluded") or 0),
            groups_released=bool(data.get("groupsReleased")),
            description=data.get("description"),
            notes=list(data.get("notes") or []),
            revision=int(data.get("revision") or 0),
        )


Mutation = Callable[[RolloutRecord], None]


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, indent=1, sort_keys=True, default=str).encode()


class RolloutStore:
    """The rollout records of one fleet, in its bucket (found by its ownership tag)."""

    def __init__(self, ctx: AwsContext, fleet: str, bucket: str | None = None) -> None:
        self.ctx = ctx
        self.fleet = fleet
        self.bucket = bucket or provisioned(next(iter(owned_buckets(ctx, fleet)), None), fleet, "firmware bucket")
        self._membership: dict[str, dict[int, list[str]]] = {}

    @staticmethod
    def record_key(rollout_id: str) -> str:
        return f"{PREFIX}{rollout_id}/{RECORD_NAME}"

    @staticmethod
    def membership_key(rollout_id: str) -> str:
        return f"{PREFIX}{rollout_id}/{MEMBERSHIP_NAME}"

    def _put(self, key: str, document: dict[str, Any], **condition: str) -> None:
        self.ctx.s3.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=_encode(document),
            ContentType="application/json",
            ServerSideEncryption="AES256",
            **condition,
        )

    def _get(self, key: str) -> tuple[dict[str, Any], str] | None:
        try:
            answer = self.ctx.s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if is_error(err, "NoSuchKey", "404"):
                return None
            raise
        body = answer["Body"].read()
        try:
            return json.loads(body), str(answer.get("ETag") or "")
        except ValueError as exc:
            raise OperationFailed(
                f"the rollout record s3://{self.bucket}/{key} is not JSON; fix or delete it",
                [ResourceFailure("rollout record", key, str(exc))],
            ) from None

    def exists(self, rollout_id: str) -> bool:
        return self._get(self.record_key(rollout_id)) is not None

    def read(self, rollout_id: str) -> tuple[RolloutRecord, str]:
        """The record and its ETag; an unknown rollout is a usage error."""
        found = self._get(self.record_key(rollout_id))
        if found is None:
            raise UsageError(f"fleet {self.fleet!r} has no rollout {rollout_id!r} (see iotfleet rollout list)", "ID")
        document, etag = found
        try:
            return RolloutRecord.from_document(document), etag
        except (KeyError, TypeError, ValueError) as exc:
            raise OperationFailed(
                f"the rollout record of {rollout_id} cannot be read",
                [ResourceFailure("rollout record", self.record_key(rollout_id), str(exc))],
            ) from None

    def load(self, rollout_id: str) -> RolloutRecord:
        return self.read(rollout_id)[0]

    def create(self, record: RolloutRecord, membership: dict[int, list[str]], excluded: list[str]) -> None:
        """Write a new rollout: its membership, then its record; an existing one is a usage error (but not the
        record this call wrote, met again by a retry whose first attempt's reply was lost)."""
        document = {"format": FORMAT, "rolloutId": record.rollout_id, "excluded": excluded,
                    "waves": [{"number": n, "devices": names} for n, names in sorted(membership.items())]}  # fmt: skip
        try:
            self._put(self.membership_key(record.rollout_id), document, IfNoneMatch="*")
        except ClientError as err:
            if not is_error(err, *CONFLICT_CODES):
                raise
            if self.exists(record.rollout_id):
                raise UsageError(
                    f"rollout {record.rollout_id} already exists: resume it (iotfleet rollout resume "
                    f"{record.rollout_id}) or choose another --rollout-id",
                    "--rollout-id",
                ) from None
            # A start interrupted between its two writes: the membership is there, the record is not.
            self._put(self.membership_key(record.rollout_id), document)
        written = record.to_document()
        try:
            self._put(self.record_key(record.rollout_id), written, IfNoneMatch="*")
        except ClientError as err:
            if not is_error(err, *CONFLICT_CODES):
                raise
            # The write took effect and its reply was lost, so the retry met the record it had written.
            found = self._get(self.record_key(record.rollout_id))
            if found is None or found[0] != json.loads(_encode(written)):
                raise UsageError(f"rollout {record.rollout_id} already exists", "--rollout-id") from None
        self._membership[record.rollout_id] = {n: list(names) for n, names in membership.items()}

    def update(self, rollout_id: str, change: Mutation, at: float) -> RolloutRecord:
        """Apply ``change`` to the record and write it back, again on a fresh copy after a conflicting write."""
        for _ in range(MAX_ATTEMPTS):
            record, etag = self.read(rollout_id)
            change(record)
            record.revision += 1
            record.updated_at = at
            try:
                self._put(self.record_key(rollout_id), record.to_document(), IfMatch=etag)
            except ClientError as err:
                if is_error(err, *CONFLICT_CODES):
                    continue
                raise
            return record
        raise OperationFailed(
            f"rollout {rollout_id}: the record kept changing under this update",
            [ResourceFailure("rollout record", self.record_key(rollout_id), "too many conflicting writes")],
        )

    def membership(self, rollout_id: str) -> dict[int, list[str]]:
        """The devices of each wave (read once per store)."""
        if rollout_id not in self._membership:
            found = self._get(self.membership_key(rollout_id))
            if found is None:
                raise OperationFailed(
                    f"rollout {rollout_id} has lost its wave membership",
                    [ResourceFailure("rollout record", self.membership_key(rollout_id), "missing")],
                )
            self._membership[rollout_id] = {
                int(w["number"]): [str(n) for n in w["devices"]] for w in found[0].get("waves") or []
            }
        return self._membership[rollout_id]

    def rollout_ids(self) -> list[str]:
        """Every rollout of the fleet (ListObjectsV2 of the prefix, all pages)."""
        ids: list[str] = []
        paginator = self.ctx.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=PREFIX):
            for entry in page.get("Contents") or []:
                key = str(entry["Key"])
                if key.endswith(f"/{RECORD_NAME}"):
                    ids.append(key[len(PREFIX) : -len(RECORD_NAME) - 1])
        return sorted(ids)
