"""Job settings, documents and specs: every AWS range and rule checked locally, with no AWS at all."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.jobs import documents as docs
from iotfleet.fleet.jobs.create import JobSpec, check_job_spec, default_job_id
from iotfleet.fleet.jobs.documents import PackageVersionRef
from iotfleet.fleet.jobs.settings import (
    CONTINUOUS,
    AbortCriterion,
    ConstantRollout,
    ExponentialRollout,
    JobSettings,
    MaintenanceWindow,
    RetryCriterion,
    Schedule,
    parse_time,
)
from iotfleet.fleet.jobs.templates import TemplateSpec, check_template_spec
from iotfleet.fleet.naming import JOB_ID

NOW = dt.datetime(2030, 1, 31, 12, 0, tzinfo=dt.timezone.utc)


def ota_spec(**changes: object) -> JobSpec:
    options: dict[str, object] = {"fleet": "demo", "package": "fw-main", "version": "1.2.0", "groups": ("eu",)}
    options.update(changes)
    return JobSpec(**options)  # type: ignore[arg-type]


# --- settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "param", "fragment"),
    [
        (lambda: ConstantRollout(0), "--max-per-minute", "between 1 and 1000"),
        (lambda: ConstantRollout(1001), "--max-per-minute", "between 1 and 1000"),
        (lambda: ExponentialRollout(0, 2.0, notified_things=1), "--exp-base", "between 1 and 1000"),
        (lambda: ExponentialRollout(1001, 2.0, notified_things=1), "--exp-base", "between 1 and 1000"),
        (lambda: ExponentialRollout(5, 1.0, notified_things=1), "--exp-factor", "between 1.1 and 5"),
        (lambda: ExponentialRollout(5, 5.1, notified_things=1), "--exp-factor", "between 1.1 and 5"),
        (lambda: ExponentialRollout(5, 1.55, notified_things=1), "--exp-factor", "one decimal"),
        (lambda: ExponentialRollout(5, "abc", notified_things=1), "--exp-factor", "must be a number"),
        (lambda: ExponentialRollout(5, 2.0), "--exp-notified", "rateIncreaseCriteria"),
        (lambda: ExponentialRollout(5, 2.0, 1, 0), "--exp-succeeded", "at least 1"),
        (lambda: ExponentialRollout(5, 2.0, notified_things=0), "--exp-notified", "at least 1"),
        (lambda: ExponentialRollout(5, 2.0, succeeded_things=0), "--exp-succeeded", "at least 1"),
        (lambda: AbortCriterion.parse("FAILED:101:5"), "--abort", "at most 100"),
        (lambda: AbortCriterion.parse("FAILED:0:5"), "--abort", "above 0"),
        (lambda: AbortCriterion.parse("FAILED:10.123:5"), "--abort", "two decimal"),
        (lambda: AbortCriterion.parse("FAILED:10:0"), "--abort", "at least 1"),
        (lambda: AbortCriterion.parse("CRASHED:10:5"), "--abort", "failure type"),
        (lambda: AbortCriterion.parse("FAILED:10"), "--abort", "TYPE:PERCENT:MIN_EXECUTED"),
        (lambda: RetryCriterion.parse("REJECTED:1"), "--retry", "REJECTED is never retried"),
        (lambda: RetryCriterion.parse("FAILED:11"), "--retry", "between 0 and 10"),
        (lambda: RetryCriterion.parse("FAILED"), "--retry", "TYPE:N"),
        (lambda: JobSettings(timeout_minutes=0), "--timeout-minutes", "between 1 and 10080"),
        (lambda: JobSettings(timeout_minutes=10081), "--timeout-minutes", "between 1 and 10080"),
        (lambda: JobSettings(presigned_expiry_seconds=59), "--url-expiry", "between 60 and 3600"),
        (lambda: JobSettings(presigned_expiry_seconds=3601), "--url-expiry", "between 60 and 3600"),
        (
            lambda: JobSettings(retries=(RetryCriterion("FAILED", 6), RetryCriterion("TIMED_OUT", 5))),
            "--retry",
            "add up to 11",
        ),
        (
            lambda: JobSettings(retries=(RetryCriterion("FAILED", 1), RetryCriterion("FAILED", 1))),
            "--retry",
            "more than once",
        ),
        (
            lambda: JobSettings(
                retries=(RetryCriterion("FAILED", 1), RetryCriterion("TIMED_OUT", 1),
                         RetryCriterion("ALL", 1))  # fmt: skip
            ),
            "--retry",
            "at most 2",
        ),
        (
            lambda: JobSettings(abort=(AbortCriterion("FAILED", 5, 1), AbortCriterion("FAILED", 9, 1))),
            "--abort",
            "more than once",
        ),
        (lambda: MaintenanceWindow("cron(0 2 ? * SUN *)", 0), "--maintenance-window", "between 1 and 1430"),
        (lambda: MaintenanceWindow("cron(0 2 ? * SUN *)", 1431), "--maintenance-window", "between 1 and 1430"),
        (lambda: MaintenanceWindow("cron(0 2 * * SUN *)", 60), "--maintenance-window", "exactly one of"),
        (lambda: MaintenanceWindow("cron(0 2 ? *)", 60), "--maintenance-window", "six fields"),
        (lambda: MaintenanceWindow("0 2 ? * SUN *", 60), "--maintenance-window", "cron("),
        (lambda: MaintenanceWindow.parse("cron(0 2 ? * SUN *)"), "--maintenance-window", "duration=MINUTES"),
        (lambda: Schedule(end_behavior="CANCEL"), "--end-behavior", "needs --schedule-end"),
        (lambda: Schedule(end=NOW, end_behavior="EXPLODE"), "--end-behavior", "STOP_ROLLOUT"),
        (lambda: Schedule(start=NOW, end=NOW + dt.timedelta(minutes=29)), "--schedule-end", "30 minutes after"),
        (lambda: parse_time("tomorrow", "--schedule-start"), "--schedule-start", "ISO 8601"),
    ],
)
def test_settings_outside_aws_ranges_are_usage_errors(build, param: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        build()
    assert caught.value.param == param
    assert fragment in caught.value.message


def test_an_exponential_rollout_may_set_both_criteria() -> None:
    rollout = ExponentialRollout(10, 2.0, notified_things="50", succeeded_things=20)  # type: ignore[arg-type]
    assert rollout.to_api()["exponentialRate"]["rateIncreaseCriteria"] == {
        "numberOfNotifiedThings": 50,
        "numberOfSucceededThings": 20,
    }


def test_settings_render_every_createjob_field() -> None:
    settings = JobSettings(
        target_selection=CONTINUOUS,
        rollout=ExponentialRollout("5", "1.5", succeeded_things="3"),  # type: ignore[arg-type]
        abort=(AbortCriterion.parse("failed:12.5:4"), AbortCriterion.parse("TIMED_OUT:20:3")),
        timeout_minutes=45,
        retries=(RetryCriterion.parse("FAILED:2"), RetryCriterion.parse("TIMED_OUT:3")),
        schedule=Schedule(
            start=parse_time("2030-02-01T10:00+01:00", "--schedule-start"),
            end=parse_time("2030-02-02T09:00Z", "--schedule-end"),
            end_behavior="cancel",
            windows=(MaintenanceWindow.parse("cron=cron(0 2 ? * MON,TUE *), duration=120"),),
        ),
        presigned_expiry_seconds=600,
    )
    assert settings.to_api() == {
        "targetSelection": "CONTINUOUS",
        "jobExecutionsRolloutConfig": {
            "exponentialRate": {
                "baseRatePerMinute": 5,
                "incrementFactor": 1.5,
                "rateIncreaseCriteria": {"numberOfSucceededThings": 3},
            }
        },
        "abortConfig": {
            "criteriaList": [
                {"failureType": "FAILED", "action": "CANCEL", "thresholdPercentage": 12.5, "minNumberOfExecutedThings": 4},
                {"failureType": "TIMED_OUT", "action": "CANCEL", "thresholdPercentage": 20.0,
                 "minNumberOfExecutedThings": 3},
            ]
        },  # fmt: skip
        "timeoutConfig": {"inProgressTimeoutInMinutes": 45},
        "jobExecutionsRetryConfig": {
            "criteriaList": [
                {"failureType": "FAILED", "numberOfRetries": 2},
                {"failureType": "TIMED_OUT", "numberOfRetries": 3},
            ]
        },
        "schedulingConfig": {
            "startTime": "2030-02-01T09:00",
            "endTime": "2030-02-02T09:00",
            "endBehavior": "CANCEL",
            "maintenanceWindows": [{"startTime": "cron(0 2 ? * MON,TUE *)", "durationInMinutes": 120}],
        },
    }


def test_schedule_is_checked_against_the_given_clock() -> None:
    schedule = Schedule(start=NOW + dt.timedelta(minutes=29))
    with pytest.raises(UsageError, match="at least 30 minutes ahead") as caught:
        schedule.check_against(NOW)
    assert caught.value.param == "--schedule-start"
    Schedule(start=NOW + dt.timedelta(minutes=30)).check_against(NOW)
    with pytest.raises(UsageError, match="at most a year"):
        Schedule(start=NOW + dt.timedelta(days=367)).check_against(NOW)
    with pytest.raises(UsageError, match="schedule end") as end:
        Schedule(end=NOW + dt.timedelta(minutes=10)).check_against(NOW)
    assert end.value.param == "--schedule-end"


# --- documents --------------------------------------------------------------------------------------------


def test_ota_document_has_artifact_and_attributes_placeholders() -> None:
    document = docs.check_document(docs.render(docs.ota_document("fw-main", "1.2.0")))
    assert document.content == {
        "operation": "firmware-update",
        "package": "fw-main",
        "version": "1.2.0",
        "url": "${aws:iot:package:fw-main:version:1.2.0:artifact:s3-presigned-url}",
        "attributes": "${aws:iot:package:fw-main:version:1.2.0:attributes}",
    }
    assert document.package_refs == [PackageVersionRef("fw-main", "1.2.0")]
    assert document.needs_presigning


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("{" + " " * 40000 + "}", "at most 32768"),
        ('{"a": ', "not valid JSON"),
        ("   ", "empty"),
        ('{"u": "${aws:iot:package:fw:version:1.0:artifact:s3-url}"}', "artifact:s3-presigned-url"),
        ('{"u": "${aws:iot:package:fw:version:1.0:attributes"}', "unterminated"),
        ('{"u": "${aws:iot:package:fw:version:1.0:artifact:s3-presigned-url"}', "unterminated"),
        ('{"u": "${aws:iot:whatever}"}', "unknown placeholder"),
        ('{"u": "${aws:iot:parameter:x}"}', "AWS managed templates"),
        ('{"u": "${aws:iot:package:fw:version::attributes}"}', "both the package and the version"),
        ('{"u": "${aws:iot:package:f w:version:1:attributes}"}', "invalid package name"),
        ('{"u": "${aws:iot:package:fw:version:1:attributes:bad key}"}', "invalid attribute key"),
        ('{"u": "${aws:iot:s3-presigned-url:http://bucket/key}"}', "https://"),
        (json.dumps({f"k{i}": docs.attributes_placeholder("fw", "1.0", f"a{i}") for i in range(11)}), "at most 10"),
    ],
)
def test_bad_documents_are_usage_errors(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        docs.check_document(text)
    assert fragment in caught.value.message
    assert caught.value.param == "--document"


def test_package_references_must_be_destinations() -> None:
    document = docs.check_document(json.dumps({"u": docs.artifact_placeholder("fw", "2.0")}))
    docs.check_package_references(document, [PackageVersionRef("fw", "2.0")])
    with pytest.raises(UsageError, match="does not deploy"):
        docs.check_package_references(document, [PackageVersionRef("fw", "1.0")])
    default_form = docs.check_document('{"u": "${aws:iot:package::version::attributes:sha256}"}')
    docs.check_package_references(default_form, [PackageVersionRef("fw", "1.0")])
    with pytest.raises(UsageError, match="exactly one destination"):
        docs.check_package_references(default_form, [])


def test_referenced_versions_reads_leniently() -> None:
    text = '{"a": "${aws:iot:package:fw:version:1.0:attributes}", "b": "${aws:iot:nonsense}", "c": "${aws:iot:'
    assert docs.referenced_versions(text) == {PackageVersionRef("fw", "1.0")}


def test_ota_instruction_reads_a_substituted_document() -> None:
    substituted = {
        **docs.ota_document("fw", "1.0"),
        "url": "https://bucket.s3.amazonaws.com/fw?X-Amz-Signature=x",
        "attributes": json.dumps({"sha256": "ab" * 32, "size": "1000"}),
    }
    instruction = docs.OtaInstruction.from_document(json.dumps(substituted))
    assert (instruction.package, instruction.version, instruction.sha256, instruction.size) == (
        "fw", "1.0", "ab" * 32, 1000,
    )  # fmt: skip
    with pytest.raises(ValueError, match="not substituted"):
        docs.OtaInstruction.from_document(docs.ota_document("fw", "1.0"))


# --- specs --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "param", "fragment"),
    [
        ({"package": None, "version": None}, "--package", "give one of"),
        ({"version": None}, "--version", "go together"),
        ({"template": "t1"}, "--template", "brings its own document"),
        ({"groups": (), "things": ()}, "--group", "at least one target"),
        ({"groups": tuple(f"g{i}" for i in range(60)), "things": tuple(f"t{i}" for i in range(41))}, "--thing",
         "at most 100 targets"),  # fmt: skip
        ({"groups": ("bad group",)}, "--group", "invalid thing group name"),
        ({"things": ("bad/thing",)}, "--thing", "invalid thing name"),
        ({"package": "bad package"}, "--package", "invalid package name"),
        ({"version": "1 0"}, "--version", "invalid package version name"),
        ({"job_id": "has space"}, "--job-id", "invalid job id"),
        ({"job_id": "x" * 65}, "--job-id", "length"),
        ({"description": "x" * 2029}, "--description", "at most 2028"),
        ({"tags": {"iotfleet:fleet": "other"}}, "--tag", "reserved"),
        ({"tags": {"aws:x": "y"}}, "--tag", "reserved"),
        (
            {"package": None, "version": None, "document": json.dumps({"u": docs.artifact_placeholder("fw", "1")}),
             "destinations": tuple(PackageVersionRef("p", str(i)) for i in range(25))},
            "--document",
            "at most 25",
        ),  # fmt: skip
        (
            {"document": json.dumps({"u": docs.artifact_placeholder("other", "9.9")})},
            "--document",
            "does not deploy",
        ),
    ],
)
def test_bad_job_specs_are_usage_errors(changes: dict[str, object], param: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_job_spec(ota_spec(**changes))
    assert caught.value.param == param
    assert fragment in caught.value.message


def test_custom_document_deploys_the_versions_it_names() -> None:
    document = json.dumps({"u": docs.artifact_placeholder("fw", "2.0"), "a": docs.attributes_placeholder("fw", "2.0")})
    checked = check_job_spec(ota_spec(package=None, version=None, document=document, document_name="up.json"))
    assert checked.destinations == (PackageVersionRef("fw", "2.0"),)
    assert checked.job_id.startswith("custom-up-")


def test_default_job_ids_are_readable_unique_and_valid() -> None:
    first = default_job_id("ota", "fw-main", "1.2.0", now=NOW)
    second = default_job_id("ota", "fw-main", "1.2.0", now=NOW)
    assert re.fullmatch(r"ota-fw-main-1_2_0-20300131T120000-[0-9a-f]{4}", first)
    assert first != second or first[-4:] == second[-4:]  # four random hex digits: unique in practice
    long = default_job_id("rollback", "p" * 128, "v" * 64, now=NOW)
    assert JOB_ID.is_valid(long) and long.startswith("rollback-p") and long.endswith("-20300131T120000-" + long[-4:])


def test_job_tags_always_carry_the_fleet() -> None:
    checked = check_job_spec(ota_spec(tags={"team": "ota"}))
    assert {"Key": "iotfleet:fleet", "Value": "demo"} in checked.tags
    assert {"Key": "team", "Value": "ota"} in checked.tags
    assert {"Key": "iotfleet:job-kind", "Value": "ota"} in checked.tags


@pytest.mark.parametrize(
    ("changes", "param", "fragment"),
    [
        ({}, "--package", "exactly one of"),
        ({"package": "fw", "version": "1", "from_job": "j1"}, "--package", "exactly one of"),
        ({"package": "fw"}, "--package", "go together"),
        ({"from_job": "j1", "settings": JobSettings(target_selection=CONTINUOUS)}, "--continuous", "target selection"),
        ({"from_job": "j1", "settings": JobSettings(schedule=Schedule(start=NOW))}, "--schedule-start",
         "maintenance windows only"),  # fmt: skip
        ({"template_id": "bad id", "from_job": "j1"}, "NAME", "invalid job template id"),
    ],
)
def test_bad_template_specs_are_usage_errors(changes: dict[str, object], param: str, fragment: str) -> None:
    options: dict[str, object] = {"fleet": "demo", "template_id": "nightly"}
    options.update(changes)
    with pytest.raises(UsageError) as caught:
        check_template_spec(TemplateSpec(**options))  # type: ignore[arg-type]
    assert caught.value.param == param
    assert fragment in caught.value.message
