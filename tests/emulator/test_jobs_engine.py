"""The jobs engine without HTTP: a fake clock, an in-memory registry, every rule checked directly."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotfleet.emulator.errors import (
    InvalidRequestException,
    InvalidStateTransitionException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    VersionConflictException,
)
from iotfleet.emulator.jobs.documents import S3Location
from iotfleet.emulator.jobs.engine import JobsEngine
from iotfleet.emulator.jobs.policies import ABORT_REASON_CODE
from iotfleet.emulator.jobs.schedule import format_time

ACCOUNT = "123456789012"
REGION = "us-east-1"
START = 1_800_000_000.0  # a whole minute, a Friday 08:00 UTC... whatever: tests use offsets from it
DOC = json.dumps({"operation": "update"})


def thing_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{name}"


def group_arn(name: str) -> str:
    return f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{name}"


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@dataclass
class Version:
    arn: str
    package_name: str
    version_name: str
    status: str
    attributes: dict[str, str] = field(default_factory=dict)
    artifact: dict[str, Any] | None = None


class FakeRegistry:
    """Things, groups (with parents), packages, shadows and S3 objects, in memory."""

    def __init__(self) -> None:
        self.account_id = ACCOUNT
        self.region = REGION
        self.things: set[str] = set()
        self.groups: dict[str, set[str]] = {}
        self.parents: dict[str, str] = {}
        self.versions: dict[tuple[str, str], Version] = {}
        self.config: dict[str, Any] = {"versionUpdateByJobsConfig": {"enabled": False}}
        self.package_shadows: dict[str, dict[str, Any]] = {}
        self.objects: dict[tuple[str, str], bytes] = {}
        self.minted: list[tuple[S3Location, int]] = []

    def add_things(self, *names: str, group: str | None = None) -> None:
        self.things.update(names)
        if group is not None:
            self.groups.setdefault(group, set()).update(names)

    def thing_exists(self, thing_name: str) -> bool:
        return thing_name in self.things

    def group_exists(self, group_name: str) -> bool:
        return group_name in self.groups

    def group_members(self, group_name: str) -> list[str]:
        members = set(self.groups[group_name])
        for child, parent in self.parents.items():
            if parent == group_name:
                members.update(self.group_members(child))
        return sorted(members)

    def groups_of_thing(self, thing_name: str) -> set[str]:
        found = {name for name, members in self.groups.items() if thing_name in members}
        for name in list(found):
            while name in self.parents:
                name = self.parents[name]
                found.add(name)
        return found

    def group_id(self, group_name: str) -> str | None:
        return f"id-{group_name}" if group_name in self.groups else None

    def package_version(self, package_name: str, version_name: str) -> Version | None:
        return self.versions.get((package_name, version_name))

    def parse_package_version_arn(self, arn: str) -> tuple[str, str]:
        _, _, rest = arn.partition(":package/")
        package, _, version = rest.partition("/version/")
        if not package or not version:
            raise InvalidRequestException(f"{arn} is not a package version ARN")
        return package, version

    def package_configuration(self) -> dict[str, Any]:
        return self.config

    def merge_package_shadow(self, thing_name: str, reported: dict[str, Any]) -> None:
        self.package_shadows.setdefault(thing_name, {}).update(reported)

    def presign_get(self, location: S3Location, expires_in: int) -> str:
        self.minted.append((location, expires_in))
        version = f"&versionId={location.version_id}" if location.version_id else ""
        return f"https://signed.example/{location.bucket}/{location.key}?expires={expires_in}{version}"

    def read_object(self, location: S3Location) -> bytes | None:
        return self.objects.get((location.bucket, location.key))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def registry() -> FakeRegistry:
    return FakeRegistry()


@pytest.fixture
def engine(registry: FakeRegistry, clock: Clock) -> JobsEngine:
    return JobsEngine(registry, clock, deletion_seconds=5.0)


def fleet(registry: FakeRegistry, count: int, group: str = "fleet") -> list[str]:
    names = [f"dev-{i:03d}" for i in range(count)]
    registry.add_things(*names, group=group)
    return names


def create(engine: JobsEngine, job_id: str = "job1", targets: list[str] | None = None, **params: Any) -> Any:
    request: dict[str, Any] = {"jobId": job_id, "targets": targets or [group_arn("fleet")], "document": DOC}
    request.update(params)
    return engine.create_job(request)


def statuses(engine: JobsEngine, job_id: str = "job1") -> dict[str, int]:
    details = engine.get_job(job_id).process_details()
    return {status: count for status, count in details.items() if count}


def advance(clock: Clock, engine: JobsEngine, seconds: float) -> None:
    clock.now += seconds
    engine.advance()


# ---------------------------------------------------------------- fan-out and state machine


def test_fan_out_one_execution_per_thing_without_duplicates(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 3)
    registry.add_things("dev-001", "solo", group="other")
    job = create(engine, targets=[group_arn("fleet"), group_arn("other"), thing_arn("dev-000")])
    assert sorted(job.executions) == ["dev-000", "dev-001", "dev-002", "solo"]
    assert statuses(engine) == {"QUEUED": 4}
    # executionNumber counts per (job, thing): every thing's first execution of the job is 1.
    assert [e.execution_number for e in job.current_executions()] == [1, 1, 1, 1]


def test_child_groups_are_part_of_a_group_target(engine: JobsEngine, registry: FakeRegistry) -> None:
    registry.add_things("a", group="parent")
    registry.add_things("b", group="child")
    registry.parents["child"] = "parent"
    job = create(engine, targets=[group_arn("parent")])
    assert sorted(job.executions) == ["a", "b"]


def test_unknown_target_and_duplicate_job_id(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    with pytest.raises(ResourceNotFoundException):
        create(engine, targets=[group_arn("missing")])
    with pytest.raises(InvalidRequestException):
        create(engine, targets=["arn:aws:iot:us-east-1:123456789012:policy/x"])
    create(engine)
    with pytest.raises(ResourceAlreadyExistsException):
        create(engine)


def test_device_lifecycle_and_versions(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    job, execution = engine.start_next("dev-000", status_details={"step": "download"})
    assert execution.status == "IN_PROGRESS"
    assert execution.version_number == 2
    assert execution.status_details == {"step": "download"}
    _, execution = engine.device_update("dev-000", "job1", "IN_PROGRESS", status_details={"step": "flash"})
    assert execution.version_number == 3
    _, execution = engine.device_update("dev-000", "job1", "SUCCEEDED", expected_version=3)
    assert execution.status == "SUCCEEDED"
    assert engine.get_job("job1").status == "COMPLETED"
    assert engine.get_job("job1").completed_at == START


def test_stale_expected_version_is_rejected_and_changes_nothing(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    engine.start_next("dev-000")
    with pytest.raises(InvalidStateTransitionException) as stale:
        engine.device_update("dev-000", "job1", "SUCCEEDED", expected_version=1)
    assert stale.value.fields["executionState"]["versionNumber"] == 2
    assert engine.describe_execution("job1", "dev-000").status == "IN_PROGRESS"


def test_terminal_and_invalid_transitions(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    with pytest.raises(InvalidStateTransitionException):
        engine.device_update("dev-000", "job1", "CANCELED")
    with pytest.raises(InvalidStateTransitionException):
        engine.device_update("dev-000", "job1", "QUEUED")
    engine.device_update("dev-000", "job1", "REJECTED")
    with pytest.raises(InvalidStateTransitionException) as excinfo:
        engine.device_update("dev-000", "job1", "IN_PROGRESS")
    assert excinfo.value.fields["executionState"] == {"status": "REJECTED", "statusDetails": {}, "versionNumber": 2}
    with pytest.raises(ResourceNotFoundException):
        engine.device_update("nobody", "job1", "IN_PROGRESS")


def test_status_details_limits(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    with pytest.raises(InvalidRequestException):
        engine.device_update("dev-000", "job1", "IN_PROGRESS", status_details={f"k{i}": "v" for i in range(11)})
    with pytest.raises(InvalidRequestException):
        engine.device_update("dev-000", "job1", "IN_PROGRESS", status_details={"k": "x" * 1025})
    with pytest.raises(InvalidRequestException):
        engine.device_update("dev-000", "job1", "IN_PROGRESS", status_details={"bad key": "v"})
    _, execution = engine.device_update(
        "dev-000", "job1", "IN_PROGRESS", status_details={f"k{i}": "x" * 1024 for i in range(10)}
    )
    assert len(execution.status_details) == 10


def test_next_pending_prefers_in_progress_then_oldest(
    engine: JobsEngine, registry: FakeRegistry, clock: Clock
) -> None:
    fleet(registry, 1)
    create(engine, "old")
    advance(clock, engine, 5)
    create(engine, "new")
    assert engine.next_pending("dev-000")[0].job_id == "old"
    engine.device_update("dev-000", "new", "IN_PROGRESS")
    assert engine.next_pending("dev-000")[0].job_id == "new"
    in_progress, queued = engine.pending_executions("dev-000")
    assert [e.job_id for e in in_progress] == ["new"]
    assert [e.job_id for e in queued] == ["old"]


def test_start_next_returns_in_progress_unchanged_and_none_when_idle(
    engine: JobsEngine, registry: FakeRegistry
) -> None:
    fleet(registry, 1)
    assert engine.start_next("dev-000") is None
    create(engine)
    engine.start_next("dev-000", status_details={"a": "1"})
    _, execution = engine.start_next("dev-000", status_details={"a": "2"})
    assert execution.status_details == {"a": "1"}
    assert execution.version_number == 2


# ------------------------------------------------------------------------------ rollout


def test_constant_rollout_releases_per_minute(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 10)
    create(engine, jobExecutionsRolloutConfig={"maximumPerMinute": 3})
    counts = []
    for _ in range(5):
        counts.append(statuses(engine).get("QUEUED", 0))
        advance(clock, engine, 60)
    assert counts == [3, 6, 9, 10, 10]
    assert [e.job_id for e in engine.pending_executions("dev-009")[1]] == ["job1"]
    assert engine.get_job("job1").is_concurrent is False


def test_unreleased_things_are_invisible_to_devices(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 3)
    create(engine, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    assert engine.next_pending("dev-000") is not None
    assert engine.next_pending("dev-002") is None
    assert engine.get_job("job1").is_concurrent is True


def test_exponential_rollout_on_notified_things(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 40)
    create(
        engine,
        jobExecutionsRolloutConfig={
            "exponentialRate": {
                "baseRatePerMinute": 2,
                "incrementFactor": 2.0,
                "rateIncreaseCriteria": {"numberOfNotifiedThings": 4},
            }
        },
    )
    released = []
    for _ in range(5):
        released.append(statuses(engine)["QUEUED"])
        advance(clock, engine, 60)
    # minute 0: 2 (rate 2); minute 1: 4 notified -> rate 2*2=4 -> 8... read at each step start:
    # step0 c=0 rate2 ->2; step1 c=2 rate2 ->4; step2 c=4 rate4 ->8; step3 c=8 rate8 ->16; step4 c=16 rate32 ->40
    assert released == [2, 4, 8, 16, 40]


def test_exponential_rollout_on_succeeded_things(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    names = fleet(registry, 20)
    create(
        engine,
        jobExecutionsRolloutConfig={
            "exponentialRate": {
                "baseRatePerMinute": 2,
                "incrementFactor": 3.0,
                "rateIncreaseCriteria": {"numberOfSucceededThings": 2},
            }
        },
    )
    assert statuses(engine) == {"QUEUED": 2}
    advance(clock, engine, 60)
    assert statuses(engine) == {"QUEUED": 4}  # nobody succeeded: still 2 per minute
    for name in names[:2]:
        engine.device_update(name, "job1", "SUCCEEDED")
    advance(clock, engine, 60)
    assert statuses(engine) == {"SUCCEEDED": 2, "QUEUED": 2 + 6}  # 2 succeeded -> rate 2*3 = 6


def test_rollout_validation(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    bad = [
        {"maximumPerMinute": 0},
        {"maximumPerMinute": 1001},
        {"maximumPerMinute": 5, "exponentialRate": {}},
        {"exponentialRate": {"baseRatePerMinute": 1, "incrementFactor": 1.55,
                             "rateIncreaseCriteria": {"numberOfNotifiedThings": 1}}},
        {"exponentialRate": {"baseRatePerMinute": 1, "incrementFactor": 2.0, "rateIncreaseCriteria": {}}},
        {"exponentialRate": {"baseRatePerMinute": 1, "incrementFactor": 2.0,
                             "rateIncreaseCriteria": {"numberOfNotifiedThings": 5, "numberOfSucceededThings": 0}}},
    ]
    for config in bad:
        with pytest.raises(InvalidRequestException):
            create(engine, jobExecutionsRolloutConfig=config)
    both = {"numberOfNotifiedThings": 5, "numberOfSucceededThings": 2}
    job = create(
        engine,
        jobExecutionsRolloutConfig={
            "exponentialRate": {"baseRatePerMinute": 1, "incrementFactor": 2.0, "rateIncreaseCriteria": both}
        },
    )
    assert (job.rate.notified_threshold, job.rate.succeeded_threshold) == (5, 2)


# -------------------------------------------------------------------------------- abort


def abort_config(failure_type: str = "FAILED", threshold: float = 50.0, minimum: int = 4) -> dict[str, Any]:
    return {
        "criteriaList": [
            {
                "failureType": failure_type,
                "action": "CANCEL",
                "thresholdPercentage": threshold,
                "minNumberOfExecutedThings": minimum,
            }
        ]
    }


def test_abort_fires_at_threshold_and_not_before(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 6)
    create(engine, abortConfig=abort_config("FAILED", 50.0, 4))
    engine.device_update(names[0], "job1", "IN_PROGRESS")
    engine.device_update(names[1], "job1", "FAILED")
    engine.device_update(names[2], "job1", "FAILED")
    assert engine.get_job("job1").status == "IN_PROGRESS"  # 2 of 6 = 33%
    engine.device_update(names[3], "job1", "REJECTED")  # not a FAILED
    assert engine.get_job("job1").status == "IN_PROGRESS"
    engine.device_update(names[4], "job1", "FAILED")  # 3 of 6 = 50%
    job = engine.get_job("job1")
    assert job.status == "CANCELED"
    assert job.reason_code == ABORT_REASON_CODE
    assert "FAILED" in (job.comment or "")
    assert engine.describe_execution("job1", names[5]).status == "CANCELED"
    assert engine.describe_execution("job1", names[0]).status == "IN_PROGRESS"  # IN_PROGRESS continues
    engine.device_update(names[0], "job1", "SUCCEEDED")
    assert engine.get_job("job1").status == "CANCELED"


def test_abort_waits_for_min_executed_things(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    names = fleet(registry, 6)
    create(engine, jobExecutionsRolloutConfig={"maximumPerMinute": 2}, abortConfig=abort_config("ALL", 50.0, 4))
    engine.device_update(names[0], "job1", "FAILED")
    engine.device_update(names[1], "job1", "REJECTED")
    assert engine.get_job("job1").status == "IN_PROGRESS"  # 100% of 2, but only 2 executed
    advance(clock, engine, 60)  # 4 executed, 2 failed = 50%
    assert engine.get_job("job1").status == "CANCELED"
    assert statuses(engine) == {"FAILED": 1, "REJECTED": 1, "CANCELED": 2}


# ------------------------------------------------------------------------------ timeouts


def test_in_progress_timeout(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 1)
    create(engine, timeoutConfig={"inProgressTimeoutInMinutes": 60})
    advance(clock, engine, 600)  # queued time does not count
    engine.start_next("dev-000")
    assert engine.describe_execution("job1", "dev-000").seconds_before_timeout(clock.now) == 3600
    advance(clock, engine, 3599)
    assert engine.describe_execution("job1", "dev-000").status == "IN_PROGRESS"
    advance(clock, engine, 1)
    execution = engine.describe_execution("job1", "dev-000")
    assert execution.status == "TIMED_OUT"
    assert execution.last_updated_at == START + 600 + 3600
    assert engine.get_job("job1").status == "COMPLETED"


def test_step_timeout_replaces_and_is_capped(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    """AWS's own example: a 20-minute in-progress timer started at 12:00, step timers after it."""
    fleet(registry, 1)
    create(engine, timeoutConfig={"inProgressTimeoutInMinutes": 20})
    engine.start_next("dev-000")  # 12:00
    assert engine.describe_execution("job1", "dev-000").deadline() == START + 20 * 60
    advance(clock, engine, 5 * 60)
    engine.device_update("dev-000", "job1", "IN_PROGRESS", step_timeout=7)  # 12:05 -> 12:12
    assert engine.describe_execution("job1", "dev-000").deadline() == START + 12 * 60
    advance(clock, engine, 5 * 60)
    engine.device_update("dev-000", "job1", "IN_PROGRESS", step_timeout=5)  # 12:10 -> 12:15
    assert engine.describe_execution("job1", "dev-000").deadline() == START + 15 * 60
    advance(clock, engine, 3 * 60)
    engine.device_update("dev-000", "job1", "IN_PROGRESS", step_timeout=9)  # 12:13 -> capped at 12:20
    assert engine.describe_execution("job1", "dev-000").deadline() == START + 20 * 60
    advance(clock, engine, 7 * 60 - 1)
    assert engine.describe_execution("job1", "dev-000").status == "IN_PROGRESS"
    advance(clock, engine, 1)
    assert engine.describe_execution("job1", "dev-000").status == "TIMED_OUT"


