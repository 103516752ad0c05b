"""One jobs engine per (account, region) of a running emulator, kept in step with its clock and registry.

* The engine is created on first use, with an :class:`EmulatorRegistry` and the emulator's clock.
* When the clock jumps (``advance``), every engine processes what fell due, under the global lock.
* ``group_membership_changed`` events and deleted thing groups reach the continuous jobs;
  ``thing_deleted`` reaches every job (the thing's pending executions end REMOVED).
* Jobs and job templates answer the tagging operations through a tag holder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import ResourceNotFoundException
from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_DELETED
from iotfleet.emulator.extension import Call, after, on_state_init
from iotfleet.emulator.jobs.emulator_registry import EmulatorRegistry
from iotfleet.emulator.jobs.engine import JobsEngine
from iotfleet.emulator.jobs.registry import arn
from iotfleet.emulator.tagging import tag_holder

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "jobs"


def engine(state: EmulatorState, account_id: str, region: str) -> JobsEngine:
    """The jobs engine of (account, region), created on first use."""

    def create() -> JobsEngine:
        return JobsEngine(EmulatorRegistry(state, account_id, region), state.clock.now)

    return state.store(STORE, account_id, region, create)


def engine_for(call: Call) -> JobsEngine:
    """The engine a call is for, with presigned URLs pointed at the address the caller used."""
    found = engine(call.state, call.account_id, call.region)
    registry = found.registry
    if isinstance(registry, EmulatorRegistry):
        registry.base_url = call.base_url
    return found


def _existing(state: EmulatorState, account_id: str, region: str) -> JobsEngine | None:
    for acct, reg, found in state.stores(STORE):
        if acct == account_id and reg == region:
            return found  # type: ignore[no-any-return]
    return None


@on_state_init
def _follow_the_emulator(state: EmulatorState) -> None:
    def on_advance(now: float) -> None:
        for _, _, found in state.stores(STORE):
            found.advance(now)

    def on_membership(account_id: str, region: str, thing_name: str, **_: Any) -> None:
        found = _existing(state, account_id, region)
        if found is not None:
            found.thing_membership_changed(thing_name)

    def on_deleted(account_id: str, region: str, thing_name: str, **_: Any) -> None:
        found = _existing(state, account_id, region)
        if found is not None:
            found.thing_deleted(thing_name)

    state.clock.on_advance(on_advance)
    state.events.subscribe(GROUP_MEMBERSHIP_CHANGED, on_membership)
    state.events.subscribe(THING_DELETED, on_deleted)


@after("iot", "DeleteThingGroup")
@after("iot", "DeleteDynamicThingGroup")
def _group_deleted(call: Call, params: dict[str, Any], response: dict[str, Any]) -> None:
    found = _existing(call.state, call.account_id, call.region)
    if found is not None:
        found.reconcile_memberships()


@tag_holder
def _job_tags(state: EmulatorState, account_id: str, region: str, resource_arn: str) -> dict[str, str] | None:
    prefix = arn(region, account_id, "")
    if not resource_arn.startswith(prefix):
        return None
    kind, _, name = resource_arn[len(prefix) :].partition("/")
    if kind not in ("job", "jobtemplate"):
        return None
    jobs = engine(state, account_id, region)
    try:
        if kind == "job":
            return jobs.get_job(name).tags
        return jobs.templates.get(name).tags
    except ResourceNotFoundException:
        raise ResourceNotFoundException(f"No job or job template has the ARN {resource_arn}") from None
