"""Pacing and retries reach plain boto3 calls through botocore's event system (real HTTP, fake time)."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from iotfleet.aws.errors import AwsOperationError, is_error
from iotfleet.aws.pacing import RetryBudget, RetryPolicy, classify
from iotfleet.clock import FakeClock


def test_a_plain_client_call_is_paced_without_any_wrapper(make_context, fake_aws, fake_clock: FakeClock) -> None:
    ctx = make_context(quota_overrides=["iot:CreateThing=5"])
    start = fake_clock.monotonic()
    for index in range(20):
        ctx.iot.create_thing(thingName=f"thing-{index}")
    elapsed = fake_clock.monotonic() - start
    bucket = ctx.limiter.bucket("iot:CreateThing")
    assert bucket.acquired == 20
    assert fake_aws.count("iot") == 20
    # One call free from the full bucket, then 19 spaced 1/5 s apart on the fake clock.
    assert elapsed == pytest.approx(19 / 5)


def test_calls_from_many_threads_share_one_bucket(make_context, fake_aws, fake_clock: FakeClock) -> None:
    ctx = make_context(quota_overrides=["iot:CreateThing=10"])
    client = ctx.iot
    start = fake_clock.monotonic()
    seen: list[object] = []

    def worker(index: int) -> None:
        with fake_clock.participant():
            seen.append(ctx.iot)
            for n in range(5):
                client.create_thing(thingName=f"t-{index}-{n}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(c is client for c in seen)
    assert ctx.limiter.bucket("iot:CreateThing").acquired == 40
    assert fake_clock.monotonic() - start == pytest.approx(39 / 10)


def test_throttling_backs_off_and_every_call_still_succeeds(make_context, fake_aws, fake_clock: FakeClock) -> None:
    ctx = make_context(quota_overrides=["iot:CreateThing=40"])
    fake_aws.throttle(times=3)
    names = [f"device-{i}" for i in range(30)]
    results = []

    def worker(chunk: list[str]) -> None:
        with fake_clock.participant():
            for name in chunk:
                results.append(ctx.iot.create_thing(thingName=name)["thingName"])

    threads = [threading.Thread(target=worker, args=(names[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == sorted(names)
    bucket = ctx.limiter.bucket("iot:CreateThing")
    assert bucket.throttled == 3
    assert bucket.rate < 40.0
    assert fake_aws.count("iot") == 33
    assert ctx.retry_budget.available < ctx.retry_budget.capacity


def test_the_rate_recovers_after_throttling_stops(make_context, fake_aws, fake_clock: FakeClock) -> None:
    ctx = make_context(quota_overrides=["iot:CreateThing=20"])
    fake_aws.throttle()
    ctx.iot.create_thing(thingName="first")
    assert ctx.limiter.rate("iot:CreateThing") == 10.0
    for index in range(200):
        ctx.iot.create_thing(thingName=f"later-{index}")
    assert ctx.limiter.rate("iot:CreateThing") == 20.0


def test_transient_faults_are_retried(make_context, fake_aws) -> None:
    ctx = make_context()
    fake_aws.inject(503, "ServiceUnavailableException", times=2)
    fake_aws.inject(500, "InternalFailureException")
    assert ctx.iot.create_thing(thingName="x")["thingName"] == "x"
    assert fake_aws.count() == 4
    # Faults that are not throttling leave the rate alone.
    assert ctx.limiter.rate("iot:CreateThing") == 80.0


def test_other_errors_are_not_retried(make_context, fake_aws) -> None:
    ctx = make_context()
    with pytest.raises(ClientError) as caught:
        ctx.iot.describe_thing(thingName="nope")
    assert fake_aws.count() == 1
    assert is_error(caught.value, "ResourceNotFoundException")
    error = AwsOperationError.from_client_error(caught.value)
    assert (error.service, error.operation, error.code, error.http_status) == (
        "iot", "DescribeThing", "ResourceNotFoundException", 404
    )
    assert error.request_id


def test_per_call_attempts_are_bounded(make_context, fake_aws) -> None:
    ctx = make_context(policy=RetryPolicy(max_attempts=4))
    fake_aws.fail_every_request(429, "ThrottlingException")
    with pytest.raises(ClientError) as caught:
        ctx.iot.create_thing(thingName="x")
    assert is_error(caught.value, "ThrottlingException")
    assert fake_aws.count() == 4


def test_faults_get_fewer_attempts_than_throttling(make_context, fake_aws) -> None:
    ctx = make_context()
    fake_aws.fail_every_request(503, "ServiceUnavailableException")
    with pytest.raises(ClientError) as caught:
        ctx.iot.create_thing(thingName="x")
    assert is_error(caught.value, "ServiceUnavailableException")
    assert fake_aws.count() == RetryPolicy().max_transient_attempts


def test_the_shared_retry_budget_stops_retries(make_context, fake_aws) -> None:
    ctx = make_context(retry_budget=3)
    fake_aws.fail_every_request(503, "ServiceUnavailableException")
    with pytest.raises(ClientError):
        ctx.iot.create_thing(thingName="a")
    assert fake_aws.count() == 4  # first attempt + the 3 retries the budget held
    with pytest.raises(ClientError):
        ctx.iot.create_thing(thingName="b")
    assert fake_aws.count() == 5  # budget empty: no retry at all


def test_connection_errors_are_retried_then_surface(make_context, fake_clock: FakeClock) -> None:
    ctx = make_context(endpoint_url="http://127.0.0.1:9", policy=RetryPolicy(max_attempts=3))
    start = fake_clock.monotonic()
    with pytest.raises(EndpointConnectionError):
        ctx.iot.create_thing(thingName="x")
    assert ctx.limiter.bucket("iot:CreateThing").acquired == 3
    assert fake_clock.monotonic() > start  # backed off on the fake clock


def test_presigning_is_not_paced(make_context, fake_aws) -> None:
    ctx = make_context()
    url = ctx.s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=60)
    assert "X-Amz-Signature=" in url
    assert ctx.limiter.rates() == {}
    assert fake_aws.count() == 0


def test_backoff_is_full_jitter_and_capped() -> None:
    import random

    policy = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0)
    rng = random.Random(7)
    for attempt in range(1, 10):
        ceiling = min(1.0, 0.1 * 2 ** (attempt - 1))
        delays = [policy.backoff(attempt, rng) for _ in range(50)]
        assert all(0.0 <= d <= ceiling for d in delays)


def test_retry_budget_refills_slowly_on_success() -> None:
    budget = RetryBudget(2, refund=0.5)
    assert budget.try_spend() and budget.try_spend()
    assert not budget.try_spend()
    budget.on_success()
    assert not budget.try_spend()
    budget.on_success()
    assert budget.try_spend()


def test_classify() -> None:
    class Response:
        def __init__(self, status: int) -> None:
            self.status_code = status

    assert classify((Response(400), {"Error": {"Code": "ThrottlingException"}}), None) == "throttled"
    assert classify((Response(503), {"Error": {"Code": "SlowDown"}}), None) == "throttled"
    assert classify((Response(429), {}), None) == "throttled"
    assert classify((Response(502), {}), None) == "transient"
    assert classify((Response(400), {"Error": {"Code": "InvalidRequestException"}}), None) is None
    assert classify((Response(200), {}), None) is None
    assert classify(None, EndpointConnectionError(endpoint_url="http://x")) == "transient"
    assert classify(None, ValueError("bug")) is None