def test_step_timeout_alone_and_cleared(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 2)
    create(engine)
    engine.start_next("dev-000", step_timeout=2)
    engine.start_next("dev-001", step_timeout=2)
    engine.device_update("dev-001", "job1", "IN_PROGRESS", step_timeout=-1)
    advance(clock, engine, 120)
    assert engine.describe_execution("job1", "dev-000").status == "TIMED_OUT"
    assert engine.describe_execution("job1", "dev-001").status == "IN_PROGRESS"
    with pytest.raises(InvalidRequestException):
        engine.device_update("dev-001", "job1", "IN_PROGRESS", step_timeout=0)


def test_update_without_step_timeout_keeps_the_timer(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 1)
    create(engine)
    engine.start_next("dev-000", step_timeout=3)
    advance(clock, engine, 60)
    engine.device_update("dev-000", "job1", "IN_PROGRESS", status_details={"p": "50"})
    advance(clock, engine, 120)
    assert engine.describe_execution("job1", "dev-000").status == "TIMED_OUT"


# ------------------------------------------------------------------------------- retries


def test_retries_create_new_execution_numbers(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 1)
    create(
        engine,
        timeoutConfig={"inProgressTimeoutInMinutes": 5},
        jobExecutionsRetryConfig={
            "criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1},
                             {"failureType": "TIMED_OUT", "numberOfRetries": 1}]
        },
    )
    first = engine.describe_execution("job1", "dev-000")
    engine.device_update("dev-000", "job1", "FAILED")
    second = engine.describe_execution("job1", "dev-000")
    assert second.status == "QUEUED"
    assert (first.execution_number, second.execution_number) == (1, 2)
    assert second.retry_attempt == 1
    engine.start_next("dev-000")
    advance(clock, engine, 300)
    third = engine.describe_execution("job1", "dev-000")
    assert third.status == "QUEUED"
    assert third.execution_number == 3
    assert third.retry_attempt == 2
    assert engine.describe_execution("job1", "dev-000", first.execution_number).status == "FAILED"
    engine.device_update("dev-000", "job1", "FAILED")  # FAILED retries used up
    assert engine.describe_execution("job1", "dev-000").status == "FAILED"
    assert engine.get_job("job1").status == "COMPLETED"


