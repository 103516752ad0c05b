"""Routing through the one endpoint: every service, and iot vs iot-jobs-data on a shared URI."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.routing import router


def test_one_endpoint_serves_every_service(boto_clients, emulator) -> None:
    boto_clients.iot.create_thing(thingName="pump-1")
    boto_clients.iot_data.update_thing_shadow(thingName="pump-1", payload=b'{"state":{"reported":{"on":true}}}')
    boto_clients.s3.create_bucket(Bucket="firmware-bucket")
    boto_clients.s3.put_object(Bucket="firmware-bucket", Key="fw/1.0.bin", Body=b"\x00\x01")
    boto_clients.iam.create_role(RoleName="ota-role", AssumeRolePolicyDocument="{}")
    assert boto_clients.sts.get_caller_identity()["Account"] == "123456789012"

    counts = emulator.counters()
    for key in (
        "iot:CreateThing",
        "iot-data:UpdateThingShadow",
        "s3:CreateBucket",
        "s3:PutObject",
        "iam:CreateRole",
        "sts:GetCallerIdentity",
    ):
        assert counts[key]["calls"] == 1, key


def test_shared_uri_goes_to_the_service_named_in_the_signature(boto_clients) -> None:
    """GET /things/{thingName}/jobs/{jobId} is iot:DescribeJobExecution and iot-jobs-data:DescribeJobExecution."""
    seen: list[str] = []

    def answer(call: Call) -> dict:
        seen.append(f"{call.service}:{call.operation}:{call.params['thingName']}:{call.params['jobId']}")
        if call.service == "iot":
            return {"execution": {"jobId": call.params["jobId"], "thingArn": "arn:aws:iot:us-east-1:1:thing/t"}}
        return {"execution": {"jobId": call.params["jobId"], "thingName": call.params["thingName"]}}

    with temporary_handler("iot", "DescribeJobExecution", answer), temporary_handler(
        "iot-jobs-data", "DescribeJobExecution", answer
    ):
        control = boto_clients.iot.describe_job_execution(jobId="job-1", thingName="dev-1")
        device = boto_clients.jobs_data.describe_job_execution(jobId="job-1", thingName="dev-1")
    assert seen == ["iot:DescribeJobExecution:dev-1:job-1", "iot-jobs-data:DescribeJobExecution:dev-1:job-1"]
    assert control["execution"]["thingArn"].endswith(":thing/t")
    assert device["execution"]["thingName"] == "dev-1"


@pytest.mark.parametrize("service", ["iot", "iot-data", "iot-jobs-data", "s3"])
def test_router_finds_every_operation_of_the_model(service: str) -> None:
    """Filling each requestUri template and routing it back gives the operation (or an equivalent one)."""
    service_router = router(service)
    model = service_router.model
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http["requestUri"]
        path, _, literal_query = uri.partition("?")
        filled = "/".join(
            ("seg-a/seg-b" if part.endswith("+}") else "value1") if part.startswith("{") else part
            for part in path.split("/")
        )
        query: dict[str, list[str]] = {}
        for item in filter(None, literal_query.split("&")):
            key, _, value = item.partition("=")
            query[key] = [value]
        headers: dict[str, str] = {}
        shape = op.input_shape
        for member in shape.required_members if shape is not None else []:
            location = shape.members[member].serialization.get("location")
            wire = shape.members[member].serialization.get("name", member)
            if location == "querystring":
                query.setdefault(wire, ["1"])
            elif location == "header":
                headers[wire.lower()] = "1"
        route = service_router.match(op.http["method"], filled, query, headers)
        assert route is not None, name
        if route.name != name:
            other = route.operation.http
            assert (other["method"], other["requestUri"].split("?")[0]) == (op.http["method"], path), (
                name,
                route.name,
            )


def test_literal_segments_beat_labels() -> None:
    iot = router("iot")
    assert iot.match("GET", "/thing-groups/my-group", {}, {}).name == "DescribeThingGroup"
    assert iot.match("POST", "/dynamic-thing-groups/g1", {}, {}).name == "CreateDynamicThingGroup"
    assert iot.match("PUT", "/things/t1/jobs/$next", {}, {}) is None
    jobs = router("iot-jobs-data")
    assert jobs.match("PUT", "/things/t1/jobs/$next", {}, {}).name == "StartNextPendingJobExecution"
    assert jobs.match("GET", "/things/t1/jobs/$next", {}, {}).labels == {"thingName": "t1", "jobId": "$next"}
    s3 = router("s3")
    assert s3.match("GET", "/bucket", {"list-type": ["2"]}, {}).name == "ListObjectsV2"
    assert s3.match("GET", "/bucket", {"versions": [""]}, {}).name == "ListObjectVersions"
    assert s3.match("GET", "/bucket/a/b/c.bin", {}, {}).labels == {"Bucket": "bucket", "Key": "a/b/c.bin"}
    assert s3.match("PUT", "/bucket/key", {}, {"x-amz-copy-source": "/b/k"}).name == "CopyObject"


def test_unsupported_operation_is_a_json_error_naming_it(boto_clients) -> None:
    with pytest.raises(ClientError) as caught:
        boto_clients.iot.list_fleet_metrics()
    error = caught.value.response
    assert error["Error"]["Code"] == "NotImplementedException"
    assert "iot:ListFleetMetrics" in error["Error"]["Message"]
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_unknown_path_is_a_json_error(emulator, make_client) -> None:
    import requests
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method="GET", url=f"{emulator.endpoint_url}/no/such/route")
    SigV4Auth(Credentials("testing", "testing"), "iot", "us-east-1").add_auth(request)
    response = requests.get(request.url, headers=dict(request.headers), timeout=10)
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert "GET /no/such/route" in response.json()["message"]


def test_s3_head_lengths_metadata_and_chunked_uploads(boto_clients) -> None:
    import requests

    s3 = boto_clients.s3
    s3.create_bucket(Bucket="data-bucket")
    s3.put_object(Bucket="data-bucket", Key="a.bin", Body=b"12345", Metadata={"build_id": "7"})
    head = s3.head_object(Bucket="data-bucket", Key="a.bin")
    assert head["ContentLength"] == 5
    assert head["Metadata"] == {"build_id": "7"}
    url = s3.generate_presigned_url("put_object", Params={"Bucket": "data-bucket", "Key": "chunked.bin"})
    reply = requests.put(url, data=iter([b"ab", b"cd", b"ef"]), timeout=10)  # Transfer-Encoding: chunked
    assert reply.status_code == 200, reply.text
    assert s3.get_object(Bucket="data-bucket", Key="chunked.bin")["Body"].read() == b"abcdef"
    large = bytes(range(256)) * 8192  # 2 MiB: boto3 sends "Expect: 100-continue"
    s3.put_object(Bucket="data-bucket", Key="large.bin", Body=large)
    assert s3.get_object(Bucket="data-bucket", Key="large.bin")["Body"].read() == large


def test_s3_multipart_upload_through_the_transfer_manager(boto_clients, emulator) -> None:
    import io

    from boto3.s3.transfer import TransferConfig

    s3 = boto_clients.s3
    s3.create_bucket(Bucket="big-bucket")
    blob = bytes(range(256)) * (24 * 1024)  # 6 MiB in two 5 MiB parts
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_fileobj(io.BytesIO(blob), "big-bucket", "fw/big.bin", Config=config)
    assert s3.get_object(Bucket="big-bucket", Key="fw/big.bin")["Body"].read() == blob
    counts = emulator.counters()
    assert counts["s3:CreateMultipartUpload"]["calls"] == 1
    assert counts["s3:UploadPart"]["calls"] == 2
    assert counts["s3:CompleteMultipartUpload"]["calls"] == 1
