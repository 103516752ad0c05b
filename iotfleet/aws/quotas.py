"""The one table of API rate quotas (transactions per second), keyed ``service:Operation``.

The access layer paces its calls with it and the local emulator enforces it with ``--enforce-quotas``,
so both sides agree on what "within quota" means. Keys use the botocore service name
(``iot``, ``iot-data``, ``iot-jobs-data``, ``s3``, ``iam``, ``sts``) and the botocore operation name.

Values follow AWS's documented IoT quotas where they exist. Two are product defaults rather than AWS
numbers: 80 TPS for calls on things and 8 TPS for calls on thing types, each kept only where AWS's
default is at least that high; an operation whose default is lower is paced at its default, never above
(``ListThingPrincipals``), and reads whose default is far higher use it (``DescribeThing``,
``DescribeThingType``). The defaults are AWS's Service Quotas listing of IoT Core ("... API TPS"). Accounts
differ, so every value can be overridden (see :func:`parse_overrides`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

THING_TPS = 80.0
THING_TYPE_TPS = 8.0

_THING_OPERATIONS = (
    "CreateThing",
    "UpdateThing",
    "DeleteThing",
    "AddThingToThingGroup",
    "RemoveThingFromThingGroup",
    "UpdateThingGroupsForThing",
    "ListThingGroupsForThing",
    "AttachThingPrincipal",
    "DetachThingPrincipal",
)
_THING_TYPE_OPERATIONS = (
    "CreateThingType",
    "UpdateThingType",
    "DeprecateThingType",
    "DeleteThingType",
    "ListThingTypes",
)

DEFAULT_QUOTAS: dict[str, float] = {
    **{f"iot:{op}": THING_TPS for op in _THING_OPERATIONS},
    **{f"iot:{op}": THING_TYPE_TPS for op in _THING_TYPE_OPERATIONS},
    # Thing and thing-type calls whose AWS default differs from the product rates.
    "iot:DescribeThing": 350.0,
    "iot:ListThingPrincipals": 10.0,
    "iot:DescribeThingType": 100.0,
    # Registry listing and groups.
    "iot:ListThings": 10.0,
    "iot:ListThingsInThingGroup": 25.0,
    "iot:CreateThingGroup": 25.0,
    "iot:UpdateThingGroup": 15.0,
    "iot:DescribeThingGroup": 100.0,
    "iot:DeleteThingGroup": 15.0,
    "iot:ListThingGroups": 10.0,
    "iot:CreateDynamicThingGroup": 5.0,
    "iot:UpdateDynamicThingGroup": 5.0,
    "iot:DeleteDynamicThingGroup": 5.0,
    "iot:TagResource": 10.0,
    "iot:UntagResource": 10.0,
    "iot:ListTagsForResource": 10.0,
    # Fleet indexing.
    "iot:SearchIndex": 15.0,
    "iot:GetStatistics": 15.0,
    "iot:GetCardinality": 15.0,
    "iot:GetIndexingConfiguration": 20.0,
    "iot:UpdateIndexingConfiguration": 1.0,
    # Jobs control plane.
    "iot:CreateJob": 10.0,
    "iot:DescribeJob": 10.0,
    "iot:ListJobs": 10.0,
    "iot:UpdateJob": 10.0,
    "iot:CancelJob": 10.0,
    "iot:DeleteJob": 10.0,
    "iot:GetJobDocument": 10.0,
    "iot:AssociateTargetsWithJob": 10.0,
    "iot:DescribeJobExecution": 10.0,
    "iot:ListJobExecutionsForJob": 10.0,
    "iot:ListJobExecutionsForThing": 10.0,
    "iot:CancelJobExecution": 10.0,
    "iot:DeleteJobExecution": 10.0,
    "iot:CreateJobTemplate": 10.0,
    "iot:DescribeJobTemplate": 10.0,
    "iot:ListJobTemplates": 10.0,
    "iot:DeleteJobTemplate": 10.0,
    # Software package catalog.
    "iot:CreatePackage": 10.0,
    "iot:GetPackage": 50.0,
    "iot:UpdatePackage": 10.0,
    "iot:ListPackages": 10.0,
    "iot:DeletePackage": 10.0,
    "iot:CreatePackageVersion": 10.0,
    "iot:GetPackageVersion": 50.0,
    "iot:UpdatePackageVersion": 10.0,
    "iot:ListPackageVersions": 10.0,
    "iot:DeletePackageVersion": 10.0,
    "iot:GetPackageConfiguration": 10.0,
    "iot:UpdatePackageConfiguration": 10.0,
    # Account-wide settings and endpoints.
    "iot:DescribeEndpoint": 10.0,
    "iot:GetV2LoggingOptions": 2.0,
    "iot:SetV2LoggingOptions": 2.0,
    # Shadows (device shadow service, per account).
    "iot-data:GetThingShadow": 500.0,
    "iot-data:UpdateThingShadow": 500.0,
    "iot-data:DeleteThingShadow": 500.0,
    "iot-data:ListNamedShadowsForThing": 10.0,
    # Jobs data plane: 200 read and 200 write TPS per account.
    "iot-jobs-data:GetPendingJobExecutions": 200.0,
    "iot-jobs-data:DescribeJobExecution": 200.0,
    "iot-jobs-data:StartNextPendingJobExecution": 200.0,
    "iot-jobs-data:UpdateJobExecution": 200.0,
}

# Device identity: the registration code, CA and device certificates, IoT policies and their targets.
# AWS IoT Core's API throttling table gives each of these a default of at least 10 TPS; all are paced at
# 10. (AttachThingPrincipal and DetachThingPrincipal, whose default is 100, are paced with the thing calls
# above.)
IDENTITY_QUOTAS: dict[str, float] = {
    f"iot:{op}": 10.0
    for op in (
        "GetRegistrationCode",
        "DeleteRegistrationCode",
        "RegisterCACertificate",
        "DescribeCACertificate",
        "ListCACertificates",
        "ListCertificatesByCA",
        "UpdateCACertificate",
        "DeleteCACertificate",
        "RegisterCertificate",
        "RegisterCertificateWithoutCA",
        "CreateKeysAndCertificate",
        "CreateCertificateFromCsr",
        "DescribeCertificate",
        "ListCertificates",
        "UpdateCertificate",
        "DeleteCertificate",
        "CreatePolicy",
        "GetPolicy",
        "ListPolicies",
        "DeletePolicy",
        "CreatePolicyVersion",
        "GetPolicyVersion",
        "ListPolicyVersions",
        "DeletePolicyVersion",
        "SetDefaultPolicyVersion",
        "AttachPolicy",
        "DetachPolicy",
        "ListAttachedPolicies",
        "ListTargetsForPolicy",
        "ListPrincipalThings",
    )
}
DEFAULT_QUOTAS.update(IDENTITY_QUOTAS)

# AWS IoT Core's message broker (the MQTT endpoint), per account unless said otherwise: the limits in AWS's
# general reference ("AWS IoT Core message broker and protocol limits and quotas"). They are not API
# operations, so their keys use the pseudo-service ``mqtt``. Simulated MQTT devices connect at most
# ``mqtt:Connect`` per second; requests over MQTT are paced by their API operation's key (for example
# ``iot-jobs-data:UpdateJobExecution``), which the emulator also enforces on them.
MQTT_QUOTAS: dict[str, float] = {
    "mqtt:Connect": 500.0,  # Connect requests per second per account
    "mqtt:Subscribe": 200.0,  # Subscriptions per second per account, counted by topic filter
    "mqtt:Publish": 20000.0,  # Inbound publish requests per second per account
}
DEFAULT_QUOTAS.update(MQTT_QUOTAS)
MQTT_CONNECTS_PER_CLIENT_ID = 1.0  # Connect requests per second per client ID
MQTT_PUBLISHES_PER_CONNECTION = 100.0  # Publish requests per second per connection
MQTT_SUBSCRIPTIONS_PER_SESSION = 50
MQTT_TOPIC_FILTERS_PER_SUBSCRIBE = 8

# Operations not in the table are paced per service with these rates.
SERVICE_DEFAULTS: dict[str, float] = {
    "iot": 10.0,
    "iot-data": 100.0,
    "iot-jobs-data": 200.0,
    "s3": 3500.0,
    "iam": 20.0,
    "sts": 50.0,
    "mqtt": 100.0,
}


def operation_key(service: str, operation: str) -> str:
    """The table key of one API operation, for example ``iot:CreateThing``."""
    return f"{service}:{operation}"


def rate_for(key: str, table: Mapping[str, float] | None = None) -> float:
    """The TPS for ``key`` from ``table`` (default: :data:`DEFAULT_QUOTAS`), else its service default."""
    table = DEFAULT_QUOTAS if table is None else table
    if key in table:
        return table[key]
    service = key.split(":", 1)[0]
    if f"{service}:*" in table:
        return table[f"{service}:*"]
    return SERVICE_DEFAULTS.get(service, 10.0)


def parse_overrides(items: Iterable[str]) -> dict[str, float]:
    """Parse ``service:Operation=TPS`` items (also ``service:*=TPS``) into a table of overrides.

    Raises ``ValueError`` naming the bad item, so callers can turn it into a usage error.
    """
    result: dict[str, float] = {}
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or ":" not in key or not key.split(":", 1)[1]:
            raise ValueError(f"quota override {raw!r} is not of the form service:Operation=TPS")
        try:
            tps = float(value)
        except ValueError:
            raise ValueError(f"quota override {raw!r}: {value!r} is not a number") from None
        if not (tps > 0 and math.isfinite(tps)):
            raise ValueError(f"quota override {raw!r}: the rate must be a positive, finite number")
        result[key] = tps
    return result


def merged(overrides: Mapping[str, float] | None = None) -> dict[str, float]:
    """The default table with ``overrides`` applied on top.

    A service wildcard (``iot:*``) replaces every default of that service, and an exact key
    (``iot:CreateThing``) always wins over a wildcard, whichever was given last.
    """
    table = dict(DEFAULT_QUOTAS)
    if not overrides:
        return table
    for key, tps in overrides.items():
        service, _, operation = key.partition(":")
        if operation == "*":
            for default_key in DEFAULT_QUOTAS:
                if default_key.startswith(f"{service}:") and default_key not in overrides:
                    table[default_key] = tps
    table.update(overrides)
    return table
