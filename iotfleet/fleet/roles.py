"""The fleet's two IAM roles, least privilege, and waiting for IAM to make them usable.

* ``iotfleet-<fleet>-jobs-presign``: assumed by AWS IoT Jobs to presign firmware download URLs. It may read
  objects, and object versions, of the fleet's bucket and nothing else.
* ``iotfleet-<fleet>-package-config``: assumed by AWS IoT to write a thing's ``$package`` named shadow when a
  job deploying a package version succeeds. It may get and update that one shadow of the fleet's things only
  (``thing/<prefix>*/$package``, the fleet's thing-name prefix), and call ``iot:DescribeEndpoint``, which has
  no resource-level permissions (hence its ``*`` resource).

Both trust only ``iot.amazonaws.com`` acting for this account and region (``aws:SourceAccount`` and
``aws:SourceArn`` conditions), carry the fleet's ownership tags, and name every action they allow (no
wildcard actions). Each has one inline policy, :data:`POLICY_NAME`. A role with one of these names but without
the fleet's ownership tag belongs to someone else and is never changed.

IAM is eventually consistent: a new role can be invisible, or refused by the service it is passed to, for a
few seconds. :func:`wait_until_visible` polls until the role and its policy can be read back, with a deadline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import OperationFailed, ResourceFailure, UsageError, is_error
from iotfleet.fleet import naming
from iotfleet.fleet.ownership import owned_by, tag_dict, tag_list
from iotfleet.query.fields import PACKAGE_SHADOW

T = TypeVar("T")

JOBS_PRESIGN = "jobs-presign"
PACKAGE_CONFIG = "package-config"
PURPOSES = (JOBS_PRESIGN, PACKAGE_CONFIG)
POLICY_NAME = "iotfleet-permissions"
TRUSTED_SERVICE = "iot.amazonaws.com"
PROPAGATION_TIMEOUT = 60.0
_FIRST_POLL_DELAY = 0.25
_MAX_POLL_DELAY = 4.0


def role_name(fleet: str, purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown role purpose {purpose!r}")
    return naming.ROLE_NAME.check(f"iotfleet-{fleet}-{purpose}", "--fleet")


def trust_policy(region: str, account: str, partition: str = "aws") -> dict[str, Any]:
    """AWS IoT may assume the role, and only on behalf of this account's AWS IoT in this region.

    The two conditions are the confused-deputy guard AWS IoT documents: ``aws:SourceAccount`` must be the
    account, and ``aws:SourceArn`` an AWS IoT resource of the account in the region
    (``arn:<partition>:iot:<region>:<account>:*``, the form AWS IoT's documentation gives).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": TRUSTED_SERVICE},
                "Action": "sts:AssumeRole",
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{partition}:iot:{region}:{account}:*"},
                },
            }
        ],
    }


def presign_policy(bucket: str, partition: str = "aws") -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadFleetFirmware",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion"],
                "Resource": f"arn:{partition}:s3:::{bucket}/*",
            }
        ],
    }


def package_config_policy(region: str, account: str, thing_prefix: str, partition: str = "aws") -> dict[str, Any]:
    """The ``$package`` shadow of the fleet's things only: their names all start with ``thing_prefix``."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReportPackageVersions",
                "Effect": "Allow",
                "Action": ["iot:GetThingShadow", "iot:UpdateThingShadow"],
                "Resource": f"arn:{partition}:iot:{region}:{account}:thing/{thing_prefix}*/{PACKAGE_SHADOW}",
            },
            {"Sid": "FindDataEndpoint", "Effect": "Allow", "Action": "iot:DescribeEndpoint", "Resource": "*"},
        ],
    }


@dataclass(frozen=True)
class RoleSpec:
    """A role as the fleet wants it."""

    purpose: str
    name: str
    policy: dict[str, Any]
    description: str
    trust: dict[str, Any]


def fleet_role_specs(
    fleet: str, bucket: str, region: str, account: str, partition: str = "aws", *, thing_prefix: str
) -> list[RoleSpec]:
    trust = trust_policy(region, account, partition)
    return [
        RoleSpec(
            JOBS_PRESIGN,
            role_name(fleet, JOBS_PRESIGN),
            presign_policy(bucket, partition),
            f"iotfleet fleet {fleet}: AWS IoT Jobs presigns firmware downloads from {bucket}",
            trust,
        ),
        RoleSpec(
            PACKAGE_CONFIG,
            role_name(fleet, PACKAGE_CONFIG),
            package_config_policy(region, account, thing_prefix, partition),
            f"iotfleet fleet {fleet}: AWS IoT records deployed package versions in the $package shadow",
            trust,
        ),
    ]


@dataclass
class RoleStatus:
    """A role as found: missing, someone else's, or ours with what differs."""

    name: str
    exists: bool
    owned: bool = False
    arn: str | None = None
    differs: list[str] = field(default_factory=list)