def test_all_retries_are_shared_and_rejected_never_retried(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 2)
    create(engine, jobExecutionsRetryConfig={"criteriaList": [{"failureType": "ALL", "numberOfRetries": 2}]})
    for _ in range(3):
        engine.device_update("dev-000", "job1", "FAILED")
    assert [e.status for e in engine.get_job("job1").executions["dev-000"]] == ["FAILED"] * 3
    engine.device_update("dev-001", "job1", "REJECTED")
    assert len(engine.get_job("job1").executions["dev-001"]) == 1


def test_retry_config_validation(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    for config in (
        {"criteriaList": [{"failureType": "REJECTED", "numberOfRetries": 1}]},
        {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 6},
                          {"failureType": "TIMED_OUT", "numberOfRetries": 5}]},
        {"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 1},
                          {"failureType": "FAILED", "numberOfRetries": 1}]},
        {"criteriaList": []},
    ):
        with pytest.raises(InvalidRequestException):
            create(engine, jobExecutionsRetryConfig=config)


def test_abort_cancels_queued_retries(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 2)
    create(
        engine,
        abortConfig=abort_config("FAILED", 50.0, 2),
        jobExecutionsRetryConfig={"criteriaList": [{"failureType": "FAILED", "numberOfRetries": 3}]},
    )
    engine.device_update(names[0], "job1", "FAILED")
    assert engine.get_job("job1").status == "CANCELED"
    assert [e.status for e in engine.get_job("job1").executions[names[0]]] == ["FAILED", "CANCELED"]


