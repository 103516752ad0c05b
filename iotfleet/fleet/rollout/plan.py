"""Planning a rollout (reads only) and starting it (the record, written once).

:func:`plan_rollout` checks everything before anything is created: the spec (no call), the fleet's bucket and
that the rollout id is free, the package version (it must be deployable) and the jobs role, the target and
health queries (locally and against the indexing configuration), the target's devices, the version to roll
back to (deployable too). It chooses the waves and builds the exact CreateJob request every wave will send.
:func:`start_rollout` writes the record; the controller (:mod:`.controller`) creates the jobs.

Devices of the target that already report the new version are left out (they need nothing), and so not
rolled back either. The version to roll back to is ``--rollback-to``, else the version most of the other
devices report now.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.groups import check_query, indexing_configuration
from iotfleet.fleet.jobs.checks import check_tags
from iotfleet.fleet.jobs.create import JobSpec, check_job_spec, prepare_job, slug
from iotfleet.fleet.jobs.settings import JobSettings
from iotfleet.fleet.ownership import tag_dict
from iotfleet.fleet.rollout.names import ROLLOUT_TAG, WAVE_KIND, rollback_job_id, wave_group, wave_job_id
from iotfleet.fleet.rollout.record import RUNNING, RolloutRecord, RolloutStore, WaveRecord
from iotfleet.fleet.rollout.spec import ROLLOUT_ID, RolloutSpec, percent_label
from iotfleet.fleet.rollout.target import check_index_query, resolve_target, wave_health_query
from iotfleet.fleet.rollout.waves import PlannedWave, TargetDevice, choose_waves, empty_waves

# What the CreateJob request of a wave gets per wave; the rest is the same for every wave.
PER_WAVE_FIELDS = ("jobId", "targets", "tags", "description")


def default_rollout_id(package: str, version: str, now: dt.datetime | None = None) -> str:
    """``<package>-<version>-<yyyymmddThhmm>-<4 hex>``, at most 40 characters (the package cut to 12, the version
    to 8): e.g. ``SedanVehicle-1_1_0-20270131T2200-a3f9``."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    text = f"{slug(package, 12)}-{slug(version, 8)}-{moment.strftime('%Y%m%dT%H%M')}-{secrets.token_hex(2)}"
    return ROLLOUT_ID.check(text)


def default_seed(rollout_id: str) -> int:
    """A seed of the rollout's own, so two rollouts of one target do not pick the same canary."""
    return int(hashlib.sha256(rollout_id.encode()).hexdigest()[:8], 16)


@dataclass
class RolloutPlan:
    """What starting the rollout will record, and what each wave will send."""

    spec: RolloutSpec
    rollout_id: str
    seed: int
    target: list[TargetDevice]
    excluded: list[str]
    waves: list[PlannedWave]
    wave_request: dict[str, Any]
    wave_tags: list[dict[str, str]]
    rollback_version: str | None
    rollback_request: dict[str, Any] | None
    versions_now: dict[str, int]
    bucket: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rolloutId": self.rollout_id,
            "package": self.spec.package,
            "version": self.spec.version,
            "seed": self.seed,
            "targetDevices": len(self.target),
            "excluded": len(self.excluded),
            "versionsNow": self.versions_now,
            "rollbackVersion": self.rollback_version,
            "gate": self.spec.gate.as_dict(),
            "approve": self.spec.approve,
            "waves": [
                {"number": w.number, "percent": w.percent, "devices": len(w.devices), "strata": w.strata,
                 "jobId": wave_job_id(self.rollout_id, w.number), "group": wave_group(self.rollout_id, w.number)}
                for w in self.waves
            ],  # fmt: skip
            "waveRequest": self.wave_request,
            "rollbackRequest": self.rollback_request,
            "notes": self.notes,
        }


def _template(request: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in request.items() if key not in PER_WAVE_FIELDS}


