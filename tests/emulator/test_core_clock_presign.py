"""The emulator clock, and presigned S3 URLs minted and checked on it."""

from __future__ import annotations

import json
import time

import pytest
import requests
from botocore.config import Config

from iotfleet.emulator.clock import EmulatorClock
from iotfleet.emulator.presign import mint_presigned_get


def test_clock_advances_scales_and_notifies() -> None:
    clock = EmulatorClock()
    seen: list[float] = []
    clock.on_advance(seen.append)
    start = clock.now()
    assert abs(start - time.time()) < 1
    after = clock.advance(3600)
    assert after >= start + 3600
    assert seen == [after]
    clock.set_time_scale(1000)
    before = clock.now()
    time.sleep(0.02)
    assert clock.now() - before >= 15
    with pytest.raises(ValueError):
        clock.advance(-1)
    clock.reset(1.0)
    assert abs(clock.now() - time.time()) < 1


def test_moto_timestamps_follow_the_emulator_clock(boto_clients, emulator) -> None:
    emulator.advance(86400)
    group = boto_clients.iot.create_thing_group(thingGroupName="later")
    created = boto_clients.iot.describe_thing_group(thingGroupName=group["thingGroupName"])
    assert abs(created["thingGroupMetadata"]["creationDate"].timestamp() - (time.time() + 86400)) < 60
    boto_clients.iot.create_thing(thingName="t1")
    shadow = boto_clients.iot_data.update_thing_shadow(thingName="t1", payload=b'{"state":{"reported":{"a":1}}}')
    assert abs(json.loads(shadow["payload"].read())["timestamp"] - emulator.clock.now()) < 60


@pytest.fixture
def versioned_object(boto_clients) -> tuple[str, str, str, str]:
    s3 = boto_clients.s3
    s3.create_bucket(Bucket="artifacts")
    s3.put_bucket_versioning(Bucket="artifacts", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="artifacts", Key="fw/app v1+x.bin", Body=b"version one")["VersionId"]
    second = s3.put_object(Bucket="artifacts", Key="fw/app v1+x.bin", Body=b"version two!")["VersionId"]
    return "artifacts", "fw/app v1+x.bin", first, second


def test_minted_url_returns_the_exact_version_and_expires(emulator, versioned_object) -> None:
    bucket, key, first, second = versioned_object
    with emulator.state.lock:
        url = mint_presigned_get(emulator.state, bucket, key, first, expires_in=600)
        latest = mint_presigned_get(emulator.state, bucket, key, None, expires_in=600)
    assert requests.get(url, timeout=10).content == b"version one"
    assert requests.get(latest, timeout=10).content == b"version two!"
    emulator.advance(601)
    expired = requests.get(url, timeout=10)
    assert expired.status_code == 403
    assert "<Code>AccessDenied</Code>" in expired.text and "Request has expired" in expired.text
    assert emulator.counters()["s3:GetObject"]["calls"] == 3


def test_tampered_or_missing_signatures_are_rejected(emulator, versioned_object) -> None:
    bucket, key, first, second = versioned_object
    url = mint_presigned_get(emulator.state, bucket, key, first, expires_in=600)
    flipped = url[:-1] + ("0" if url[-1] != "0" else "1")
    assert requests.get(flipped, timeout=10).status_code == 403
    other_version = url.replace(f"versionId={first}", f"versionId={second}")
    reply = requests.get(other_version, timeout=10)
    assert reply.status_code == 403 and "SignatureDoesNotMatch" in reply.text
    unsigned = url.split("&X-Amz-Signature=")[0]
    assert requests.get(unsigned, timeout=10).status_code == 403
    garbled = url.split("&X-Amz-Signature=")[0] + "&X-Amz-Signature=not-hex"
    assert requests.get(garbled, timeout=10).status_code == 403
    plain = f"{emulator.endpoint_url}/{bucket}/fw/app%20v1%2Bx.bin"
    assert requests.get(plain, timeout=10).status_code == 403


def test_client_presigned_urls_work_and_expire(emulator, make_client, versioned_object) -> None:
    bucket, key, first, _second = versioned_object
    s3 = make_client("s3")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key, "VersionId": first}, ExpiresIn=60
    )
    assert requests.get(url, timeout=10).content == b"version one"
    emulator.advance(61)
    assert requests.get(url, timeout=10).status_code == 403


def test_signature_check_agrees_with_botocore(emulator, versioned_object) -> None:
    """A URL botocore signs with the emulator's own key passes the full signature check."""
    import boto3

    bucket, key, first, _second = versioned_object
    state = emulator.state
    signer = boto3.session.Session().client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=state.signing_access_key,
        aws_secret_access_key=state.signing_secret_key,
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key, "VersionId": first})
    assert requests.get(url, timeout=10).content == b"version one"
    wrong = boto3.session.Session().client(
        "s3",
        endpoint_url=emulator.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=state.signing_access_key,
        aws_secret_access_key="not-the-secret",
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    bad = wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key})
    assert requests.get(bad, timeout=10).status_code == 403


def test_the_date_header_carries_the_emulator_clock(boto_clients, emulator) -> None:
    from email.utils import parsedate_to_datetime

    emulator.advance(7200)
    answer = boto_clients.sts.get_caller_identity()
    stamped = parsedate_to_datetime(answer["ResponseMetadata"]["HTTPHeaders"]["date"]).timestamp()
    assert abs(stamped - emulator.clock.now()) < 2
    assert stamped - time.time() > 7000
