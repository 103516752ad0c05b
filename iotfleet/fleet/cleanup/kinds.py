"""The words of cleanup: which ``--only`` kinds exist, which resource kinds they cover, and in which order.

``--only`` names what a person thinks of (things, groups, jobs, ...); a kind covers one or more steps, and the
steps run in dependency order: what refers to something is deleted before what it refers to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.flag_values import split_values

ALL = "all"
ONLY_KINDS = ("things", "groups", "jobs", "packages", "storage", "roles", "identity", "types")

# Resource kinds, as the plan and the report name them.
JOB = "job"
JOB_TEMPLATE = "job template"
ROLLOUT_RECORD = "rollout record"
DYNAMIC_GROUP = "dynamic group"
THING = "thing"
STATIC_GROUP = "static group"
PACKAGE = "package"
PACKAGE_CONFIGURATION = "package configuration"
BUCKET = "bucket"
ROLE = "role"
THING_TYPE = "thing type"
ACCOUNT_SETTING = "account setting"
CERTIFICATE = "certificate"
POLICY = "IoT policy"
CA_CERTIFICATE = "CA certificate"
KEY_STORE = "key store"


@dataclass(frozen=True)
class Step:
    """One step of a cleanup: the resource kinds it deletes, what it does to each, and the ``--only`` kind."""

    key: str
    kinds: tuple[str, ...]
    only: str
    action: str


STEPS: tuple[Step, ...] = (
    Step("jobs", (JOB, JOB_TEMPLATE), "jobs", "cancel with force, then delete; delete job templates"),
    # A rollout's jobs go with the jobs; its record (in the fleet's bucket) goes with them.
    Step("rollouts", (ROLLOUT_RECORD,), "jobs", "delete every version of the record and the wave membership"),
    Step("dynamic-groups", (DYNAMIC_GROUP,), "groups", "delete"),
    # A thing's certificates go with it: detached from it first, they could not be found again.
    Step("certificates", (CERTIFICATE,), "things", "detach from the fleet's things; deactivate; delete"),
    Step("things", (THING,), "things", "detach principals; delete classic and named shadows; delete"),
    Step("static-groups", (STATIC_GROUP,), "groups", "delete, children before parents"),
    Step("packages", (PACKAGE,), "packages", "unset the default version; delete versions; delete"),
    Step("package-configuration", (PACKAGE_CONFIGURATION,), "packages", "put back as before iotfleet"),
    # Before the bucket: the fleet's record of what the settings were lives in the bucket.
    Step("account-settings", (ACCOUNT_SETTING,), ALL, "indexing and logging put back as before iotfleet"),
    Step("bucket", (BUCKET,), "storage", "delete every object version and delete marker; delete"),
    Step("roles", (ROLE,), "roles", "delete inline and detach managed policies; delete"),
    Step("policy", (POLICY,), "identity", "delete its other versions; delete"),
    Step("ca-certificate", (CA_CERTIFICATE,), "identity", "deactivate; delete"),
    # Last of the identity: the keys go only once AWS holds none of the fleet's certificates.
    Step("key-store", (KEY_STORE,), "identity", "delete the local keys and certificates (--keep-keys keeps them)"),
    # Deprecated before step 1, so that AWS's 5-minute wait runs while the other steps do.
    Step("thing-types", (THING_TYPE,), "types", "deprecated first; deleted once AWS allows (5 minutes)"),
)

STEP_BY_KEY = {step.key: step for step in STEPS}
STEP_OF_KIND = {kind: step for step in STEPS for kind in step.kinds}


def parse_only(values: Iterable[str] | str | None, param: str = "--only") -> frozenset[str]:
    """The ``--only`` kinds chosen (``all``, or no ``--only`` at all, means every kind and the account settings).

    Accepts repeated values and comma-separated lists. An unknown kind, or a value that names no kind (``""``,
    ``","``), is a usage error naming the valid ones: an empty list must never read as "everything".
    """
    if values is None:
        return frozenset((*ONLY_KINDS, ALL))
    chosen: set[str] = set()
    for word in split_values(values, param, "kind"):
        kind = word.lower()
        if kind == ALL:
            chosen.update((*ONLY_KINDS, ALL))
        elif kind in ONLY_KINDS:
            chosen.add(kind)
        else:
            raise UsageError(f"unknown kind {word!r}: choose from {', '.join((*ONLY_KINDS, ALL))}", param)
    if not chosen:
        raise UsageError(f"{param} names no kind: choose from {', '.join((*ONLY_KINDS, ALL))}", param)
    if chosen.issuperset(ONLY_KINDS):
        # Every kind chosen one by one is a whole cleanup, account settings included.
        chosen.update((*ONLY_KINDS, ALL))
    return frozenset(chosen)


def steps_for(only: frozenset[str]) -> list[Step]:
    """The steps ``only`` selects, in dependency order."""
    return [step for step in STEPS if step.only in only]
