"""Account-wide settings a cleanup puts back: fleet indexing, package configuration, logging options.

Provisioning records, in the fleet's state (:mod:`iotfleet.fleet.fleet_state`, an object in the fleet's
bucket), each account-wide setting as it was before iotfleet first changed it. Cleanup restores exactly
that, with one exception, because these settings are shared by every iotfleet fleet of the account:

* **Another iotfleet fleet still exists.** Restoring would break it (its dynamic groups and version queries
  need the indexing iotfleet turned on; its jobs need package configuration). So the setting is left as it
  is and the record is *handed over*: written into the remaining fleet's state (unless that one holds an
  older record), and the last fleet cleaned up restores what was there before iotfleet. Package
  configuration, which names one role, is switched to the remaining fleet's role, since this fleet's role
  is about to be deleted.
* **Someone changed it since** (package configuration now names a role that is not this fleet's): it is
  left alone and reported as skipped.

The record lives in the bucket, so the bucket is deleted only after every restore succeeded; a bucket whose
record still has work to do is kept and the plan says why.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import ClientError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import is_error
from iotfleet.fleet import indexing, resources, roles, storage
from iotfleet.fleet.cleanup.kinds import ACCOUNT_SETTING, ALL, PACKAGE_CONFIGURATION
from iotfleet.fleet.cleanup.scan import Skipped
from iotfleet.fleet.fleet_state import FleetState, read_state, write_state
from iotfleet.fleet.ownership import FLEET_TAG
from iotfleet.fleet.packages.configuration import get_configuration

INDEXING = "fleet indexing configuration"
LOGGING = "logging options"
PACKAGES = "package configuration"

RESTORE = "restore"
HAND_OVER = "hand over"
NOTHING = "nothing to do"

_INDEXING_MODES = (
    "thingIndexingMode",
    "thingConnectivityIndexingMode",
    "deviceDefenderIndexingMode",
    "namedShadowIndexingMode",
)


@dataclass(frozen=True)
class Heir:
    """The iotfleet fleet that takes over this fleet's record of a setting, and its bucket."""

    fleet: str
    bucket: str


@dataclass(frozen=True)
class SettingChange:
    """One account-wide setting: what it is now, what it becomes, and why."""

    kind: str
    name: str
    action: str
    current: Any
    target: Any
    reason: str
    heir: Heir | None = None
    record: FleetState | None = field(default=None, compare=False)

    @property
    def needed(self) -> bool:
        return self.action != NOTHING

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "kind": self.kind,
            "name": self.name,
            "action": self.action,
            "current": self.current,
            "target": self.target,
            "reason": self.reason,
        }
        if self.heir is not None:
            data["heir"] = {"fleet": self.heir.fleet, "bucket": self.heir.bucket}
        return data


@dataclass
class SettingsPlan:
    """The settings part of a cleanup plan, and what it means for the bucket and roles."""

    package_configuration: list[SettingChange] = field(default_factory=list)
    account: list[SettingChange] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    # Role ARN -> why it must stay (a setting left in place still names it).
    roles_in_use: dict[str, str] = field(default_factory=dict)
    # Why the fleet's bucket must stay (its state record still has work to do), or None.
    keep_bucket: str | None = None


def _indexing_view(config: dict[str, Any] | None) -> dict[str, Any]:
    """A configuration reduced to what UpdateIndexingConfiguration sets, for comparison."""
    config = config or {}
    view: dict[str, Any] = {key: config.get(key) or "OFF" for key in _INDEXING_MODES}
    view["customFields"] = sorted(json.dumps(f, sort_keys=True) for f in config.get("customFields") or [])
    filter_ = {key: value for key, value in (config.get("filter") or {}).items() if value}
    view["filter"] = json.dumps(filter_, sort_keys=True)
    return view


def _package_view(config: dict[str, Any] | None) -> dict[str, Any]:
    config = config or {}
    enabled = bool(config.get("enabled"))
    return {"enabled": enabled, "roleArn": config.get("roleArn") if enabled else None}


def _logging_options(ctx: AwsContext) -> dict[str, Any]:
    try:
        answer = ctx.iot.get_v2_logging_options()
    except ClientError as err:
        if is_error(err, "NotConfiguredException"):
            return {}
        raise
    return {key: answer[key] for key in ("roleArn", "defaultLogLevel", "disableAllLogs") if key in answer}


