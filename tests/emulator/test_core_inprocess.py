"""The in-process emulator and its state: one per process, reset, stores."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.inprocess import EmulatorAlreadyRunning, LocalEmulator


def test_only_one_in_process_emulator_at_a_time(emulator) -> None:
    with pytest.raises(EmulatorAlreadyRunning, match="already running"):
        LocalEmulator().start()


def test_reset_wipes_moto_and_feature_state(emulator, boto_clients) -> None:
    boto_clients.iot.create_thing(thingName="t1")
    boto_clients.s3.create_bucket(Bucket="bucket-one")
    store = emulator.state.store("example", "123456789012", "us-east-1", dict)
    store["x"] = 1
    emulator.set_faults(0.5, seed=1)
    emulator.advance(3600)
    emulator.reset()
    assert boto_clients.iot.list_things()["things"] == []
    assert boto_clients.s3.list_buckets()["Buckets"] == []
    assert emulator.state.store("example", "123456789012", "us-east-1", dict) == {}
    assert emulator.state.faults.rate == 0.0
    assert emulator.counters() == {"iot:ListThings": {"calls": 1, "throttles": 0, "faults": 0},
                                   "s3:ListBuckets": {"calls": 1, "throttles": 0, "faults": 0}}  # fmt: skip


def test_stores_are_per_account_and_region(emulator) -> None:
    state = emulator.state
    first = state.store("packages", "111111111111", "us-east-1", list)
    assert state.store("packages", "111111111111", "us-east-1", list) is first
    other = state.store("packages", "111111111111", "eu-west-1", list)
    assert other is not first
    assert {(acct, region) for acct, region, _ in state.stores("packages")} == {
        ("111111111111", "us-east-1"),
        ("111111111111", "eu-west-1"),
    }


def test_accounts_come_from_the_access_key(emulator, make_client) -> None:
    """An IAM user's access key puts its calls in that user's account, as moto does."""
    iam = make_client("iam")
    iam.create_user(UserName="robot")
    key = iam.create_access_key(UserName="robot")["AccessKey"]
    import boto3

    other = boto3.session.Session().client(
        "sts",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=key["AccessKeyId"],
        aws_secret_access_key=key["SecretAccessKey"],
    )
    assert other.get_caller_identity()["Arn"].endswith(":user/robot")


def test_unsigned_requests_are_refused(emulator) -> None:
    import requests

    response = requests.get(f"{emulator.endpoint_url}/things", timeout=10)
    assert response.status_code == 403 and "AccessDenied" in response.text


def test_control_routes_report_bad_input(emulator) -> None:
    import requests

    base = f"{emulator.endpoint_url}/_emulator"
    assert requests.post(f"{base}/clock", json={"advance": "soon"}, timeout=10).status_code == 400
    assert requests.post(f"{base}/clock", data=b"{not json", timeout=10).status_code == 400
    missing = requests.get(f"{base}/nothing", timeout=10)
    assert missing.status_code == 404 and "GET /_emulator/health" in missing.json()["routes"]


def test_unknown_service_is_named(emulator, make_client) -> None:
    with pytest.raises(ClientError) as caught:
        make_client("sqs").list_queues()
    assert "'sqs'" in caught.value.response["Error"]["Message"]
