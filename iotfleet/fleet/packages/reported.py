"""What devices report about their packages: a thing's ``$package`` shadow, Fleet Indexing queries on the
versions it holds, and how many devices run each version.

:func:`device_packages` reads a thing's ``$package`` shadow; :func:`distribution` counts devices per version
from the fleet index with one ``GetStatistics`` per version.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from iotfleet import query
from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError, is_error
from iotfleet.fleet.index_search import count_matching, matching_things
from iotfleet.fleet.naming import check_package_name, check_thing_name
from iotfleet.fleet.packages.catalog import list_versions
from iotfleet.fleet.runner import run_parallel
from iotfleet.query.fields import PACKAGE_SHADOW


@dataclass(frozen=True)
class DevicePackage:
    """One package in a thing's ``$package`` shadow."""

    package: str
    version: str | None
    attributes: dict[str, Any]
    reported_at: dt.datetime | None


def device_packages(ctx: AwsContext, thing: str) -> list[DevicePackage]:
    """What ``thing`` reports in its ``$package`` shadow (empty when it has none)."""
    check_thing_name(thing, "THING")
    try:
        ctx.iot.describe_thing(thingName=thing)
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            raise UsageError(f"thing {thing!r} does not exist", "THING") from None
        raise
    try:
        payload = ctx.iot_data.get_thing_shadow(thingName=thing, shadowName=PACKAGE_SHADOW)["payload"].read()
    except ClientError as err:
        if is_error(err, "ResourceNotFoundException"):
            return []
        raise
    shadow = json.loads(payload)
    reported = (shadow.get("state") or {}).get("reported") or {}
    metadata = (shadow.get("metadata") or {}).get("reported") or {}
    found: list[DevicePackage] = []
    for name in sorted(reported):
        entry = reported[name]
        if not isinstance(entry, dict):
            continue
        stamp = ((metadata.get(name) or {}).get("version") or {}).get("timestamp")
        found.append(
            DevicePackage(
                package=name,
                version=None if entry.get("version") is None else str(entry.get("version")),
                attributes=dict(entry.get("attributes") or {}),
                reported_at=dt.datetime.fromtimestamp(stamp, tz=dt.timezone.utc) if stamp else None,
            )
        )
    return found


def version_field(package: str) -> str:
    """The Fleet Indexing field holding the version a device reports for ``package``."""
    return f"shadow.name.{PACKAGE_SHADOW}.reported.{package}.version"


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def version_query(package: str, version: str | None = None, *, exclude: bool = False) -> str:
    """Devices reporting ``package`` (any version, exactly ``version``, or any other version with ``exclude``)."""
    name = version_field(package)
    if version is None:
        text = f"{name}:*"
    elif exclude:
        text = f"{name}:* AND NOT {name}:{_quote(version)}"
    else:
        text = f"{name}:{_quote(version)}"
    query.compile_query(text)  # the query language accepts what we send
    return text


def _index_errors(err: ClientError, package: str) -> UsageError | None:
    if is_error(err, "ResourceNotFoundException", "IndexNotReadyException"):
        return UsageError(
            "fleet indexing is not enabled: provision the fleet (it turns indexing on)", "--fleet"
        )
    if is_error(err, "InvalidQueryException"):
        return UsageError(
            f"the fleet index cannot answer for {package}: index the {PACKAGE_SHADOW} named shadow "
            f"({err.response.get('Error', {}).get('Message', '')})",
            "--fleet",
        )
    return None


def count_devices(ctx: AwsContext, query_string: str, package: str) -> int:
    return count_matching(ctx, query_string, lambda err: _index_errors(err, package))


def search_things(ctx: AwsContext, query_string: str, package: str) -> list[str]:
    """The names of every thing matching ``query_string`` (all pages of SearchIndex)."""
    things = matching_things(ctx, query_string, lambda err: _index_errors(err, package))
    return sorted(dict.fromkeys(str(t["thingName"]) for t in things))


@dataclass(frozen=True)
class Distribution:
    """How many devices report each version of a package, from the fleet index."""

    package: str
    counts: dict[str, int]
    other: int  # devices reporting a version the catalog does not know
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {"package": self.package, "total": self.total, "versions": self.counts, "other": self.other}


def distribution(ctx: AwsContext, package: str) -> Distribution:
    """Devices per version: one GetStatistics for all reporting devices and one per catalog version."""
    check_package_name(package, "PACKAGE")
    versions = [v["versionName"] for v in list_versions(ctx, package)]
    queries = [version_query(package)] + [version_query(package, v) for v in versions]
    result = run_parallel(queries, lambda q: count_devices(ctx, q, package), concurrency=ctx.concurrency)
    usage = next((o.error for o in result.failed if isinstance(o.error, UsageError)), None)
    if usage is not None:
        raise usage
    result.raise_for_failures(f"count devices running {package}", "query")
    counts = [int(v or 0) for v in result.values]
    total, per_version = counts[0], dict(zip(versions, counts[1:], strict=True))
    return Distribution(package, per_version, max(0, total - sum(per_version.values())), total)
