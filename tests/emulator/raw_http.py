"""Signed HTTP requests that boto3 would refuse to send (wrong types, bad topics), made with ``requests``.

The request is signed with botocore's SigV4 signer exactly as a client would sign it, so the emulator sees
a well-formed credential scope and only the body or path is wrong.
"""

from __future__ import annotations

import json
from typing import Any

import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from iotfleet.emulator.pytest_plugin import CREDENTIALS, REGION

SIGNING_NAMES = {"iot": "iot", "iot-data": "iotdata", "iot-jobs-data": "iot-jobs-data"}


def signed(
    endpoint_url: str,
    service: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    """Send ``method path`` to the emulator, signed for ``service``; a dict or list body is sent as JSON."""
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else (body or b"")
    fields = dict(headers or {})
    if data:
        fields.setdefault("Content-Type", "application/json")
    request = AWSRequest(method=method, url=endpoint_url + path, data=data, headers=fields)
    credentials = Credentials(CREDENTIALS["aws_access_key_id"], CREDENTIALS["aws_secret_access_key"])
    SigV4Auth(credentials, SIGNING_NAMES[service], REGION).add_auth(request)
    prepared = request.prepare()
    return requests.request(method, prepared.url, data=data, headers=dict(prepared.headers), timeout=30)


def error_code(response: requests.Response) -> tuple[str | None, int]:
    """The AWS error code (``x-amzn-ErrorType``) and HTTP status of a rest-json answer."""
    return response.headers.get("x-amzn-ErrorType"), response.status_code
