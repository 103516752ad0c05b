"""The rules of a rollout that need no AWS: parsing waves, gates and bake times; deciding a gate from counters
(pass, wait, fail the moment a condition can no longer hold); choosing waves deterministically, seeded and
stratified by country and thing type."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.explore.statistics import ProcessCounts
from iotfleet.fleet.rollout.gates import FAILED, PASSED, WAITING, WaveObservation, evaluate
from iotfleet.fleet.rollout.spec import Condition, GateSpec, RolloutSpec, parse_duration, parse_waves
from iotfleet.fleet.rollout.waves import TargetDevice, choose_waves, wave_sizes


@pytest.mark.parametrize(
    ("text", "waves"),
    [("1%,10%,50%,100%", (1.0, 10.0, 50.0, 100.0)), ("5, 100", (5.0, 100.0)), ("100%", (100.0,)),
     ("0.5%,100%", (0.5, 100.0))],
)  # fmt: skip
def test_waves_are_cumulative_percentages(text: str, waves: tuple[float, ...]) -> None:
    assert parse_waves(text) == waves


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("10%,5%,100%", "must increase"), ("10%,10%,100%", "must increase"), ("10%,50%", "must be 100%"),
     ("10%,50%,110%", "must be 100%"), ("ten,100%", "not a percentage"), ("0%,100%", "above 0%"), ("", "not a percentage")],
)  # fmt: skip
def test_bad_waves_are_usage_errors_naming_the_flag(text: str, fragment: str) -> None:
    with pytest.raises(UsageError, match=fragment) as caught:
        parse_waves(text)
    assert caught.value.param == "--waves"


def test_gate_conditions_and_durations_parse_and_bad_ones_are_refused() -> None:
    assert [Condition.parse(t).text for t in ("success>=95", "FAILED <= 2%", "timed_out<0.5")] == [
        "success>=95", "failed<=2", "timed_out<0.5"
    ]  # fmt: skip
    for text, fragment in (("uptime>=99", "unknown gate measure"), ("success=>95", "MEASURE OP PERCENT"),
                           ("success>=101", "0 to 100")):  # fmt: skip
        with pytest.raises(UsageError, match=fragment):
            Condition.parse(text)
    assert [parse_duration(t) for t in ("0", "90s", "30m", "2h", "1d", "45")] == [0, 90, 1800, 7200, 86400, 45]
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration("soon")
    with pytest.raises(UsageError, match="at most 7 days"):
        parse_duration("8d")


def test_a_spec_needs_exactly_one_target_and_a_consistent_rollback() -> None:
    base = {"fleet": "lab", "package": "fw", "version": "1.1.0"}
    with pytest.raises(UsageError, match="one of the two"):
        RolloutSpec(**base).checked()
    with pytest.raises(UsageError, match="one of the two"):
        RolloutSpec(**base, groups=("g",), query="thingName:x").checked()
    with pytest.raises(UsageError, match="contradict"):
        RolloutSpec(**base, groups=("g",), rollback=False, rollback_to="1.0.0").checked()
    with pytest.raises(UsageError, match="rollout id"):
        RolloutSpec(**base, groups=("g",), rollout_id="x" * 41).checked()


def seen(wave: int = 20, now: float = 1000.0, ready_at: float | None = None, status: str = "IN_PROGRESS",
         unhealthy: int | None = None, **counts: int) -> WaveObservation:  # fmt: skip
    names = {"queued": "numberOfQueuedThings", "in_progress": "numberOfInProgressThings",
             "succeeded": "numberOfSucceededThings", "failed": "numberOfFailedThings",
             "rejected": "numberOfRejectedThings", "timed_out": "numberOfTimedOutThings",
             "canceled": "numberOfCanceledThings"}  # fmt: skip
    details = {names[key]: value for key, value in counts.items()}
    return WaveObservation(status, ProcessCounts.from_details(details), wave, now, ready_at, unhealthy)


def test_a_gate_fails_the_moment_a_condition_can_no_longer_hold() -> None:
    gate = GateSpec((Condition.parse("success>=95"),))
    # 20 devices: one failure leaves 95% possible (19 of 20), a second does not.
    assert evaluate(gate, seen(succeeded=3, failed=1, queued=16)).decision == WAITING
    verdict = evaluate(gate, seen(succeeded=3, failed=2, queued=15))
    assert verdict.decision == FAILED
    assert "can only end between 15.0% and 90.0%" in verdict.reasons[0]
    assert verdict.figures["conditions"][0]["canStillHold"] is False
    # An upper bound fails as soon as the failures alone are too many.
    gate = GateSpec((Condition.parse("failed<=10"),))
    assert evaluate(gate, seen(failed=2, in_progress=18)).decision == WAITING
    assert evaluate(gate, seen(failed=3, in_progress=17)).decision == FAILED


def test_a_gate_passes_only_after_enough_executed_every_condition_holds_and_the_bake_ran() -> None:
    gate = GateSpec((Condition.parse("success>=95"), Condition.parse("rejected<1")), bake_seconds=600)
    waiting = evaluate(gate, seen(succeeded=19, queued=1))
    assert waiting.decision == WAITING and not waiting.ready  # the whole wave must execute by default
    ready = evaluate(gate, seen(succeeded=19, failed=1))
    assert ready.decision == WAITING and ready.ready and ready.bake_until == 1600.0  # 19 of 20 is exactly 95%
    assert evaluate(gate, seen(succeeded=19, failed=1, now=1599.0, ready_at=1000.0)).decision == WAITING
    passed = evaluate(gate, seen(succeeded=19, failed=1, now=1600.0, ready_at=1000.0))
    assert passed.decision == PASSED and passed.reasons[0] == "success>=95: 95.0%"
    assert evaluate(gate, seen(succeeded=19, rejected=1, now=1600.0, ready_at=1000.0)).decision == FAILED


def test_min_executed_health_and_a_canceled_job() -> None:
    gate = GateSpec((Condition.parse("success>=90"),), min_executed=5, health_query="x:y", max_unhealthy=1)
    assert evaluate(gate, seen(succeeded=5, queued=15, unhealthy=1)).decision == PASSED
    failed = evaluate(gate, seen(succeeded=5, queued=15, unhealthy=2))
    assert failed.decision == FAILED and "health query matches 2" in failed.reasons[0]
    # Met on the first 5, not yet on 10: it waits while more may still execute.
    assert evaluate(gate, seen(succeeded=8, failed=2, queued=10, unhealthy=0)).decision == WAITING
    canceled = evaluate(gate, seen(status="CANCELED", succeeded=2, failed=3, canceled=15, unhealthy=0))
    assert canceled.decision == FAILED and "canceled" in canceled.reasons[0]
    too_few = evaluate(GateSpec(min_executed=5), seen(wave=4, status="COMPLETED", succeeded=4))
    assert too_few.decision == PASSED  # a wave smaller than --min-executed needs all of its devices


def fleet(count: int) -> list[TargetDevice]:
    countries, types = ("US", "CA", "MX"), ("Sedan", "Truck")
    return [TargetDevice(f"dev-{i}", countries[i % 3], types[(i // 3) % 2] if i % 7 else "Truck", "1.0.0")
            for i in range(count)]  # fmt: skip


def test_waves_are_deterministic_seeded_disjoint_and_cover_the_target() -> None:
    devices = fleet(200)
    waves = choose_waves(devices, (1, 10, 50, 100), seed=11)
    assert [len(w.devices) for w in waves] == [2, 18, 80, 100]
    names = [name for w in waves for name in w.devices]
    assert sorted(names) == sorted(d.name for d in devices) and len(set(names)) == 200
    shuffled = list(devices)
    random.Random(3).shuffle(shuffled)
    assert choose_waves(shuffled, (1, 10, 50, 100), seed=11) == waves  # the listing order does not matter
    assert choose_waves(devices, (1, 10, 50, 100), seed=12)[0].devices != waves[0].devices


def test_the_canary_holds_every_stratum_it_has_room_for_and_waves_keep_the_mix() -> None:
    devices = fleet(300)
    strata = Counter(d.stratum for d in devices)
    waves = choose_waves(devices, (5, 30, 100), seed=1)
    assert set(waves[0].strata) == set(strata)  # 15 devices, 6 strata: one of each at least
    for wave in waves[1:]:
        for stratum, count in strata.items():
            expected = count * len(wave.devices) / len(devices)
            assert abs(wave.strata.get(stratum, 0) - expected) <= 2, (wave.number, stratum)


def test_small_targets_drop_empty_waves_but_keep_the_canary_and_the_end() -> None:
    assert wave_sizes(2, (1, 10, 50, 100)) == [1, 0, 0, 1]
    waves = choose_waves(fleet(2), (1, 10, 50, 100), seed=0)
    assert [(w.number, w.percent, len(w.devices)) for w in waves] == [(1, 1, 1), (2, 100, 1)]
    assert wave_sizes(30, (10, 50, 100)) == [3, 12, 15]  # exact: 10% of 30 is 3
