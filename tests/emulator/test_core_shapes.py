"""The output-shape checker used by the contract tests."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

from iotfleet.emulator.testing import OutputShapeError, assert_valid_output, output_problems

NOW = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def iot():
    return boto3.session.Session().client(
        "iot", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )


def test_a_valid_response_passes(iot) -> None:
    response = {
        "ResponseMetadata": {"HTTPStatusCode": 200},
        "jobs": [{"jobId": "j1", "status": "IN_PROGRESS", "createdAt": NOW, "isConcurrent": False}],
        "nextToken": "n",
    }
    assert output_problems(iot, "list_jobs", response) == []
    assert_valid_output(iot, "ListJobs", response)


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        ({"jobs": [{"jobId": 5}]}, "jobs[0].jobId: expected string, got int 5"),
        ({"jobs": [{"status": "RUNNING"}]}, "jobs[0].status: 'RUNNING' is not one of"),
        ({"jobs": [{"createdAt": 1700000000}]}, "jobs[0].createdAt: expected timestamp"),
        ({"jobs": [{"createdAt": dt.datetime(2030, 1, 1)}]}, "jobs[0].createdAt: timestamp without a time zone"),
        ({"jobs": {"jobId": "j"}}, "jobs: expected list"),
        ({"jobs": [{"isConcurrent": "yes"}]}, "jobs[0].isConcurrent: expected boolean"),
        ({"jobs": [], "extra": 1}, "extra: not a member of ListJobsResponse"),
    ],
)
def test_mismatches_are_reported_with_their_path(iot, response, problem) -> None:
    with pytest.raises(OutputShapeError) as caught:
        assert_valid_output(iot, "list_jobs", response)
    assert problem in str(caught.value)
    assert str(caught.value).startswith("ListJobs: ")


def test_maps_required_members_and_integers(iot) -> None:
    assert output_problems(iot, "describe_thing", {"attributes": {"a": 3}, "version": True}) == [
        "attributes['a']: expected string, got int 3",
        "version: expected integer, got bool True",
    ]
    # TagResource's Tag has a required Key.
    assert output_problems(iot, "list_tags_for_resource", {"tags": [{"Value": "v"}]}) == [
        "tags[0].Key: required member missing"
    ]
