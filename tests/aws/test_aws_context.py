"""The context: shared clients, endpoints per target, pool sizing, identity, debug concurrency, errors."""

from __future__ import annotations

import threading

import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from iotfleet.aws.context import POOL_HEADROOM, AwsContext
from iotfleet.aws.errors import (
    AwsOperationError,
    Interrupted,
    IotFleetError,
    OperationFailed,
    ResourceFailure,
    UsageError,
    error_code,
    is_error,
)
from iotfleet.aws.settings import TargetSettings


def test_clients_are_created_once_and_shared_across_threads(make_context) -> None:
    ctx = make_context()
    seen: list[object] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        seen.append(ctx.client("iot"))

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(client) for client in seen}) == 1
    assert ctx.iot is seen[0]


def test_local_endpoint_serves_every_client(make_context, fake_aws) -> None:
    ctx = make_context(concurrency=24)
    for client in (ctx.iot, ctx.iot_data, ctx.jobs_data, ctx.s3, ctx.iam, ctx.sts):
        assert client.meta.endpoint_url == fake_aws.url
        assert client.meta.config.max_pool_connections == 24 + POOL_HEADROOM
        assert client.meta.config.retries["total_max_attempts"] == 1
    assert ctx.s3.meta.config.s3["addressing_style"] == "path"
    assert ctx.data_endpoint() == fake_aws.url
    assert (ctx.target, ctx.endpoint_url, ctx.region) == ("local", fake_aws.url, "us-east-1")
    assert ctx.jobs_data.meta.service_model.signing_name == "iot-jobs-data"
    assert ctx.iot_data.meta.service_model.signing_name == "iotdata"


def test_identity_is_asked_once(make_context, fake_aws) -> None:
    ctx = make_context()
    assert ctx.account_id == "123456789012"
    assert ctx.caller_identity()["Arn"] == "arn:aws:iam::123456789012:user/tester"
    assert fake_aws.count("sts") == 1


def test_dummy_credentials_on_the_local_target(make_context, fake_aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    ctx = make_context()
    ctx.iot.create_thing(thingName="x")
    assert "Credential=testing/" in fake_aws.requests[-1].headers["Authorization"]


def test_aws_data_plane_endpoint_is_looked_up_once() -> None:
    # No emulator can show AWS's endpoint discovery; Stubber stands in for that one answer.
    settings = TargetSettings.resolve(
        target="aws", region="eu-west-1", access_key="AKIAEXAMPLEEXAMPLE00", secret_key="secret", env={}
    )
    ctx = AwsContext(settings)
    assert ctx.iot.meta.endpoint_url == "https://iot.eu-west-1.amazonaws.com"
    with Stubber(ctx.iot) as stub:
        stub.add_response(
            "describe_endpoint",
            {"endpointAddress": "abc123-ats.iot.eu-west-1.amazonaws.com"},
            {"endpointType": "iot:Data-ATS"},
        )
        assert ctx.data_endpoint() == "https://abc123-ats.iot.eu-west-1.amazonaws.com"
        assert ctx.iot_data.meta.endpoint_url == "https://abc123-ats.iot.eu-west-1.amazonaws.com"
        assert ctx.jobs_data.meta.endpoint_url == "https://abc123-ats.iot.eu-west-1.amazonaws.com"
        stub.assert_no_pending_responses()
    assert not (ctx.s3.meta.config.s3 or {}).get("addressing_style")  # virtual-hosted style on AWS
    ctx.close()


def test_missing_region_on_aws_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    settings = TargetSettings.resolve(target="aws", access_key="AKIAEXAMPLEEXAMPLE00", secret_key="s", env={})
    with pytest.raises(UsageError) as caught:
        AwsContext(settings).iot  # noqa: B018 - building the client is the point
    assert caught.value.param == "--region"


def test_unknown_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    settings = TargetSettings.resolve(target="aws", profile="no-such-profile", region="us-east-1", env={})
    with pytest.raises(UsageError) as caught:
        AwsContext(settings)
    assert caught.value.param == "--profile"


def test_debug_mode_runs_parallel_work_sequentially(make_context) -> None:
    assert make_context(concurrency=32).concurrency == 32
    assert make_context(concurrency=32, debug=True).concurrency == 1


def test_error_helpers_match_exact_codes(make_context) -> None:
    ctx = make_context()
    with pytest.raises(ClientError) as caught:
        ctx.iot.describe_thing(thingName="missing")
    err = caught.value
    assert error_code(err) == "ResourceNotFoundException"
    assert is_error(err, "ResourceAlreadyExistsException", "ResourceNotFoundException")
    assert not is_error(err, "ResourceAlreadyExistsException")
    assert not is_error(ValueError("x"), "ResourceNotFoundException")
    wrapped = AwsOperationError.from_client_error(err)
    assert is_error(wrapped, "ResourceNotFoundException")
    assert str(wrapped).startswith("iot DescribeThing failed: ResourceNotFoundException: no route")
    assert wrapped.request_id in str(wrapped)
    failure = ResourceFailure.from_exception("thing", "missing", err)
    assert (failure.kind, failure.name, failure.code) == ("thing", "missing", "ResourceNotFoundException")


def test_exit_codes() -> None:
    assert IotFleetError("x").exit_code == 1
    assert UsageError("bad", "--name").exit_code == 2
    assert OperationFailed("some failed", [ResourceFailure("thing", "a", "boom")]).exit_code == 1
    assert Interrupted().exit_code == 130
    assert ResourceFailure.from_exception("thing", "a", RuntimeError()).error == "RuntimeError"