def _document(value: Any) -> Any:
    """A policy document as a dict, whether boto3 gave a dict or (URL-encoded) JSON text."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


def find_role(ctx: AwsContext, name: str) -> dict[str, Any] | None:
    try:
        return dict(ctx.iam.get_role(RoleName=name)["Role"])
    except ClientError as err:
        if is_error(err, "NoSuchEntity"):
            return None
        raise


# An IAM role ARN: partition, 12-digit account, role/ and an optional path before the name.
_ROLE_ARN = re.compile(r"arn:aws[a-zA-Z-]*:iam::\d{12}:role/[\w+=,.@/-]+")


def check_role_arn(value: str, param: str = "--role-arn") -> str:
    """``value`` when it has the shape of an IAM role ARN; else a usage error naming ``param`` (no call)."""
    if not _ROLE_ARN.fullmatch(value):
        raise UsageError(f"{value!r} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", param)
    return value


def check_role_exists(ctx: AwsContext, arn: str, param: str = "--role-arn") -> str:
    """A role named by ARN must exist (one ``GetRole``): AWS would take the ARN and fail only later."""
    check_role_arn(arn, param)
    if find_role(ctx, arn.rsplit("/", 1)[1]) is None:
        raise UsageError(f"role {arn} does not exist", param)
    return arn


def role_tags(ctx: AwsContext, role: dict[str, Any]) -> dict[str, str]:
    """The role's tags (GetRole returns them; older IAM answers may not, so they are listed then)."""
    if "Tags" in role:
        return tag_dict(role["Tags"])
    return tag_dict(ctx.iam.list_role_tags(RoleName=role["RoleName"]).get("Tags"))


def inspect_role(ctx: AwsContext, spec: RoleSpec, fleet: str) -> RoleStatus:
    role = find_role(ctx, spec.name)
    if role is None:
        return RoleStatus(spec.name, exists=False)
    tags = role_tags(ctx, role)
    status = RoleStatus(spec.name, exists=True, owned=owned_by(tags, fleet), arn=str(role["Arn"]))
    if not status.owned:
        return status
    if _document(role.get("AssumeRolePolicyDocument")) != spec.trust:
        status.differs.append("trust policy")
    try:
        policy = _document(
            ctx.iam.get_role_policy(RoleName=spec.name, PolicyName=POLICY_NAME)["PolicyDocument"]
        )
    except ClientError as err:
        if not is_error(err, "NoSuchEntity"):
            raise
        policy = None
    if policy != spec.policy:
        status.differs.append("permissions")
    if not tag_dict(tag_list(fleet)).items() <= tags.items():
        status.differs.append("tags")
    return status


def create_role(ctx: AwsContext, spec: RoleSpec, fleet: str) -> str:
    """Create the role with its trust policy, tags and inline policy; returns its ARN.

    A role that is there already and carries the fleet's tags is this call's own, made by an attempt whose
    reply was lost: it is used. Any other role of that name is a conflict and raised.
    """
    try:
        arn = str(
            ctx.iam.create_role(
                RoleName=spec.name,
                AssumeRolePolicyDocument=json.dumps(spec.trust),
                Description=spec.description,
                Tags=tag_list(fleet),
            )["Role"]["Arn"]
        )
    except ClientError as err:
        if not is_error(err, "EntityAlreadyExists"):
            raise
        found = find_role(ctx, spec.name)
        if found is None or not owned_by(role_tags(ctx, found), fleet):
            raise
        arn = str(found["Arn"])
    put_permissions(ctx, spec)
    return arn


def put_permissions(ctx: AwsContext, spec: RoleSpec) -> None:
    ctx.iam.put_role_policy(
        RoleName=spec.name, PolicyName=POLICY_NAME, PolicyDocument=json.dumps(spec.policy)
    )


def repair_role(ctx: AwsContext, spec: RoleSpec, status: RoleStatus, fleet: str) -> None:
    """Put back what differs on a role the fleet owns."""
    if "trust policy" in status.differs:
        ctx.iam.update_assume_role_policy(RoleName=spec.name, PolicyDocument=json.dumps(spec.trust))
    if "permissions" in status.differs:
        put_permissions(ctx, spec)
    if "tags" in status.differs:
        ctx.iam.tag_role(RoleName=spec.name, Tags=tag_list(fleet))


def wait_until_visible(ctx: AwsContext, names: list[str], timeout: float = PROPAGATION_TIMEOUT) -> None:
    """Poll until every role and its inline policy can be read back, or raise :class:`OperationFailed`."""
    deadline = ctx.clock.monotonic() + timeout
    pending = list(names)
    delay = _FIRST_POLL_DELAY
    while True:
        pending = [name for name in pending if not _visible(ctx, name)]
        if not pending:
            return
        if ctx.clock.monotonic() + delay > deadline:
            raise OperationFailed(
                f"IAM did not make the new role(s) visible within {timeout:.0f} s",
                [ResourceFailure("role", name, "not visible yet; run the command again") for name in pending],
            )
        ctx.clock.sleep(delay)
        delay = min(_MAX_POLL_DELAY, delay * 2)


def _visible(ctx: AwsContext, name: str) -> bool:
    try:
        ctx.iam.get_role(RoleName=name)
        ctx.iam.get_role_policy(RoleName=name, PolicyName=POLICY_NAME)
    except ClientError as err:
        if is_error(err, "NoSuchEntity"):
            return False
        raise
    return True


def retry_while_propagating(
    ctx: AwsContext, call: Callable[[], T], *, codes: tuple[str, ...], timeout: float = PROPAGATION_TIMEOUT
) -> T:
    """Run ``call``; while it fails with one of ``codes`` (a service refusing a just-created role), retry it
    with growing delays until ``timeout``, then let the last error through."""
    deadline = ctx.clock.monotonic() + timeout
    delay = _FIRST_POLL_DELAY
    while True:
        try:
            return call()
        except ClientError as err:
            if not is_error(err, *codes) or ctx.clock.monotonic() + delay > deadline:
                raise
        ctx.clock.sleep(delay)
        delay = min(_MAX_POLL_DELAY, delay * 2)
