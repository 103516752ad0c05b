"""Job documents: S3 URL forms, placeholder parsing and substitution, document checks; rollout rates."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.jobs.documents import (
    PACKAGE_ARTIFACT,
    PACKAGE_ATTRIBUTE,
    PRESIGNED_V1,
    PRESIGNED_V2,
    S3Location,
    Substitution,
    check_document,
    find_placeholders,
    parse_s3_url,
)
from iotfleet.emulator.jobs.rollout import RolloutRate


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://s3.amazonaws.com/fw/a/b.bin", S3Location("fw", "a/b.bin")),
        ("https://s3.eu-west-1.amazonaws.com/fw/b.bin", S3Location("fw", "b.bin")),
        ("https://fw.s3.amazonaws.com/dir/b.bin", S3Location("fw", "dir/b.bin")),
        ("https://fw.s3.us-west-2.amazonaws.com/b.bin?versionId=v1", S3Location("fw", "b.bin", "v1")),
        ("http://127.0.0.1:4567/fw/b%20c.bin", S3Location("fw", "b c.bin")),
        ("s3://fw/key.json", S3Location("fw", "key.json")),
    ],
)
def test_parse_s3_url(url: str, expected: S3Location) -> None:
    assert parse_s3_url(url) == expected


@pytest.mark.parametrize("url", ["ftp://fw/key", "https://s3.amazonaws.com/onlybucket", "not a url"])
def test_parse_s3_url_rejects(url: str) -> None:
    with pytest.raises(InvalidRequestException):
        parse_s3_url(url)


def test_find_placeholders() -> None:
    document = json.dumps(
        {
            "a": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/fw/a.bin?versionId=ignored}",
            "b": "${aws:iot:s3-presigned-url-v2:https%3A%2F%2Fs3.amazonaws.com%2Ffw%2Fb.bin%3FversionId%3Dv9}",
            "c": "${aws:iot:package:p:version:1.0:artifact:s3-presigned-url}",
            "d": "${aws:iot:package:p:version:1.0:attributes:sig:v2}",
            "e": "${aws:iot:code-sign-signature:whatever}",
        }
    )
    found = find_placeholders(document)
    assert [p.kind for p in found] == [PRESIGNED_V1, PRESIGNED_V2, PACKAGE_ARTIFACT, PACKAGE_ATTRIBUTE]
    assert found[0].location == S3Location("fw", "a.bin")  # v1 carries no version
    assert found[1].location == S3Location("fw", "b.bin", "v9")
    assert found[3].attribute == "sig:v2"


def test_check_document() -> None:
    assert check_document(json.dumps({"k": "v"})) == []
    with pytest.raises(InvalidRequestException, match="maximum size"):
        check_document(json.dumps({"k": "v" * 32 * 1024}))
    with pytest.raises(InvalidRequestException, match="JSON"):
        check_document("{")
    eleven = {f"k{i}": f"${{aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/{i}}}" for i in range(11)}
    with pytest.raises(InvalidRequestException, match="at most 10"):
        check_document(json.dumps(eleven))
    with pytest.raises(InvalidRequestException, match="Unsupported"):
        check_document(json.dumps({"k": "${aws:iot:package:p:version:1:recipe}"}))


@dataclass
class Version:
    attributes: dict[str, str] = field(default_factory=dict)
    artifact: dict[str, Any] | None = None


def test_substitution_escapes_for_json_and_leaves_unknowns() -> None:
    versions = {("p", "1"): Version({"note": 'say "hi"'})}
    substitution = Substitution(
        presign=lambda location, expires: f"https://x/{location.key}?e={expires}",
        package_version=lambda p, v: versions.get((p, v)),
        expires_in=90,
        default_package=("p", "1"),
    )
    document = json.dumps(
        {
            "url": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/b/k.bin}",
            "note": "${aws:iot:package::version::attributes:note}",
            "all": "${aws:iot:package:p:version:1:attributes}",
            "missing": "${aws:iot:package:p:version:1:attributes:nope}",
            "gone": "${aws:iot:package:q:version:9:artifact:s3-presigned-url}",
        }
    )
    result = json.loads(substitution.apply(document))
    assert result["url"] == "https://x/k.bin?e=90"
    assert result["note"] == 'say "hi"'
    assert json.loads(result["all"]) == {"note": 'say "hi"'}
    assert result["missing"] == "${aws:iot:package:p:version:1:attributes:nope}"
    assert result["gone"] == "${aws:iot:package:q:version:9:artifact:s3-presigned-url}"


@pytest.mark.parametrize(
    ("config", "counts", "expected"),
    [
        (None, (0, 0), 1000),
        ({"maximumPerMinute": 7}, (500, 500), 7),
        ({"exponentialRate": {"baseRatePerMinute": 50, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000}}}, (999, 0), 50),
        ({"exponentialRate": {"baseRatePerMinute": 50, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000}}}, (1000, 0), 100),
        ({"exponentialRate": {"baseRatePerMinute": 50, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 1000}}}, (3500, 0), 400),
        ({"exponentialRate": {"baseRatePerMinute": 10, "incrementFactor": 1.1,
                              "rateIncreaseCriteria": {"numberOfSucceededThings": 5}}}, (0, 10), 12),
        ({"exponentialRate": {"baseRatePerMinute": 900, "incrementFactor": 5.0,
                              "rateIncreaseCriteria": {"numberOfSucceededThings": 1}}}, (0, 10**6), 1000),
        # Both criteria: the increases are those of whichever criterion has been met more often.
        ({"exponentialRate": {"baseRatePerMinute": 10, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 100,
                                                       "numberOfSucceededThings": 10}}}, (99, 9), 10),
        ({"exponentialRate": {"baseRatePerMinute": 10, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 100,
                                                       "numberOfSucceededThings": 10}}}, (99, 25), 40),
        ({"exponentialRate": {"baseRatePerMinute": 10, "incrementFactor": 2.0,
                              "rateIncreaseCriteria": {"numberOfNotifiedThings": 100,
                                                       "numberOfSucceededThings": 10}}}, (300, 25), 80),
    ],
)
def test_rollout_rate(config: dict | None, counts: tuple[int, int], expected: int) -> None:
    assert RolloutRate.from_config(config).per_minute(*counts) == expected