# ----------------------------------------------------------------------- continuous jobs


def test_continuous_job_follows_membership(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 2)
    job = create(engine, targetSelection="CONTINUOUS")
    engine.start_next(names[0])
    registry.add_things("late", group="fleet")
    engine.thing_membership_changed("late")
    assert engine.describe_execution("job1", "late").status == "QUEUED"
    registry.groups["fleet"].discard(names[0])
    engine.thing_membership_changed(names[0])
    assert engine.describe_execution("job1", names[0]).status == "REMOVED"
    registry.groups["fleet"].add(names[0])
    engine.thing_membership_changed(names[0])
    rejoined = engine.describe_execution("job1", names[0])
    assert rejoined.status == "QUEUED"
    assert len(job.executions[names[0]]) == 2
    engine.device_update("late", "job1", "SUCCEEDED")
    engine.device_update(names[0], "job1", "SUCCEEDED")
    engine.device_update(names[1], "job1", "SUCCEEDED")
    assert engine.get_job("job1").status == "IN_PROGRESS"  # continuous jobs do not complete


def test_snapshot_job_ignores_membership(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    registry.add_things("late", group="fleet")
    engine.thing_membership_changed("late")
    with pytest.raises(ResourceNotFoundException):
        engine.describe_execution("job1", "late")


def test_joiners_bypass_the_rollout_rate(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 5)
    create(engine, targetSelection="CONTINUOUS", jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    registry.add_things("late", group="fleet")
    engine.thing_membership_changed("late")
    assert statuses(engine) == {"QUEUED": 2}
    assert engine.describe_execution("job1", "late").status == "QUEUED"


def test_group_deletion_removes_members(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 2)
    registry.add_things("x", group="extra")
    create(engine, targets=[group_arn("fleet"), group_arn("extra")], targetSelection="CONTINUOUS")
    del registry.groups["extra"]
    engine.reconcile_memberships()
    assert engine.describe_execution("job1", "x").status == "REMOVED"
    assert engine.describe_execution("job1", names[0]).status == "QUEUED"


def test_associate_targets(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    registry.add_things("y", group="extra")
    create(engine, "snap")
    with pytest.raises(InvalidRequestException):
        engine.associate_targets("snap", [group_arn("extra")])
    create(engine, "cont", targetSelection="CONTINUOUS")
    job = engine.associate_targets("cont", [group_arn("extra")])
    assert group_arn("extra") in job.targets
    assert engine.describe_execution("cont", "y").status == "QUEUED"


# ------------------------------------------------------------------------- cancel, delete


def test_cancel_without_and_with_force(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 3)
    create(engine)
    engine.start_next(names[0])
    engine.cancel_job("job1", reason_code="BAD_BUILD", comment="stop", force=False)
    job = engine.get_job("job1")
    assert (job.status, job.reason_code, job.comment, job.force_canceled) == ("CANCELED", "BAD_BUILD", "stop", False)
    assert statuses(engine) == {"IN_PROGRESS": 1, "CANCELED": 2}
    engine.cancel_job("job1", reason_code=None, comment=None, force=True)
    assert statuses(engine) == {"CANCELED": 3}
    assert engine.describe_execution("job1", names[0]).force_canceled is True
    with pytest.raises(InvalidStateTransitionException):
        engine.device_update(names[0], "job1", "SUCCEEDED")


def test_cancel_execution(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 2)
    create(engine)
    engine.start_next(names[0])
    with pytest.raises(InvalidStateTransitionException):
        engine.cancel_execution("job1", names[0], force=False, expected_version=None, status_details=None)
    with pytest.raises(VersionConflictException):
        engine.cancel_execution("job1", names[0], force=True, expected_version=1, status_details=None)
    execution = engine.cancel_execution("job1", names[0], force=True, expected_version=2, status_details={"r": "x"})
    assert (execution.status, execution.force_canceled, execution.status_details) == ("CANCELED", True, {"r": "x"})
    engine.cancel_execution("job1", names[1], force=False, expected_version=None, status_details=None)
    with pytest.raises(InvalidStateTransitionException):
        engine.cancel_execution("job1", names[1], force=False, expected_version=None, status_details=None)
    assert engine.get_job("job1").status == "COMPLETED"


def test_delete_job_then_gone(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 1)
    create(engine)
    with pytest.raises(InvalidStateTransitionException):
        engine.delete_job("job1", force=False)
    engine.delete_job("job1", force=True)
    assert engine.get_job("job1").status == "DELETION_IN_PROGRESS"
    assert engine.next_pending("dev-000") is None
    with pytest.raises(ResourceAlreadyExistsException):
        create(engine)
    advance(clock, engine, 5)
    with pytest.raises(ResourceNotFoundException):
        engine.get_job("job1")
    assert engine.list_executions_for_thing("dev-000") == []
    create(engine)


def test_delete_execution(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    create(engine)
    number = engine.describe_execution("job1", "dev-000").execution_number
    with pytest.raises(InvalidStateTransitionException):
        engine.delete_execution("job1", "dev-000", number, force=False)
    engine.device_update("dev-000", "job1", "SUCCEEDED")
    engine.delete_execution("job1", "dev-000", number, force=False)
    with pytest.raises(ResourceNotFoundException):
        engine.describe_execution("job1", "dev-000")


def test_list_filters(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 2)
    registry.add_things("z", group="other")
    create(engine, "a")
    create(engine, "b", targets=[group_arn("other")], targetSelection="CONTINUOUS")
    engine.cancel_job("a", reason_code=None, comment=None, force=False)
    assert [j.job_id for j in engine.list_jobs()] == ["a", "b"]
    assert [j.job_id for j in engine.list_jobs(status="CANCELED")] == ["a"]
    assert [j.job_id for j in engine.list_jobs(target_selection="CONTINUOUS")] == ["b"]
    assert [j.job_id for j in engine.list_jobs(thing_group_name="other")] == ["b"]
    assert [j.job_id for j in engine.list_jobs(thing_group_id="id-fleet")] == ["a"]
    assert [e.status for e in engine.list_executions_for_job("a", "CANCELED")] == ["CANCELED", "CANCELED"]
    assert [j.job_id for j, _ in engine.list_executions_for_thing("dev-000")] == ["a"]


def test_update_job(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 6)
    create(engine, jobExecutionsRolloutConfig={"maximumPerMinute": 1})
    engine.update_job("job1", {"description": "faster", "jobExecutionsRolloutConfig": {"maximumPerMinute": 3}})
    advance(clock, engine, 60)
    assert statuses(engine) == {"QUEUED": 4}
    assert engine.get_job("job1").description == "faster"
    with pytest.raises(InvalidRequestException):
        engine.update_job("job1", {"timeoutConfig": {"inProgressTimeoutInMinutes": 0}})


# --------------------------------------------------------------------------- scheduling


def test_scheduled_job_starts_at_start_time(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 2)
    with pytest.raises(InvalidRequestException):
        create(engine, schedulingConfig={"startTime": format_time(START + 600)})
    start = START + 3600
    create(engine, schedulingConfig={"startTime": format_time(start)})
    assert engine.get_job("job1").status == "SCHEDULED"
    assert engine.next_pending("dev-000") is None
    registry.add_things("late", group="fleet")  # targets are resolved at the start
    advance(clock, engine, 3599)
    assert engine.get_job("job1").status == "SCHEDULED"
    advance(clock, engine, 1)
    assert engine.get_job("job1").status == "IN_PROGRESS"
    assert statuses(engine) == {"QUEUED": 3}
    assert engine.describe_execution("job1", "late").queued_at == start


@pytest.mark.parametrize(
    ("behavior", "expected_job", "expected"),
    [
        ("STOP_ROLLOUT", "IN_PROGRESS", {"IN_PROGRESS": 1, "QUEUED": 3}),
        ("CANCEL", "CANCELED", {"IN_PROGRESS": 1, "CANCELED": 3}),
        ("FORCE_CANCEL", "CANCELED", {"CANCELED": 4}),
    ],
)
def test_end_behaviors(
    engine: JobsEngine, registry: FakeRegistry, clock: Clock, behavior: str, expected_job: str, expected: dict
) -> None:
    names = fleet(registry, 4)
    create(engine, schedulingConfig={"endTime": format_time(START + 3600), "endBehavior": behavior})
    engine.start_next(names[0])
    advance(clock, engine, 3599)
    assert engine.get_job("job1").status == "IN_PROGRESS"
    advance(clock, engine, 1)
    assert engine.get_job("job1").status == expected_job
    assert statuses(engine) == expected


def test_stop_rollout_drops_unreleased_things(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    names = fleet(registry, 40)
    create(
        engine,
        jobExecutionsRolloutConfig={"maximumPerMinute": 1},
        schedulingConfig={"endTime": format_time(START + 1800), "endBehavior": "STOP_ROLLOUT"},
    )
    advance(clock, engine, 1800)  # steps at minutes 0..29 released 30 things; then the rollout stopped
    assert statuses(engine) == {"QUEUED": 30}
    advance(clock, engine, 600)
    assert statuses(engine) == {"QUEUED": 30}
    job = engine.get_job("job1")
    assert (job.status, job.rollout_pending) == ("IN_PROGRESS", False)
    for name in names[:30]:
        engine.device_update(name, "job1", "SUCCEEDED")
    assert engine.get_job("job1").status == "COMPLETED"
    assert engine.next_pending(names[35]) is None


def test_rollout_outside_every_window_releases_nothing(
    engine: JobsEngine, registry: FakeRegistry, clock: Clock
) -> None:
    fleet(registry, 2)
    create(
        engine,
        schedulingConfig={
            "endTime": format_time(START + 1800),
            "maintenanceWindows": [{"startTime": "cron(0 0 1 1 ? 2099)", "durationInMinutes": 60}],
        },
    )
    assert statuses(engine) == {}
    job = engine.get_job("job1")
    assert (job.status, job.executions) == ("COMPLETED", {})


def test_maintenance_windows_gate_the_rollout(engine: JobsEngine, registry: FakeRegistry, clock: Clock) -> None:
    fleet(registry, 10)
    # START is 2027-01-15T08:00:00Z; the window opens at minute 30 of every hour, for 2 minutes.
    assert format_time(START) == "2027-01-15T08:00"
    create(
        engine,
        jobExecutionsRolloutConfig={"maximumPerMinute": 3},
        schedulingConfig={"maintenanceWindows": [{"startTime": "cron(30 * * * ? *)", "durationInMinutes": 2}]},
    )
    assert engine.get_job("job1").status == "IN_PROGRESS"
    assert statuses(engine) == {}
    advance(clock, engine, 30 * 60)
    assert statuses(engine) == {"QUEUED": 3}
    advance(clock, engine, 60)
    assert statuses(engine) == {"QUEUED": 6}
    advance(clock, engine, 60)  # the window closed at 08:32
    assert statuses(engine) == {"QUEUED": 6}
    advance(clock, engine, 58 * 60)  # 09:30: the next window
    assert statuses(engine) == {"QUEUED": 9}


# ------------------------------------------------------------------------------ documents


def test_document_source_and_size_limit(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    registry.objects[("docs", "job.json")] = DOC.encode()
    job = create(engine, document=None, documentSource="https://docs.s3.amazonaws.com/job.json")
    assert job.document == DOC
    registry.objects[("docs", "big.json")] = json.dumps({"x": "y" * 33000}).encode()
    with pytest.raises(InvalidRequestException):
        create(engine, "big", document=None, documentSource="https://s3.amazonaws.com/docs/big.json")
    with pytest.raises(InvalidRequestException):
        create(engine, "missing", document=None, documentSource="https://s3.amazonaws.com/docs/none.json")
    with pytest.raises(InvalidRequestException):
        create(engine, "both", documentSource="https://s3.amazonaws.com/docs/job.json")
    with pytest.raises(InvalidRequestException):
        create(engine, "notjson", document="{not json")


def test_placeholders_are_substituted_for_devices_only(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    document = json.dumps(
        {
            "v1": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/fw/image.bin}",
            "v2": "${aws:iot:s3-presigned-url-v2:https%3A%2F%2Ffw.s3.amazonaws.com%2Fimage.bin%3FversionId%3Dv7}",
        }
    )
    with pytest.raises(InvalidRequestException):
        create(engine, document=document)  # presignedUrlConfig is required
    job = create(engine, document=document, presignedUrlConfig={"expiresInSec": 300})
    assert job.document == document
    device_view = json.loads(engine.document_for_device(job))
    assert device_view["v1"] == "https://signed.example/fw/image.bin?expires=300"
    assert device_view["v2"] == "https://signed.example/fw/image.bin?expires=300&versionId=v7"


def test_package_placeholders_and_destination_versions(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 1)
    arn = "arn:aws:iot:us-east-1:123456789012:package/fw/version/2.0"
    registry.versions[("fw", "2.0")] = Version(
        arn, "fw", "2.0", "DRAFT", {"sha": "abc", "size": "10"},
        {"s3Location": {"bucket": "b", "key": "fw-2.0.bin", "version": "v2"}},
    )
    document = json.dumps(
        {
            "url": "${aws:iot:package:fw:version:2.0:artifact:s3-presigned-url}",
            "url2": "${aws:iot:package:fw:version:2.0:artifact-location:s3-presigned-url}",
            "sha": "${aws:iot:package::version::attributes:sha}",
            "all": "${aws:iot:package:fw:version:2.0:attributes}",
        }
    )
    params = {"document": document, "presignedUrlConfig": {"expiresInSec": 120}, "destinationPackageVersions": [arn]}
    with pytest.raises(InvalidRequestException):
        create(engine, **params)  # DRAFT cannot be deployed
    registry.versions[("fw", "2.0")].status = "PUBLISHED"
    with pytest.raises(ResourceNotFoundException):
        create(engine, **{**params, "destinationPackageVersions": [arn.replace("2.0", "3.0")]})
    job = create(engine, **params)
    view = json.loads(engine.document_for_device(job))
    assert view["url"] == view["url2"] == "https://signed.example/b/fw-2.0.bin?expires=120&versionId=v2"
    assert view["sha"] == "abc"
    assert json.loads(view["all"]) == {"sha": "abc", "size": "10"}


def test_package_shadow_updated_on_success_when_enabled(engine: JobsEngine, registry: FakeRegistry) -> None:
    names = fleet(registry, 2)
    arn = "arn:aws:iot:us-east-1:123456789012:package/fw/version/2.0"
    registry.versions[("fw", "2.0")] = Version(arn, "fw", "2.0", "PUBLISHED", {"sha": "abc"})
    create(engine, destinationPackageVersions=[arn])
    engine.device_update(names[0], "job1", "SUCCEEDED")
    assert registry.package_shadows == {}
    registry.config = {"versionUpdateByJobsConfig": {"enabled": True, "roleArn": "arn:aws:iam::1:role/r"}}
    engine.device_update(names[1], "job1", "SUCCEEDED")
    assert registry.package_shadows == {names[1]: {"fw": {"version": "2.0", "attributes": {"sha": "abc"}}}}


# ------------------------------------------------------------------------------ templates


def test_job_from_template(engine: JobsEngine, registry: FakeRegistry) -> None:
    fleet(registry, 3)
    template = engine.create_template(
        {
            "jobTemplateId": "ota",
            "description": "OTA",
            "document": DOC,
            "jobExecutionsRolloutConfig": {"maximumPerMinute": 2},
            "timeoutConfig": {"inProgressTimeoutInMinutes": 30},
        }
    )
    job = engine.create_job({"jobId": "j", "targets": [group_arn("fleet")], "jobTemplateArn": template.job_template_arn,
                             "timeoutConfig": {"inProgressTimeoutInMinutes": 10}})
    assert job.document == DOC
    assert job.rollout_config == {"maximumPerMinute": 2}
    assert job.timeout_config == {"inProgressTimeoutInMinutes": 10}
    assert statuses(engine, "j") == {"QUEUED": 2}
    copy = engine.create_template({"jobTemplateId": "copy", "description": "copy", "jobArn": job.job_arn})
    assert copy.document == DOC and copy.timeout_config == {"inProgressTimeoutInMinutes": 10}
    with pytest.raises(Exception, match="already exists"):
        engine.create_template({"jobTemplateId": "ota", "description": "again", "document": DOC})
    engine.templates.delete("ota")
    with pytest.raises(ResourceNotFoundException):
        engine.create_job({"jobId": "k", "targets": [group_arn("fleet")], "jobTemplateArn": template.job_template_arn})
