"""``iotfleet packages`` through the real entry point, against the emulator over HTTP."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.packages.catalog import create_package
from iotfleet.fleet.packages.upload import upload_version

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from packages_setup import (
    BUCKET,
    FLEET,
    PACKAGE,
    aws_context,
    calls,
    enable_package_index,
    firmware,
    make_bucket,
    make_role,
    make_things,
    mutating_calls,
    report_version,
)

Run = Callable[..., object]


@pytest.fixture
def iotfleet(invoke, emulator: LocalEmulator) -> Run:  # type: ignore[no-untyped-def]
    def run(*args: str, stdin: str | None = None) -> object:
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, *args, stdin=stdin)

    return run


@pytest.fixture
def catalog(emulator: LocalEmulator, tmp_path: Path) -> None:
    """fw-main with 1.0.0 and 1.1.0 PUBLISHED and 1.2.0 DRAFT; six devices reporting versions."""
    with aws_context(emulator) as ctx:
        make_bucket(ctx)
        enable_package_index(ctx)
        create_package(ctx, FLEET, PACKAGE)
        for version, publish in (("1.0.0", True), ("1.1.0", True), ("1.2.0", False)):
            upload_version(ctx, fleet=FLEET, bucket=BUCKET, package=PACKAGE, version=version,
                               path=firmware(tmp_path, version), publish=publish)  # fmt: skip
        reports = {"d1": "1.0.0", "d2": "1.1.0", "d3": "1.1.0", "d4": "1.1.0"}
        make_things(ctx, list(reports))
        for thing, version in reports.items():
            report_version(ctx, thing, PACKAGE, version)
    emulator.reset_counters()


def output(ran: object) -> dict:  # type: ignore[type-arg]
    assert ran.exit_code == 0, ran.stderr  # type: ignore[attr-defined]
    return json.loads(ran.stdout)  # type: ignore[attr-defined,no-any-return]


def test_create_is_tagged_and_safe_to_repeat(iotfleet: Run, emulator: LocalEmulator) -> None:
    first = output(iotfleet("--output", "json", "packages", "create", "fw-new", "--description", "new board",
                            "--fleet", FLEET))  # fmt: skip
    assert first["created"] is True
    assert output(iotfleet("--output", "json", "packages", "create", "fw-new"))["created"] is False
    with aws_context(emulator) as ctx:
        tags = ctx.iot.list_tags_for_resource(resourceArn=first["arn"])["tags"]
    assert {"Key": "iotfleet:fleet", "Value": FLEET} in tags


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["packages", "create"], "PACKAGE"),
        (["packages", "publish", PACKAGE], "VERSION"),
        (["packages", "device"], "THING"),
        (["packages", "rollback", PACKAGE], "--to"),
        (["packages", "create-version", PACKAGE, "2.0.0"], "--file"),
        (["packages", "create", "bad name"], "PACKAGE"),
        (["packages", "create-version", PACKAGE, "2.0.0", "--file", "x", "--attribute", "size=1"], "--attribute"),
        (["packages", "delete", PACKAGE], "--yes"),
        (["packages", "menu"], "terminal"),
    ],
)
def test_missing_or_bad_values_without_a_terminal_exit_2(
    iotfleet: Run, emulator: LocalEmulator, args: list[str], flag: str
) -> None:
    ran = iotfleet(*args)
    assert ran.exit_code == 2 and flag in ran.stderr  # type: ignore[attr-defined]
    assert calls(emulator) == {}


def test_lifecycle_commands(iotfleet: Run, catalog: None, emulator: LocalEmulator) -> None:
    refused = iotfleet("packages", "deprecate", PACKAGE, "1.2.0")
    assert refused.exit_code == 2 and "only a PUBLISHED version can be deprecated" in refused.stderr  # type: ignore[attr-defined]
    refused = iotfleet("packages", "set-default", PACKAGE, "1.2.0")
    assert refused.exit_code == 2 and "DRAFT" in refused.stderr  # type: ignore[attr-defined]
    assert mutating_calls(emulator) == {}
    assert output(iotfleet("--output", "json", "packages", "publish", PACKAGE, "1.2.0"))["status"] == "PUBLISHED"
    assert output(iotfleet("--output", "json", "packages", "deprecate", PACKAGE, "1.0.0"))["status"] == "DEPRECATED"
    assert output(iotfleet("--output", "json", "packages", "set-default", PACKAGE, "1.0.0"))["changed"] is True
    unset = output(iotfleet("--output", "json", "packages", "set-default", PACKAGE, "--unset"))
    assert unset == {"package": PACKAGE, "defaultVersion": None, "previous": "1.0.0", "changed": True}
    text = iotfleet("packages", "publish", PACKAGE, "1.2.0")
    assert "already PUBLISHED" in text.stdout  # type: ignore[attr-defined]


def test_list_and_describe(iotfleet: Run, catalog: None) -> None:
    listed = output(iotfleet("--output", "json", "packages", "list"))
    assert [p["packageName"] for p in listed["packages"]] == [PACKAGE]
    described = output(iotfleet("--output", "json", "packages", "describe", PACKAGE))
    assert [(v["versionName"], v["status"]) for v in described["versions"]] == [
        ("1.0.0", "PUBLISHED"), ("1.1.0", "PUBLISHED"), ("1.2.0", "DRAFT"),
    ]  # fmt: skip
    version = output(iotfleet("--output", "json", "packages", "describe", PACKAGE, "1.1.0"))
    assert set(version["attributes"]) == {"sha256", "size"}
    text = iotfleet("packages", "describe", PACKAGE, "1.1.0").stdout  # type: ignore[attr-defined]
    assert "sha256" in text and f"s3://{BUCKET}/firmware/{PACKAGE}/1.1.0/" in text


def test_delete_needs_confirmation_and_respects_active_jobs(iotfleet: Run, catalog: None, emulator: LocalEmulator) -> None:
    assert iotfleet("packages", "delete", PACKAGE, "1.2.0").exit_code == 2  # type: ignore[attr-defined]
    assert mutating_calls(emulator) == {}
    deleted = output(iotfleet("--yes", "--output", "json", "packages", "delete", PACKAGE, "1.2.0"))
    assert deleted["deletedVersions"] == ["1.2.0"]
    with aws_context(emulator) as ctx:
        role = make_role(ctx)
        ctx.iot.create_job(
            jobId="busy", targets=[ctx.iot.describe_thing(thingName="d1")["thingArn"]], document="{}",
            presignedUrlConfig={"roleArn": role},
            destinationPackageVersions=[ctx.iot.get_package_version(packageName=PACKAGE, versionName="1.1.0")["packageVersionArn"]],
        )  # fmt: skip
    emulator.reset_counters()
    refused = iotfleet("--yes", "packages", "delete", PACKAGE)
    assert refused.exit_code == 2 and "busy (IN_PROGRESS: 1.1.0)" in refused.stderr  # type: ignore[attr-defined]
    assert mutating_calls(emulator) == {}
    forced = iotfleet("--yes", "--output", "json", "packages", "delete", PACKAGE, "--force")
    assert output(forced)["packageDeleted"] is True
    assert "active job busy" in forced.stderr  # type: ignore[attr-defined]


def test_config_show_enable_disable(iotfleet: Run, emulator: LocalEmulator) -> None:
    assert output(iotfleet("--output", "json", "packages", "config", "show")) == {"enabled": False, "roleArn": None}
    with aws_context(emulator) as ctx:
        role = make_role(ctx, "package-role")
    enabled = output(iotfleet("--output", "json", "packages", "config", "enable", "--role-arn", role))
    assert enabled["current"] == {"enabled": True, "roleArn": role}
    assert "disabled" in iotfleet("packages", "config", "disable").stdout  # type: ignore[attr-defined]


def test_device_and_distribution(iotfleet: Run, catalog: None, emulator: LocalEmulator) -> None:
    device = output(iotfleet("--output", "json", "packages", "device", "d2"))
    assert [(p["package"], p["version"]) for p in device["packages"]] == [(PACKAGE, "1.1.0")]
    assert "1.1.0" in iotfleet("packages", "device", "d2").stdout  # type: ignore[attr-defined]
    emulator.reset_counters()
    dist = output(iotfleet("--output", "json", "packages", "distribution", PACKAGE))
    assert dist == {"package": PACKAGE, "total": 4, "versions": {"1.0.0": 1, "1.1.0": 3, "1.2.0": 0}, "other": 0}
    assert calls(emulator)["iot:GetStatistics"] == 4
    chart = iotfleet("packages", "distribution", PACKAGE).stdout  # type: ignore[attr-defined]
    lines = {line.split()[0]: line for line in chart.splitlines()[1:]}
    assert lines["1.1.0"].count("█") == 40 and lines["1.0.0"].count("█") == 13 and "█" not in lines["1.2.0"]
    assert "3 (75.0%)" in lines["1.1.0"]


def test_rollback_dry_run_shows_the_exact_request_and_creates_nothing(
    iotfleet: Run, catalog: None, emulator: LocalEmulator, tmp_path: Path
) -> None:
    with aws_context(emulator) as ctx:
        role = make_role(ctx)
    emulator.reset_counters()
    ran = iotfleet("--output", "json", "packages", "rollback", PACKAGE, "--to", "1.0.0", "--role-arn", role,
                   "--max-per-minute", "30", "--dry-run")  # fmt: skip
    request = output(ran)
    assert len(request["targets"]) == 3 and all(":thing/d" in arn for arn in request["targets"])
    assert request["jobExecutionsRolloutConfig"] == {"maximumPerMinute": 30}
    assert "3 device(s) report another version" in ran.stderr  # type: ignore[attr-defined]
    assert mutating_calls(emulator) == {}
    created = output(iotfleet("--output", "json", "packages", "rollback", PACKAGE, "--to", "1.0.0", "--role-arn", role))
    assert created["method"] == "things" and created["devices"] == 3
    with aws_context(emulator) as ctx:
        job = ctx.iot.describe_job(jobId=created["jobId"])["job"]
    assert sorted(arn.rsplit("/", 1)[1] for arn in job["targets"]) == ["d2", "d3", "d4"]