def plan_rollout(ctx: AwsContext, spec: RolloutSpec) -> RolloutPlan:
    """Check everything and choose the waves (see the module docstring); nothing is created."""
    spec = spec.checked()
    user_tags = check_tags(spec.tags)
    rollout_id = spec.rollout_id or default_rollout_id(spec.package, spec.version)
    wave_spec = JobSpec(
        fleet=spec.fleet, package=spec.package, version=spec.version, settings=spec.settings,
        job_id=wave_job_id(rollout_id, 1), description=spec.description, tags=user_tags, kind=WAVE_KIND,
        presign_role_arn=spec.presign_role_arn,
    )  # fmt: skip
    checked = check_job_spec(wave_spec, require_targets=False)
    health = None
    if spec.gate.health_query is not None:
        health = wave_health_query(spec.gate.health_query, wave_group(rollout_id, 1), spec.package, spec.version)
        check_query(health, param="--health-query")  # locally first: a bad query makes no call at all
    if spec.query is not None:
        check_query(spec.query, param="--query")
    store = RolloutStore(ctx, spec.fleet)
    if store.exists(rollout_id):
        raise UsageError(f"rollout {rollout_id} already exists: resume it or choose another --rollout-id",
                         "--rollout-id")  # fmt: skip
    if health is not None:
        check_index_query(ctx, health, "--health-query", indexing_configuration(ctx))
    placeholder = f"arn:{ctx.iot.meta.partition}:iot:{ctx.region}:{ctx.account_id}:thinggroup/" + wave_group(
        rollout_id, 1
    )
    prepared = prepare_job(ctx, checked, targets={"wave": placeholder})
    devices = resolve_target(ctx, spec.package, groups=spec.groups, query=spec.query)
    excluded = [d.name for d in devices if d.version == spec.version]
    candidates = [d for d in devices if d.version != spec.version]
    versions_now = dict(Counter(d.version or "none" for d in devices).most_common())
    if not candidates:
        detail = f"all {len(devices)} already report {spec.version}" if devices else "it holds no device"
        raise UsageError(f"the target has nothing to update: {detail}", "--query" if spec.query else "--group")
    seed = spec.seed if spec.seed is not None else default_seed(rollout_id)
    waves = choose_waves(candidates, spec.waves, seed)
    notes = [f"{len(excluded)} device(s) already report {spec.version}: left out"] if excluded else []
    dropped = empty_waves(len(candidates), spec.waves)
    if dropped:
        notes.append(
            f"wave(s) {', '.join(percent_label(p) for p in dropped)} would hold no device of {len(candidates)}: "
            "left out"
        )
    rollback_version, rollback_request = _rollback(ctx, spec, rollout_id, candidates, user_tags)
    if rollback_version is not None:
        notes.append(f"a failed gate rolls the updated devices back to {rollback_version}")
    wave_tags = [{"Key": k, "Value": v} for k, v in {**tag_dict(checked.tags), ROLLOUT_TAG: rollout_id}.items()]
    return RolloutPlan(
        spec, rollout_id, seed, devices, excluded, waves, _template(prepared.request), wave_tags,
        rollback_version, rollback_request, versions_now, store.bucket, notes + prepared.notes,
    )  # fmt: skip


def _rollback(
    ctx: AwsContext, spec: RolloutSpec, rollout_id: str, devices: list[TargetDevice], tags: dict[str, str]
) -> tuple[str | None, dict[str, Any] | None]:
    """The version to roll back to and the CreateJob request of the rollback (checked: it is deployable)."""
    if not spec.rollback:
        return None, None
    version = spec.rollback_to
    if version is None:
        reported = Counter(d.version for d in devices if d.version is not None)
        if not reported:
            raise UsageError(
                "the target's devices report no version of the package, so there is nothing to roll back to: "
                "give --rollback-to VERSION or --no-rollback",
                "--rollback-to",
            )
        version = sorted(reported.items(), key=lambda item: (-item[1], item[0]))[0][0]
    settings = JobSettings(
        rollout=spec.settings.rollout,
        timeout_minutes=spec.settings.timeout_minutes,
        retries=spec.settings.retries,
        presigned_expiry_seconds=spec.settings.presigned_expiry_seconds,
    )
    rollback_spec = JobSpec(
        fleet=spec.fleet, package=spec.package, version=version, settings=settings, kind="rollback",
        job_id=rollback_job_id(rollout_id), description=f"Rollout {rollout_id}: roll back to {version}",
        presign_role_arn=spec.presign_role_arn, tags=tags,
    )  # fmt: skip
    checked = check_job_spec(rollback_spec, require_targets=False)
    prepared = prepare_job(ctx, checked, targets={"rollback": "placeholder"})
    request = _template(prepared.request)
    request["tags"] = [*checked.tags, {"Key": ROLLOUT_TAG, "Value": rollout_id}]
    request["description"] = prepared.request["description"]
    return version, request


def start_rollout(ctx: AwsContext, plan: RolloutPlan, now: float) -> RolloutRecord:
    """Write the record and the wave membership; the rollout is RUNNING with no job yet."""
    spec = plan.spec
    record = RolloutRecord(
        rollout_id=plan.rollout_id, fleet=spec.fleet, package=spec.package, version=spec.version,
        target={"groups": list(spec.groups), "query": spec.query}, gate=spec.gate,
        waves=[
            WaveRecord(w.number, w.percent, len(w.devices), w.strata, wave_group(plan.rollout_id, w.number),
                       wave_job_id(plan.rollout_id, w.number))
            for w in plan.waves
        ],
        wave_request=plan.wave_request, wave_tags=plan.wave_tags, seed=plan.seed, approve=spec.approve,
        rollback_version=plan.rollback_version, rollback_request=plan.rollback_request, state=RUNNING,
        created_at=now, updated_at=now, excluded=len(plan.excluded), description=spec.description,
        notes=list(plan.notes),
    )  # fmt: skip
    record.event(
        now, "started",
        f"{spec.package} {spec.version} to {record.devices} device(s) in {len(record.waves)} wave(s)",
    )  # fmt: skip
    membership = {w.number: list(w.devices) for w in plan.waves}
    RolloutStore(ctx, spec.fleet, plan.bucket).create(record, membership, plan.excluded)
    return record