def _is_fleet_role(arn: str | None, fleet: str, purpose: str) -> bool:
    return bool(arn) and str(arn).endswith("/" + roles.role_name(fleet, purpose))


def plan_settings(
    ctx: AwsContext,
    fleet: str,
    chosen: frozenset[str],
    other_fleets: Iterable[str],
    foreign_dynamic_groups: Iterable[str] = (),
) -> SettingsPlan:
    """What to do with each setting the fleet's state records (read calls only)."""
    plan = SettingsPlan()
    whole = ALL in chosen
    if not chosen & {ALL, "packages", "storage", "roles"}:
        return plan
    candidates = storage.list_candidates(ctx)
    ours = [c.name for c in candidates if c.tags.get(FLEET_TAG) == fleet]
    state = read_state(ctx, ours[0], fleet) if ours else FleetState(fleet)
    buckets_of_others: dict[str, str] = {}
    for candidate in candidates:
        owner = candidate.tags.get(FLEET_TAG)
        if owner and owner != fleet:
            buckets_of_others.setdefault(owner, candidate.name)
    remaining = sorted({*other_fleets, *buckets_of_others} - {fleet})
    heir = next(
        (Heir(name, buckets_of_others[name]) for name in remaining if name in buckets_of_others), None
    )

    package_now = _package_view(get_configuration(ctx))
    package_change: SettingChange | None = None
    if state.package_configuration_enabled_by_iotfleet:
        package_change, skip = _plan_package_configuration(
            ctx, fleet, state, package_now, remaining, heir, buckets_of_others
        )
        _add(plan, plan.package_configuration, package_change, skip, "packages" in chosen)
    if package_now["enabled"] and _is_fleet_role(package_now["roleArn"], fleet, roles.PACKAGE_CONFIG):
        changing = package_change is not None and package_change.needed and "packages" in chosen
        if not changing:
            plan.roles_in_use[str(package_now["roleArn"])] = (
                "the account's package configuration still uses it"
                + ("" if "packages" in chosen else "; add --only packages")
            )
    if state.indexing_previous is not None:
        change, skip = _plan_indexing(ctx, state, remaining, heir, list(foreign_dynamic_groups))
        _add(plan, plan.account, change, skip, whole)
    if state.logging_previous is not None:
        change, skip = _plan_logging(ctx, state, remaining, heir)
        _add(plan, plan.account, change, skip, whole)

    unselected = [
        c.name
        for c in (*plan.package_configuration, *plan.account)
        if c.needed
        and (
            (c.kind == ACCOUNT_SETTING and not whole)
            or (c.kind == PACKAGE_CONFIGURATION and "packages" not in chosen)
        )
    ]
    if unselected:
        plan.keep_bucket = (
            f"holds the fleet's record of account settings still to put back ({', '.join(unselected)}); "
            "run a whole cleanup (--only all)"
        )
    elif plan.skipped:
        plan.keep_bucket = (
            "holds the fleet's record of account settings this cleanup cannot put back yet "
            f"({', '.join(s.name for s in plan.skipped)}); see why they are skipped"
        )
    # Changes that this run does not make are not part of the plan, only a reason to keep the bucket.
    plan.package_configuration = [c for c in plan.package_configuration if "packages" in chosen]
    plan.account = [c for c in plan.account if whole]
    return plan


def _add(
    plan: SettingsPlan,
    into: list[SettingChange],
    change: SettingChange | None,
    skip: Skipped | None,
    selected: bool,
) -> None:
    if change is not None:
        into.append(change)
    if skip is not None and selected:
        plan.skipped.append(skip)


def _plan_indexing(
    ctx: AwsContext, state: FleetState, remaining: list[str], heir: Heir | None, foreign_dynamic: list[str]
) -> tuple[SettingChange | None, Skipped | None]:
    current = indexing.read_configuration(ctx)
    previous = state.indexing_previous
    shown_current = {k: v for k, v in current.items() if k != "managedFields"}
    if remaining:
        return _hand_over(ACCOUNT_SETTING, INDEXING, shown_current, previous, state, remaining, heir)
    if _indexing_view(current) == _indexing_view(previous):
        return SettingChange(
            ACCOUNT_SETTING, INDEXING, NOTHING, shown_current, previous, "already as before iotfleet"
        ), None
    turning_off = (previous or {}).get("thingIndexingMode", "OFF") == "OFF"
    if turning_off and foreign_dynamic:
        return None, Skipped(
            ACCOUNT_SETTING,
            INDEXING,
            "AWS refuses to turn thing indexing off while dynamic groups exist, and these are not the fleet's: "
            + ", ".join(sorted(foreign_dynamic)[:3]),
        )
    return SettingChange(
        ACCOUNT_SETTING, INDEXING, RESTORE, shown_current, previous, "put back as before iotfleet"
    ), None


