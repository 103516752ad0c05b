"""Job creation on the emulator: every setting reaches the job, templates carry theirs, and requests that
fail a check make no mutating call (reads are allowed only for checks that need them)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from packages_setup import (
    BUCKET,
    FLEET,
    PACKAGE,
    aws_context,
    calls,
    enable_package_index,
    firmware,
    job_document,
    make_bucket,
    make_role,
    make_things,
    mutating_calls,
)

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.jobs import documents as docs
from iotfleet.fleet.jobs.create import JobSpec, create_job, prepare_job, submit_job
from iotfleet.fleet.jobs.settings import (
    CONTINUOUS,
    AbortCriterion,
    ConstantRollout,
    ExponentialRollout,
    JobSettings,
    MaintenanceWindow,
    RetryCriterion,
    Schedule,
    format_time,
)
from iotfleet.fleet.jobs.templates import (
    TemplateSpec,
    create_template,
    delete_template,
    describe_template,
    list_templates,
)
from iotfleet.fleet.packages.catalog import create_package
from iotfleet.fleet.packages.upload import upload_version


class Fleet:
    def __init__(self, ctx: AwsContext, role: str, things: dict[str, str], version_arn: str) -> None:
        self.ctx, self.role, self.things, self.version_arn = ctx, role, things, version_arn


@pytest.fixture
def fleet(emulator: LocalEmulator, tmp_path: Path) -> Fleet:
    with aws_context(emulator) as ctx:
        make_bucket(ctx)
        role = make_role(ctx)
        create_package(ctx, FLEET, PACKAGE)
        upload = upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version="1.2.0",
                                    path=firmware(tmp_path, "1.2.0"), publish=True)  # fmt: skip
        upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version="1.3.0-draft",
                           path=firmware(tmp_path, "1.3.0"))  # fmt: skip
        things = make_things(ctx, ["dev-1", "dev-2", "dev-3"], group="canary")
        emulator.reset_counters()
        yield Fleet(ctx, role, things, upload.arn)


def full_settings() -> JobSettings:
    return JobSettings(
        rollout=ExponentialRollout(5, 1.5, notified_things=2),
        abort=(AbortCriterion.parse("FAILED:10:5"), AbortCriterion.parse("TIMED_OUT:25.5:3")),
        timeout_minutes=30,
        retries=(RetryCriterion.parse("FAILED:2"), RetryCriterion.parse("TIMED_OUT:1")),
        presigned_expiry_seconds=900,
    )


def ota(fleet: Fleet, **changes: object) -> JobSpec:
    options: dict[str, object] = {"fleet": FLEET, "package": PACKAGE, "version": "1.2.0", "groups": ("canary",),
                                  "presign_role_arn": fleet.role}  # fmt: skip
    options.update(changes)
    return JobSpec(**options)  # type: ignore[arg-type]


def test_ota_job_with_every_setting_is_created_and_described(fleet: Fleet, emulator: LocalEmulator) -> None:
    spec = ota(fleet, things=("dev-3",), settings=full_settings(), description="canary wave", tags={"wave": "1"})
    prepared, answer = create_job(fleet.ctx, spec)
    assert mutating_calls(emulator) == {"iot:CreateJob": 1}
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert job["jobExecutionsRolloutConfig"] == {
        "exponentialRate": {"baseRatePerMinute": 5, "incrementFactor": 1.5,
                            "rateIncreaseCriteria": {"numberOfNotifiedThings": 2}},
    }  # fmt: skip
    assert job["abortConfig"] == {"criteriaList": [
        {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 10.0, "minNumberOfExecutedThings": 5},
        {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 25.5, "minNumberOfExecutedThings": 3},
    ]}  # fmt: skip
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}
    assert job["jobExecutionsRetryConfig"] == {"criteriaList": [
        {"failureType": "FAILED", "numberOfRetries": 2}, {"failureType": "TIMED_OUT", "numberOfRetries": 1},
    ]}  # fmt: skip
    assert job["presignedUrlConfig"] == {"roleArn": fleet.role, "expiresInSec": 900}
    assert job["destinationPackageVersions"] == [fleet.version_arn]
    assert job["targetSelection"] == "SNAPSHOT"
    assert job["description"] == "canary wave"
    assert sorted(job["targets"]) == sorted([prepared.targets["group:canary"], fleet.things["dev-3"]])
    assert job_document(fleet.ctx, answer["jobId"]) == docs.ota_document(PACKAGE, "1.2.0")
    tags = fleet.ctx.iot.list_tags_for_resource(resourceArn=answer["jobArn"])["tags"]
    assert {"Key": "iotfleet:fleet", "Value": FLEET} in tags and {"Key": "wave", "Value": "1"} in tags
    assert answer["jobId"].startswith("ota-fw-main-1_2_0-")


def test_a_job_id_that_exists_is_a_usage_error(fleet: Fleet) -> None:
    create_job(fleet.ctx, ota(fleet, job_id="wave-1"))
    with pytest.raises(UsageError, match="already exists") as caught:
        create_job(fleet.ctx, ota(fleet, job_id="wave-1"))
    assert caught.value.param == "--job-id"


def test_dry_run_prepares_the_exact_request_without_creating(fleet: Fleet, emulator: LocalEmulator) -> None:
    prepared = prepare_job(fleet.ctx, ota(fleet, job_id="dry", settings=full_settings()))
    assert mutating_calls(emulator) == {}
    submit_job(fleet.ctx, prepared)
    assert fleet.ctx.iot.describe_job(jobId="dry")["job"]["abortConfig"] == prepared.request["abortConfig"]


@pytest.mark.parametrize(
    ("changes", "param", "fragment", "reads"),
    [
        ({"version": "1.3.0-draft"}, "--version", "is DRAFT", True),
        ({"version": "9.9.9"}, "--version", "does not exist", True),
        ({"groups": ("nowhere",)}, "--group", "unknown target(s): group nowhere", True),
        ({"things": ("ghost",)}, "--thing", "unknown target(s): thing ghost", True),
        ({"settings": JobSettings(schedule=Schedule(start=dt.datetime.now(dt.timezone.utc)))},
         "--schedule-start", "at least 30 minutes ahead", True),  # fmt: skip  (reads the target's clock)
        ({"groups": (), "things": tuple(f"t{i}" for i in range(101))}, "--thing", "at most 100 targets", False),
        ({"document": '{"op": "${aws:iot:package:fw-main:version:1.2.0:attributes"}'}, "--document", "unterminated",
         False),  # fmt: skip
        ({"document": "[" * 40000}, "--document", "32768", False),
    ],
)
def test_rejected_requests_make_no_mutating_call(
    fleet: Fleet, emulator: LocalEmulator, changes: dict[str, object], param: str, fragment: str, reads: bool
) -> None:
    with pytest.raises(UsageError) as caught:
        create_job(fleet.ctx, ota(fleet, **changes))
    assert caught.value.param == param and fragment in caught.value.message
    assert mutating_calls(emulator) == {}
    if not reads:
        assert calls(emulator) == {}


def test_the_schedule_is_checked_against_the_emulator_clock(fleet: Fleet, emulator: LocalEmulator) -> None:
    emulator.advance(3 * 86400)  # the emulator now runs three days ahead of this machine
    soon_here = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=2)
    with pytest.raises(UsageError, match="at least 30 minutes ahead"):
        create_job(fleet.ctx, ota(fleet, settings=JobSettings(schedule=Schedule(start=soon_here))))
    assert calls(emulator) == {"sts:GetCallerIdentity": 1}  # the target's clock, from the Date header
    start = fleet.ctx.service_time() + dt.timedelta(hours=1)
    window = MaintenanceWindow("cron(0 2 ? * * *)", 120)
    schedule = Schedule(start=start, end=start + dt.timedelta(days=2), end_behavior="CANCEL", windows=(window,))
    _, answer = create_job(fleet.ctx, ota(fleet, settings=JobSettings(schedule=schedule)))
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert job["status"] == "SCHEDULED"
    assert job["schedulingConfig"] == {
        "startTime": format_time(start), "endTime": format_time(start + dt.timedelta(days=2)),
        "endBehavior": "CANCEL", "maintenanceWindows": [{"startTime": "cron(0 2 ? * * *)", "durationInMinutes": 120}],
    }  # fmt: skip


def test_custom_document_deploys_the_versions_it_names(fleet: Fleet) -> None:
    document = json.dumps({"operation": "install", "url": docs.artifact_placeholder(PACKAGE, "1.2.0"),
                           "sha": docs.attributes_placeholder(PACKAGE, "1.2.0", "sha256")})  # fmt: skip
    spec = ota(fleet, package=None, version=None, document=document, document_name="install.json",
               settings=JobSettings(target_selection=CONTINUOUS, rollout=ConstantRollout(20)))  # fmt: skip
    prepared, answer = create_job(fleet.ctx, spec)
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert answer["jobId"].startswith("custom-install-")
    assert job["destinationPackageVersions"] == [fleet.version_arn]
    assert job["targetSelection"] == "CONTINUOUS"
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 20}
    assert fleet.ctx.iot.get_job_document(jobId=answer["jobId"])["document"] == document


def test_a_custom_document_without_urls_needs_no_role(fleet: Fleet) -> None:
    spec = ota(fleet, package=None, version=None, document='{"operation": "reboot"}', presign_role_arn=None)
    prepared = prepare_job(fleet.ctx, spec)
    assert "presignedUrlConfig" not in prepared.request and "destinationPackageVersions" not in prepared.request


def test_a_job_made_from_a_template_carries_the_template_settings(fleet: Fleet) -> None:
    settings = JobSettings(
        rollout=ConstantRollout(40),
        abort=(AbortCriterion.parse("ALL:30:10"),),
        timeout_minutes=90,
        retries=(RetryCriterion.parse("ALL:3"),),
        schedule=Schedule(windows=(MaintenanceWindow("cron(30 1 ? * SAT *)", 240),)),
    )
    template = TemplateSpec(fleet=FLEET, template_id="nightly-ota", package=PACKAGE, version="1.2.0",
                                 settings=settings, presign_role_arn=fleet.role)  # fmt: skip
    request, created = create_template(fleet.ctx, template)
    assert created["jobTemplateId"] == "nightly-ota"
    assert request["maintenanceWindows"] == [{"startTime": "cron(30 1 ? * SAT *)", "durationInMinutes": 240}]

    prepared, answer = create_job(fleet.ctx, JobSpec(fleet=FLEET, template="nightly-ota", things=("dev-1",)))
    assert "document" not in prepared.request and "abortConfig" not in prepared.request
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert answer["jobId"].startswith("template-nightly-ota-")
    assert job["jobTemplateArn"] == created["jobTemplateArn"]
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 40}
    assert job["abortConfig"]["criteriaList"][0]["failureType"] == "ALL"
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 90}
    assert job["jobExecutionsRetryConfig"] == {"criteriaList": [{"failureType": "ALL", "numberOfRetries": 3}]}
    assert job["presignedUrlConfig"]["roleArn"] == fleet.role
    assert job["destinationPackageVersions"] == [fleet.version_arn]
    assert job["schedulingConfig"]["maintenanceWindows"] == request["maintenanceWindows"]
    assert job_document(fleet.ctx, answer["jobId"]) == docs.ota_document(PACKAGE, "1.2.0")

    # A setting given with the job wins over the template's.
    override = JobSpec(fleet=FLEET, template="nightly-ota", things=("dev-2",),
                            settings=JobSettings(timeout_minutes=15))  # fmt: skip
    _, second = create_job(fleet.ctx, override)
    job = fleet.ctx.iot.describe_job(jobId=second["jobId"])["job"]
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 15}
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 40}


def test_a_template_copied_from_a_job_carries_its_settings(fleet: Fleet) -> None:
    _, source = create_job(fleet.ctx, ota(fleet, settings=full_settings()))
    create_template(fleet.ctx, TemplateSpec(fleet=FLEET, template_id="copy", from_job=source["jobId"]))
    described = describe_template(fleet.ctx, "copy")
    assert described["jobExecutionsRolloutConfig"] == full_settings().rollout.to_api()  # type: ignore[union-attr]
    _, answer = create_job(fleet.ctx, JobSpec(fleet=FLEET, template="copy", things=("dev-1",)))
    job = fleet.ctx.iot.describe_job(jobId=answer["jobId"])["job"]
    assert job["abortConfig"] == {"criteriaList": [c.to_api() for c in full_settings().abort]}
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 30}


def test_template_list_and_delete(fleet: Fleet, emulator: LocalEmulator) -> None:
    create_template(fleet.ctx, TemplateSpec(fleet=FLEET, template_id="t1", document='{"op": "reboot"}'))
    assert [t["jobTemplateId"] for t in list_templates(fleet.ctx)] == ["t1"]
    with pytest.raises(UsageError, match="already exists"):
        create_template(fleet.ctx, TemplateSpec(fleet=FLEET, template_id="t1", document="{}"))
    delete_template(fleet.ctx, "t1")
    assert list_templates(fleet.ctx) == []
    emulator.reset_counters()
    with pytest.raises(UsageError, match="does not exist"):
        create_job(fleet.ctx, JobSpec(fleet=FLEET, template="t1", things=("dev-1",)))
    assert mutating_calls(emulator) == {}


def test_a_snapshot_job_on_a_dynamic_group_says_what_continuous_would_add(fleet: Fleet) -> None:
    enable_package_index(fleet.ctx)
    fleet.ctx.iot.create_dynamic_thing_group(thingGroupName="dev-things", queryString="thingName:dev-*")
    snapshot = prepare_job(fleet.ctx, ota(fleet, groups=("dev-things",)))
    assert len(snapshot.notes) == 1 and "dev-things" in snapshot.notes[0] and "--continuous" in snapshot.notes[0]
    continuous = ota(fleet, groups=("dev-things",), settings=JobSettings(target_selection=CONTINUOUS))
    assert prepare_job(fleet.ctx, continuous).notes == []
