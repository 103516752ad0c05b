"""Helpers for the cleanup tests: an iotfleet context on the emulator, a small fleet recorded the way
provisioning records ownership (tags, the thing attribute, the state record in the bucket), a "foreign" fleet
made with plain calls, and call counting.

The small fleet is built here from the library's own helpers (bucket, roles, state, indexing, packages, jobs)
so the unit tests of cleanup do not depend on a whole provisioning run; the end-to-end test provisions with
:func:`iotfleet.fleet.provision.apply.provision`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.clock import Clock
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import fleet_state, indexing, roles, storage
from iotfleet.fleet.jobs.create import JobSpec, create_job
from iotfleet.fleet.jobs.templates import TemplateSpec, create_template
from iotfleet.fleet.ownership import CONTINENT_GROUP, COUNTRY_GROUP, FLEET_ATTRIBUTE, GROUP_KIND_TAG, tag_list
from iotfleet.fleet.packages.catalog import create_package
from iotfleet.fleet.packages.configuration import get_configuration
from iotfleet.fleet.packages.upload import upload_version

FLEET = "demo"
PREFIX = "Vehicle-VIN-"
CONTINENT_GROUP_NAME = "NorthAmerica_Fleet"

# Operations that change something; a dry run must make none of them.
MUTATING_PREFIXES = ("Create", "Update", "Delete", "Put", "Publish", "Tag", "Untag", "Add", "Remove", "Attach",
                     "Detach", "Cancel", "Associate", "Deprecate", "Set", "Register", "Enable", "Disable",
                     "Start", "Stop", "Upload", "Copy", "Complete", "Abort")  # fmt: skip


@contextmanager
def aws_context(
    emulator: LocalEmulator, clock: Clock | None = None, concurrency: int = 8
) -> Iterator[AwsContext]:
    # The context runs on the emulator's clock by default, so AWS's 5-minute thing-type wait takes no real time.
    # The emulator enforces no quotas here; high local ones keep the tests quick.
    quotas = [f"{service}:*=2000" for service in ("iot", "iot-data", "s3", "iam")]
    settings = TargetSettings.resolve(
        target="local",
        endpoint_url=emulator.endpoint_url,
        concurrency=concurrency,
        quota_overrides=quotas,
        env={},
    )
    with AwsContext(settings, clock or EmulatorClock(emulator)) as ctx:
        yield ctx


def calls(emulator: LocalEmulator) -> dict[str, int]:
    """Calls per ``service:Operation`` since the last reset."""
    return {key: count["calls"] for key, count in emulator.counters().items() if count["calls"]}


def mutating_calls(emulator: LocalEmulator) -> dict[str, int]:
    return {
        key: n for key, n in calls(emulator).items() if key.split(":", 1)[1].startswith(MUTATING_PREFIXES)
    }


class EmulatorClock:
    """A context clock that is the emulator's: sleeping moves the emulator's time, so waits take no real time."""

    def __init__(self, emulator: LocalEmulator) -> None:
        self._emulator = emulator

    def time(self) -> float:
        return self._emulator.clock.now()

    def monotonic(self) -> float:
        return self._emulator.clock.now()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._emulator.advance(seconds)


@dataclass
class SmallFleet:
    """What :func:`build_fleet` made."""

    fleet: str
    bucket: str
    things: list[str]
    thing_types: list[str]
    country_groups: list[str]
    continent_group: str
    dynamic_group: str
    packages: list[str]
    roles: list[str]
    jobs: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)


def build_fleet(
    ctx: AwsContext,
    tmp_path: Path,
    fleet: str = FLEET,
    *,
    devices: int = 6,
    countries: tuple[str, ...] = ("US", "CA"),
    thing_types: tuple[str, ...] = ("SedanVehicle", "TruckVehicle"),
    versions: tuple[str, ...] = ("1.0.0", "1.1.0"),
    job: bool = True,
    first: int = 1,
    continent: str = CONTINENT_GROUP_NAME,
) -> SmallFleet:
    """A fleet with everything provisioning, packages and jobs create, ownership recorded as they record it."""
    bucket = storage.bucket_name(fleet, ctx.account_id, ctx.region, suffix="test")
    storage.create_bucket(ctx, bucket, fleet)
    ctx.s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    role_arns = {
        spec.purpose: roles.create_role(ctx, spec, fleet)
        for spec in roles.fleet_role_specs(fleet, bucket, ctx.region, ctx.account_id, thing_prefix=f"{fleet}-")
    }
    state = fleet_state.read_state(ctx, bucket, fleet)
    current = indexing.read_configuration(ctx)
    changes = indexing.changes_needed(current)
    if changes:
        state.record_indexing(current, changes)
    package_configuration = get_configuration(ctx)
    if package_configuration.get("roleArn") != role_arns[roles.PACKAGE_CONFIG]:
        state.record_package_configuration(package_configuration)
    fleet_state.write_state(ctx, bucket, state)
    if changes:
        indexing.update_configuration(ctx, indexing.merged_configuration(current))
    ctx.iot.update_package_configuration(
        versionUpdateByJobsConfig={"enabled": True, "roleArn": role_arns[roles.PACKAGE_CONFIG]}
    )
    for name in thing_types:
        ctx.iot.create_thing_type(
            thingTypeName=name,
            thingTypeProperties={"searchableAttributes": ["customerId", "country", "manufacturingDate"]},
            tags=tag_list(fleet),
        )
    ctx.iot.create_thing_group(
        thingGroupName=continent, tags=tag_list(fleet, {GROUP_KIND_TAG: CONTINENT_GROUP})
    )
    country_groups = [f"{code}_Fleet" for code in countries]
    for group in country_groups:
        ctx.iot.create_thing_group(
            thingGroupName=group, parentGroupName=continent,
            tags=tag_list(fleet, {GROUP_KIND_TAG: COUNTRY_GROUP}),
        )  # fmt: skip
    for version_index, package in enumerate(thing_types):
        create_package(ctx, fleet, package)
        for version in versions:
            path = tmp_path / f"{package}-{version}.bin"
            path.write_bytes(f"{package} {version} {version_index}".encode() * 64)
            upload_version(
                ctx, fleet=fleet, bucket=bucket, package=package, version=version, path=path, publish=True
            )
        ctx.iot.update_package(packageName=package, defaultVersionName=versions[0])
    things = []
    for index in range(devices):
        name = f"{PREFIX}{first + index}"
        thing_type = thing_types[index % len(thing_types)]
        country = countries[(index // len(thing_types)) % len(countries)]
        attributes = {"country": country, "customerId": f"c{index}", FLEET_ATTRIBUTE: fleet}
        ctx.iot.create_thing(
            thingName=name, thingTypeName=thing_type, attributePayload={"attributes": attributes}
        )
        ctx.iot.add_thing_to_thing_group(thingGroupName=f"{country}_Fleet", thingName=name)
        report(ctx, name, None, {"batteryStatus": 40 + index})
        report(ctx, name, "$package", {thing_type: {"version": versions[0]}})
        things.append(name)
    dynamic = f"{fleet}-low-battery"
    ctx.iot.create_dynamic_thing_group(
        thingGroupName=dynamic, queryString="shadow.reported.batteryStatus<50", tags=tag_list(fleet)
    )
    built = SmallFleet(
        fleet, bucket, things, list(thing_types), country_groups, continent, dynamic,
        list(thing_types), [roles.role_name(fleet, p) for p in roles.PURPOSES],
    )  # fmt: skip
    if job:
        spec = JobSpec(
            fleet=fleet, package=thing_types[0], version=versions[-1], groups=(country_groups[0],),
            presign_role_arn=role_arns[roles.JOBS_PRESIGN], job_id=f"{fleet}-ota-" + versions[-1].replace(".", "_"),
        )  # fmt: skip
        _, answer = create_job(ctx, spec)
        built.jobs.append(str(answer["jobId"]))
        template = TemplateSpec(
            fleet=fleet, template_id=f"{fleet}-ota-template", package=thing_types[0], version=versions[-1],
            presign_role_arn=role_arns[roles.JOBS_PRESIGN],
        )  # fmt: skip
        create_template(ctx, template)
        built.templates.append(template.template_id)
    return built


def report(ctx: AwsContext, thing: str, shadow: str | None, reported: dict[str, Any]) -> None:
    request: dict[str, Any] = {
        "thingName": thing,
        "payload": json.dumps({"state": {"reported": reported}}).encode(),
    }
    if shadow:
        request["shadowName"] = shadow
    ctx.iot_data.update_thing_shadow(**request)


def shadow_names(ctx: AwsContext, thing: str) -> list[str]:
    return list(ctx.iot_data.list_named_shadows_for_thing(thingName=thing).get("results", []))
