"""What a job and a job template both check: their description and user tags (no call), the package
versions they deploy (one ``GetPackageVersion`` each: they must be PUBLISHED or DEPRECATED), and the fleet's
jobs role, which AWS IoT assumes to presign artifact URLs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.jobs.documents import PackageVersionRef
from iotfleet.fleet.key_values import parse_key_values
from iotfleet.fleet.naming import TAG_KEY, TAG_VALUE
from iotfleet.fleet.packages.catalog import DEPLOYABLE, get_version
from iotfleet.fleet.resources import discover, provisioned

# AWS limits (CreateJob / CreateJobTemplate).
MAX_TAGS = 50

RESERVED_TAG_PREFIXES = ("aws:", "iotfleet:")


def check_tags(tags: Mapping[str, str], param: str = "--tag") -> dict[str, str]:
    """User tags: AWS's key and value rules, at most 50 with ours, and no reserved ``aws:``/``iotfleet:`` keys."""
    for key, value in tags.items():
        TAG_KEY.check(key, param)
        TAG_VALUE.check(value, param)
        if key.lower().startswith(RESERVED_TAG_PREFIXES):
            raise UsageError(f"tag key {key!r} is reserved (aws: and iotfleet: prefixes)", param)
    if len(tags) + 2 > MAX_TAGS:
        raise UsageError(f"at most {MAX_TAGS - 2} tags of your own, got {len(tags)}", param)
    return dict(tags)


def parse_tags(values: Iterable[str], param: str = "--tag") -> dict[str, str]:
    """``key=value`` strings to checked tags (a later key wins; spaces around keys and values are trimmed)."""
    return check_tags(parse_key_values(values, what="tag", param=param, strip=True), param)


def check_deployable(ctx: AwsContext, refs: Iterable[PackageVersionRef]) -> dict[PackageVersionRef, str]:
    """Each version must exist and be PUBLISHED or DEPRECATED; returns their ARNs."""
    arns: dict[PackageVersionRef, str] = {}
    for ref in refs:
        answer = get_version(ctx, ref.package, ref.version, "--version")
        status = answer.get("status")
        if status not in DEPLOYABLE:
            raise UsageError(
                f"package version {ref} is {status}: only PUBLISHED or DEPRECATED versions can be deployed "
                f"(iotfleet packages publish {ref.package} {ref.version})",
                "--version",
            )
        arns[ref] = str(answer["packageVersionArn"])
    return arns


def fleet_jobs_role_arn(ctx: AwsContext, fleet: str) -> str:
    """The fleet's jobs role (the one AWS IoT assumes to presign artifact URLs), found by ownership tags."""
    return provisioned(discover(ctx, fleet, kinds={"roles"}).jobs_role_arn, fleet, "jobs role")
