"""The behaviour model: parsing, reproducibility for a seed, and outcomes drawn at random, not by position."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.simulate.behaviour import (
    CHECKSUM,
    DOWNLOAD,
    HANG,
    INSTALL,
    REJECT,
    SUCCESS,
    BehaviourModel,
    FailureWeights,
    LatencyModel,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("1.5s", 1.5), ("2m", 120.0), ("3", 3.0), (" 0 ", 0.0), (".5s", 0.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "-1s", "10h", "1..", "ms"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_fixed_and_uniform_latency() -> None:
    rng = random.Random(1)
    assert LatencyModel.parse("0").sample(rng) == 0.0
    assert LatencyModel.parse("200ms").sample(rng) == pytest.approx(0.2)
    uniform = LatencyModel.parse("50ms..500ms")
    samples = [uniform.sample(rng) for _ in range(2000)]
    assert min(samples) >= 0.05 and max(samples) <= 0.5
    assert statistics.mean(samples) == pytest.approx(0.275, abs=0.01)


def test_lognormal_latency_has_the_median_and_p95_asked_for() -> None:
    model = LatencyModel.parse("lognormal:median=200ms,p95=2s")
    rng = random.Random(3)
    samples = sorted(model.sample(rng) for _ in range(20000))
    assert statistics.median(samples) == pytest.approx(0.2, rel=0.05)
    assert samples[int(0.95 * len(samples))] == pytest.approx(2.0, rel=0.1)


@pytest.mark.parametrize(
    "text", ["lognormal:median=2s,p95=1s", "lognormal:median=1s", "lognormal:mean=1s,p95=2s", "500ms..50ms"]
)
def test_bad_latencies(text: str) -> None:
    with pytest.raises(ValueError):
        LatencyModel.parse(text)


def test_failure_weights_parse_and_leave_out_modes_at_zero() -> None:
    weights = FailureWeights.parse("checksum=2, hang=1")
    assert weights.weights == {DOWNLOAD: 0, CHECKSUM: 2, INSTALL: 0, REJECT: 0, HANG: 1}
    rng = random.Random(5)
    picks = [weights.choose(rng) for _ in range(3000)]
    assert set(picks) == {CHECKSUM, HANG}
    assert picks.count(CHECKSUM) / len(picks) == pytest.approx(2 / 3, abs=0.03)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("download=0,checksum=0", "sum to a positive number"),
        ("", "sum to a positive number"),
        ("explode=1", "MODE one of"),
        ("download=-1,install=2", "not negative"),
        ("download=lots", "not a number"),
        ("download", "MODE=WEIGHT"),
    ],
)
def test_bad_failure_weights(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FailureWeights.parse(text)


@pytest.mark.parametrize(("rate", "flag"), [(-1, "--success-rate"), (100.5, "--success-rate")])
def test_success_rate_outside_0_to_100_is_a_usage_error(rate: float, flag: str) -> None:
    with pytest.raises(UsageError) as caught:
        BehaviourModel.from_options(success_rate=rate, failure_weights="install=1", latency="0", seed=1)
    assert caught.value.param == flag


def test_options_name_the_flag_at_fault() -> None:
    with pytest.raises(UsageError) as caught:
        BehaviourModel.from_options(success_rate=50, failure_weights="install=0", latency="0", seed=1)
    assert caught.value.param == "--failure-weights"
    with pytest.raises(UsageError) as caught:
        BehaviourModel.from_options(success_rate=50, failure_weights="install=1", latency="soon", seed=1)
    assert caught.value.param == "--latency"


def test_an_execution_gets_the_same_plan_for_the_same_seed_whatever_the_order() -> None:
    model = BehaviourModel.from_options(success_rate=70, failure_weights="download=1,install=1", latency="1s..2s", seed=9)
    things = [f"dev-{i}" for i in range(200)]
    forward = [model.plan("job", t, 0) for t in things]
    backward = [model.plan("job", t, 0) for t in reversed(things)][::-1]
    assert forward == backward
    other_seed = BehaviourModel.from_options(
        success_rate=70, failure_weights="download=1,install=1", latency="1s..2s", seed=10
    )
    assert [other_seed.plan("job", t, 0) for t in things] != forward
    # A retry (the next attempt) draws again.
    assert [model.plan("job", t, 1) for t in things] != forward


def test_successes_follow_the_rate_and_are_spread_over_the_fleet() -> None:
    model = BehaviourModel.from_options(success_rate=80, failure_weights="install=1", latency="0", seed=42)
    n = 4000
    outcomes = [model.plan("job", f"dev-{i:05d}", 1).outcome == SUCCESS for i in range(n)]
    successes = sum(outcomes)
    sd = math.sqrt(n * 0.8 * 0.2)
    assert abs(successes - 0.8 * n) < 4 * sd
    # Not "the first N succeed": both halves of the fleet see failures at about the same rate.
    first, second = sum(outcomes[: n // 2]), sum(outcomes[n // 2 :])
    assert abs(first - second) < 4 * math.sqrt(n / 2 * 0.8 * 0.2) * math.sqrt(2)
    assert not all(outcomes[: successes])


def test_the_edges_of_the_success_rate() -> None:
    always = BehaviourModel.from_options(success_rate=100, failure_weights="install=1", latency="0", seed=1)
    never = BehaviourModel.from_options(success_rate=0, failure_weights="reject=1", latency="0", seed=1)
    assert {always.plan("j", f"t{i}", 1).outcome for i in range(500)} == {SUCCESS}
    assert {never.plan("j", f"t{i}", 1).outcome for i in range(500)} == {REJECT}
