"""``iotfleet jobs create`` and ``jobs template`` through the real entry point, against the emulator over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.jobs import documents as docs

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from packages_setup import FLEET, aws_context, calls, make_things

Run = Callable[..., object]


@pytest.fixture
def iotfleet(invoke, emulator: LocalEmulator) -> Run:  # type: ignore[no-untyped-def]
    """``iotfleet --target local --endpoint-url <emulator> ARGS``."""

    def run(*args: str, stdin: str | None = None) -> object:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, *args, stdin=stdin)

    return run


@pytest.fixture
def things(emulator: LocalEmulator) -> dict[str, str]:
    with aws_context(emulator) as ctx:
        arns = make_things(ctx, ["dev-1", "dev-2"], group="canary")
    emulator.reset_counters()
    return arns


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("args", "flag", "fragment"),
    [
        ([], "--package", "give one of"),
        (["--package", "fw", "--group", "canary"], "--version", "go together"),
        (["--template", "t", "--package", "fw", "--version", "1", "--group", "canary"], "--template",
         "brings its own document"),  # fmt: skip
        (["--package", "fw", "--version", "1"], "--group", "at least one target"),
        (["--package", "fw", "--version", "1", *[f"--thing=t{i}" for i in range(101)]], "--thing",
         "at most 100 targets"),  # fmt: skip
        (["--package", "fw", "--version", "1", "--group", "bad group"], "--group", "invalid thing group name"),
    ],
)
def test_invalid_sources_and_targets_exit_2_with_no_call(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, args: list[str], flag: str, fragment: str
) -> None:
    ran = iotfleet("jobs", "create", *args)
    assert ran.exit_code == 2, ran.stderr  # type: ignore[attr-defined]
    assert flag in ran.stderr and fragment in ran.stderr  # type: ignore[attr-defined]
    assert calls(emulator) == {}


@pytest.mark.parametrize(
    ("args", "flag", "fragment"),
    [
        (["--max-per-minute", "0"], "--max-per-minute", "between 1 and 1000"),
        (["--max-per-minute", "1001"], "--max-per-minute", "between 1 and 1000"),
        (["--max-per-minute", "5", "--exp-base", "5"], "--max-per-minute", "not both"),
        (["--exp-base", "5", "--exp-notified", "3"], "--exp-base", "--exp-factor"),
        (["--exp-base", "5", "--exp-factor", "1.05", "--exp-notified", "3"], "--exp-factor", "between 1.1 and 5"),
        (["--exp-base", "5", "--exp-factor", "5.5", "--exp-notified", "3"], "--exp-factor", "between 1.1 and 5"),
        (["--exp-base", "5", "--exp-factor", "1.25", "--exp-notified", "3"], "--exp-factor", "one decimal"),
        (["--exp-base", "5", "--exp-factor", "2"], "--exp-notified", "rateIncreaseCriteria"),
        (["--exp-base", "1001", "--exp-factor", "2", "--exp-notified", "1"], "--exp-base", "between 1 and 1000"),
        (["--abort", "FAILED:150:5"], "--abort", "at most 100"),
        (["--abort", "FAILED:10:0"], "--abort", "at least 1"),
        (["--abort", "SLOW:10:5"], "--abort", "failure type"),
        (["--abort", "FAILED:10:5", "--abort", "FAILED:20:5"], "--abort", "more than once"),
        (["--timeout-minutes", "0"], "--timeout-minutes", "between 1 and 10080"),
        (["--timeout-minutes", "10081"], "--timeout-minutes", "between 1 and 10080"),
        (["--retry", "FAILED:8", "--retry", "TIMED_OUT:3"], "--retry", "add up to 11"),
        (["--retry", "FAILED:1", "--retry", "TIMED_OUT:1", "--retry", "ALL:1"], "--retry", "at most 2"),
        (["--retry", "REJECTED:1"], "--retry", "never retried"),
        (["--url-expiry", "59"], "--url-expiry", "between 60 and 3600"),
        (["--url-expiry", "3601"], "--url-expiry", "between 60 and 3600"),
        (["--maintenance-window", "cron=cron(0 2 ? * SUN *),duration=1431"], "--maintenance-window",
         "between 1 and 1430"),  # fmt: skip
        (["--maintenance-window", "cron=cron(0 2 * * SUN *),duration=60"], "--maintenance-window", "exactly one of"),
        (["--schedule-start", "2001-01-01T00:00Z"], "--schedule-start", "at least 30 minutes ahead"),
        (["--schedule-start", "soon"], "--schedule-start", "ISO 8601"),
        (["--schedule-start", "2099-01-01T00:00Z", "--schedule-end", "2099-01-01T00:10Z"], "--schedule-end",
         "30 minutes after"),  # fmt: skip
        (["--end-behavior", "CANCEL"], "--end-behavior", "needs --schedule-end"),
        (["--job-id", "no spaces allowed"], "--job-id", "invalid job id"),
        (["--tag", "novalue"], "--tag", "key=value"),
        (["--tag", "iotfleet:fleet=x"], "--tag", "reserved"),
        (["--description", "x" * 2029], "--description", "at most 2028"),
    ],
)
def test_invalid_settings_exit_2_with_no_call(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, args: list[str], flag: str, fragment: str
) -> None:
    ran = iotfleet("jobs", "create", "--package", "fw", "--version", "1", "--group", "canary", "--fleet", FLEET, *args)
    assert ran.exit_code == 2, ran.stderr  # type: ignore[attr-defined]
    assert flag in ran.stderr and fragment in ran.stderr  # type: ignore[attr-defined]
    # Nothing is sent, except that a scheduled start is checked against the target's clock (one read).
    allowed = {"sts:GetCallerIdentity": 1} if "30 minutes ahead" in fragment else {}
    assert calls(emulator) == allowed


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"op": ', "not valid JSON"),
        ("{" + " " * 33000 + "}", "at most 32768"),
        ('{"url": "${aws:iot:package:fw:version:1:artifact:s3-presigned}"}', "artifact:s3-presigned-url"),
        ('{"url": "${aws:iot:nothing}"}', "unknown placeholder"),
        ('{"url": "' + docs.artifact_placeholder("other", "2") + '"}', "does not deploy"),
    ],
)
def test_invalid_documents_exit_2_with_no_call(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, tmp_path: Path, text: str, fragment: str
) -> None:
    path = write(tmp_path, "doc.json", text)
    ran = iotfleet("jobs", "create", "--document", path, "--package", "fw", "--version", "1", "--thing", "dev-1")
    assert ran.exit_code == 2 and "--document" in ran.stderr and fragment in ran.stderr  # type: ignore[attr-defined]
    assert calls(emulator) == {}


def test_unknown_targets_are_usage_errors_after_reads_only(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "reboot.json", '{"operation": "reboot"}')
    ran = iotfleet("jobs", "create", "--document", path, "--group", "canary", "--group", "nowhere", "--fleet", FLEET)
    assert ran.exit_code == 2 and "unknown target(s): group nowhere" in ran.stderr  # type: ignore[attr-defined]
    assert set(calls(emulator)) <= {"iot:DescribeThingGroup", "iot:DescribeThing"}


def test_print_template_is_a_valid_starter(iotfleet: Run, emulator: LocalEmulator) -> None:
    ran = iotfleet("--output", "json", "jobs", "create", "--print-template")
    assert ran.exit_code == 0  # type: ignore[attr-defined]
    assert json.loads(ran.stdout) == docs.starter_document()  # type: ignore[attr-defined]
    assert calls(emulator) == {}


def test_custom_job_dry_run_then_create(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "reboot.json", '{"operation": "reboot", "delaySeconds": 5}')
    args = ["jobs", "create", "--document", path, "--group", "canary", "--thing", "dev-2", "--max-per-minute", "20",
            "--abort", "FAILED:10:2", "--timeout-minutes", "15", "--retry", "FAILED:1", "--job-id", "reboot-1",
            "--description", "weekly reboot", "--tag", "team=ops", "--continuous", "--fleet", FLEET]  # fmt: skip
    dry = iotfleet("--output", "json", *args, "--dry-run")
    assert dry.exit_code == 0, dry.stderr  # type: ignore[attr-defined]
    request = json.loads(dry.stdout)  # type: ignore[attr-defined]
    assert request["jobId"] == "reboot-1"
    assert request["targets"] == [things["dev-2"].replace("thing/dev-2", "thinggroup/canary"), things["dev-2"]]
    assert request["document"] == '{"operation": "reboot", "delaySeconds": 5}'
    assert request["targetSelection"] == "CONTINUOUS"
    assert {"Key": "team", "Value": "ops"} in request["tags"] and {"Key": "iotfleet:fleet", "Value": FLEET} in request["tags"]
    assert "iot:CreateJob" not in calls(emulator)

    created = iotfleet("--output", "json", *args)
    assert created.exit_code == 0, created.stderr  # type: ignore[attr-defined]
    answer = json.loads(created.stdout)  # type: ignore[attr-defined]
    assert answer["jobId"] == "reboot-1" and answer["request"] == request
    with aws_context(emulator) as ctx:
        job = ctx.iot.describe_job(jobId="reboot-1")["job"]
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 20}
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 15}
    assert job["description"] == "weekly reboot"
    again = iotfleet(*args)
    assert again.exit_code == 2 and "already exists" in again.stderr  # type: ignore[attr-defined]


def test_an_exponential_rollout_takes_both_criteria(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "reboot.json", '{"operation": "reboot"}')
    created = iotfleet("--output", "json", "jobs", "create", "--document", path, "--group", "canary",
                       "--exp-base", "5", "--exp-factor", "2", "--exp-notified", "10", "--exp-succeeded", "4",
                       "--job-id", "both-criteria")  # fmt: skip
    assert created.exit_code == 0, created.stderr  # type: ignore[attr-defined]
    with aws_context(emulator) as ctx:
        job = ctx.iot.describe_job(jobId="both-criteria")["job"]
    assert job["jobExecutionsRolloutConfig"]["exponentialRate"] == {
        "baseRatePerMinute": 5,
        "incrementFactor": 2.0,
        "rateIncreaseCriteria": {"numberOfNotifiedThings": 10, "numberOfSucceededThings": 4},
    }


def test_template_from_flags_then_a_job_from_it(
    iotfleet: Run, things: dict[str, str], emulator: LocalEmulator, tmp_path: Path
) -> None:
    path = write(tmp_path, "reboot.json", '{"operation": "reboot"}')
    made = iotfleet("--output", "json", "jobs", "template", "create", "weekly-reboot", "--document", path,
                    "--max-per-minute", "7", "--abort", "REJECTED:50:2", "--timeout-minutes", "20",
                    "--maintenance-window", "cron=cron(0 3 ? * SUN *),duration=60", "--fleet", FLEET)  # fmt: skip
    assert made.exit_code == 0, made.stderr  # type: ignore[attr-defined]
    listed = json.loads(iotfleet("--output", "json", "jobs", "template", "list").stdout)  # type: ignore[attr-defined]
    assert [t["jobTemplateId"] for t in listed["templates"]] == ["weekly-reboot"]
    created = iotfleet("--output", "json", "jobs", "create", "--template", "weekly-reboot", "--thing", "dev-1")
    assert created.exit_code == 0, created.stderr  # type: ignore[attr-defined]
    job_id = json.loads(created.stdout)["jobId"]  # type: ignore[attr-defined]
    with aws_context(emulator) as ctx:
        job = ctx.iot.describe_job(jobId=job_id)["job"]
        document = ctx.iot.get_job_document(jobId=job_id)["document"]
    assert job["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 7}
    assert job["abortConfig"]["criteriaList"][0]["failureType"] == "REJECTED"
    assert job["timeoutConfig"] == {"inProgressTimeoutInMinutes": 20}
    assert job["schedulingConfig"]["maintenanceWindows"] == [{"startTime": "cron(0 3 ? * SUN *)", "durationInMinutes": 60}]
    assert json.loads(document) == {"operation": "reboot"}
    refused = iotfleet("jobs", "template", "delete", "weekly-reboot")
    assert refused.exit_code == 2 and "--yes" in refused.stderr  # type: ignore[attr-defined]
    assert iotfleet("--yes", "jobs", "template", "delete", "weekly-reboot").exit_code == 0  # type: ignore[attr-defined]


def test_an_incomplete_template_rollout_is_refused(iotfleet: Run, emulator: LocalEmulator) -> None:
    ran = iotfleet("jobs", "template", "create", "t", "--from-job", "j1", "--exp-base", "5")
    assert ran.exit_code == 2 and "--exp-factor" in ran.stderr  # type: ignore[attr-defined]
    assert calls(emulator) == {}