def _role_fleet(arn: str) -> str | None:
    """The iotfleet fleet whose package role ``arn`` names (``iotfleet-<fleet>-package-config``), if any."""
    name = arn.rsplit("/", 1)[-1]
    prefix, suffix = "iotfleet-", f"-{roles.PACKAGE_CONFIG}"
    if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix):
        return name[len(prefix) : -len(suffix)]
    return None


def _plan_package_configuration(
    ctx: AwsContext,
    fleet: str,
    state: FleetState,
    current: dict[str, Any],
    remaining: list[str],
    heir: Heir | None,
    buckets_of_others: dict[str, str],
) -> tuple[SettingChange | None, Skipped | None]:
    previous = _package_view(state.package_configuration_previous or {"enabled": False})
    role = current["roleArn"] if current["enabled"] else None
    if role and not _is_fleet_role(role, fleet, roles.PACKAGE_CONFIG):
        owner = _role_fleet(str(role))
        if owner and owner != fleet and owner in buckets_of_others:
            # Another iotfleet fleet switched it to its own role: it keeps it, and gets our older record.
            return SettingChange(
                PACKAGE_CONFIGURATION, PACKAGES, HAND_OVER, current, current,
                f"left as it is: it uses iotfleet fleet {owner!r}'s role; the record of the configuration "
                f"before iotfleet goes to that fleet",
                Heir(owner, buckets_of_others[owner]), state,
            ), None  # fmt: skip
        return None, Skipped(
            PACKAGE_CONFIGURATION, PACKAGES, f"it now uses role {role}, not this fleet's; left as it is"
        )
    if remaining:
        if heir is None:
            return None, Skipped(
                PACKAGE_CONFIGURATION,
                PACKAGES,
                f"iotfleet fleet(s) {', '.join(remaining)} still exist, and none has a bucket to keep the record; "
                f"before iotfleet it was {json.dumps(previous)}",
            )
        target = current
        reason = f"left as it is: iotfleet fleet(s) {', '.join(remaining)} still exist"
        if role:
            heir_role = resources.owned_role_arn(ctx, heir.fleet, roles.PACKAGE_CONFIG)
            if heir_role is None:
                return None, Skipped(
                    PACKAGE_CONFIGURATION,
                    PACKAGES,
                    f"it uses this fleet's role, and iotfleet fleet {heir.fleet!r}, which still exists, has no "
                    "package role to take over; left as it is",
                )
            target = {"enabled": True, "roleArn": heir_role}
            reason = f"iotfleet fleet(s) {', '.join(remaining)} still use it: switched to fleet {heir.fleet!r}'s role"
        return SettingChange(
            PACKAGE_CONFIGURATION, PACKAGES, HAND_OVER, current, target,
            f"{reason}; the record of the configuration before iotfleet goes to fleet {heir.fleet!r}",
            heir, state,
        ), None  # fmt: skip
    if current == previous:
        return SettingChange(
            PACKAGE_CONFIGURATION, PACKAGES, NOTHING, current, previous, "already as before iotfleet"
        ), None
    # AWS keeps the role ARN of a disabled configuration, and an update that names none leaves it there. So
    # the role the configuration had before iotfleet goes back too; without one, the ARN stays as it is.
    earlier_role = (state.package_configuration_previous or {}).get("roleArn")
    if earlier_role and _is_fleet_role(earlier_role, fleet, roles.PACKAGE_CONFIG):
        earlier_role = None
    target = {**previous, "roleArn": earlier_role} if earlier_role else previous
    reason = "put back as before iotfleet"
    if not earlier_role and not previous["enabled"]:
        reason += " (disabled; AWS keeps the last role ARN a disabled configuration had, so it may still name it)"
    return SettingChange(PACKAGE_CONFIGURATION, PACKAGES, RESTORE, current, target, reason), None


def _plan_logging(
    ctx: AwsContext, state: FleetState, remaining: list[str], heir: Heir | None
) -> tuple[SettingChange | None, Skipped | None]:
    current = _logging_options(ctx)
    previous = state.logging_previous
    if remaining:
        return _hand_over(ACCOUNT_SETTING, LOGGING, current, previous, state, remaining, heir)
    if current == previous:
        return SettingChange(
            ACCOUNT_SETTING, LOGGING, NOTHING, current, previous, "already as before iotfleet"
        ), None
    return SettingChange(
        ACCOUNT_SETTING, LOGGING, RESTORE, current, previous, "put back as before iotfleet"
    ), None


def _hand_over(
    kind: str,
    name: str,
    current: Any,
    previous: Any,
    state: FleetState,
    remaining: list[str],
    heir: Heir | None,
) -> tuple[SettingChange | None, Skipped | None]:
    if heir is None:
        return None, Skipped(
            kind,
            name,
            f"iotfleet fleet(s) {', '.join(remaining)} still use it, and none has a bucket to keep the record; "
            f"before iotfleet it was {json.dumps(previous, default=str)}",
        )
    return SettingChange(
        kind, name, HAND_OVER, current, current,
        f"left as it is: iotfleet fleet(s) {', '.join(remaining)} still use it; the record of the value before "
        f"iotfleet goes to fleet {heir.fleet!r}, whose cleanup puts it back",
        heir, state,
    ), None  # fmt: skip


# --- applying --------------------------------------------------------------------------------------------------


def restore_setting(ctx: AwsContext, change: SettingChange) -> None:
    """Make ``change``: put the setting back, or hand the record over (and switch the package role)."""
    if change.action == NOTHING:
        return
    if change.action == RESTORE:
        if change.name == INDEXING:
            indexing.restore_configuration(ctx, copy.deepcopy(change.target))
        elif change.name == PACKAGES:
            _set_package_configuration(ctx, change.target)
        elif change.name == LOGGING:
            ctx.iot.set_v2_logging_options(**change.target)
        return
    if change.action == HAND_OVER:
        assert change.heir is not None and change.record is not None
        if change.name == PACKAGES and change.target != change.current:
            _set_package_configuration(ctx, change.target)
        _hand_record_over(ctx, change.name, change.record, change.heir)
        return
    raise ValueError(f"unknown setting action {change.action!r}")


def _set_package_configuration(ctx: AwsContext, target: dict[str, Any]) -> None:
    update: dict[str, Any] = {"enabled": bool(target.get("enabled"))}
    if target.get("roleArn"):
        update["roleArn"] = target["roleArn"]
    ctx.iot.update_package_configuration(versionUpdateByJobsConfig=update)


def _earlier(ours: str | None, theirs: str | None) -> bool:
    """True when our record was taken before theirs, or in the same second (ISO timestamps compare as text).

    A tie goes to the fleet handing over: it is being cleaned up first, and its record may be the original.
    """
    return theirs is None or (ours is not None and ours <= theirs)


def _derived_from(ours: FleetState, theirs: FleetState) -> bool:
    """True when the heir's recorded package configuration is the one this fleet set (it names our role)."""
    previous = theirs.package_configuration_previous or {}
    return _is_fleet_role(previous.get("roleArn"), ours.fleet, roles.PACKAGE_CONFIG)


def _hand_record_over(ctx: AwsContext, name: str, ours: FleetState, heir: Heir) -> None:
    """Write this fleet's record of ``name`` into the heir's state, unless the heir's record is older."""
    theirs = read_state(ctx, heir.bucket, heir.fleet)
    updated = theirs
    if name == INDEXING and (
        theirs.indexing_previous is None or _earlier(ours.indexing_recorded_at, theirs.indexing_recorded_at)
    ):
        updated = replace(
            theirs,
            indexing_previous=copy.deepcopy(ours.indexing_previous),
            indexing_changes=list(ours.indexing_changes),
            indexing_recorded_at=ours.indexing_recorded_at,
        )
    elif name == PACKAGES and (
        not theirs.package_configuration_enabled_by_iotfleet
        or _derived_from(ours, theirs)
        or _earlier(ours.package_configuration_recorded_at, theirs.package_configuration_recorded_at)
    ):
        updated = replace(
            theirs,
            package_configuration_previous=copy.deepcopy(ours.package_configuration_previous),
            package_configuration_enabled_by_iotfleet=True,
            package_configuration_recorded_at=ours.package_configuration_recorded_at,
        )
    elif name == LOGGING and theirs.logging_previous is None:
        updated = replace(theirs, logging_previous=copy.deepcopy(ours.logging_previous))
    if updated is not theirs:
        write_state(ctx, heir.bucket, updated)
