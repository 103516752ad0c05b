"""A tiny AWS-shaped HTTP endpoint for access-layer tests, with scripted throttling and faults.

It answers a handful of iot (rest-json) and sts (query/XML) operations well enough for real botocore
clients, so the tests exercise the whole event-system path (signing, pacing, retries, parsing), not a stub.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from iotfleet.aws.context import AwsContext
from iotfleet.aws.pacing import RetryPolicy
from iotfleet.aws.settings import TargetSettings
from iotfleet.clock import FakeClock

ACCOUNT = "123456789012"
STS_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


@dataclass(frozen=True)
class Fault:
    """One scripted error answer: HTTP status and AWS error code."""

    status: int
    code: str
    message: str = "injected"


@dataclass(frozen=True)
class SeenRequest:
    service: str
    method: str
    path: str
    headers: dict[str, str]


class FakeAws:
    """State of the fake endpoint: what it saw and which faults it still has to answer with."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[SeenRequest] = []
        self.faults: deque[Fault] = deque()
        self.fail_all: Fault | None = None
        self.job_document = "{}"
        self.assumed_credentials = {
            "AccessKeyId": "ASIAFAKEASSUMED00001",
            "SecretAccessKey": "assumed-secret-Zr9yXw8vUt7s",
            "SessionToken": "assumed-session-token-Qp6oNm5lKj4i",
        }
        self.url = ""

    def inject(self, status: int, code: str, times: int = 1, message: str = "injected") -> None:
        """Answer the next ``times`` requests with this error."""
        with self.lock:
            self.faults.extend([Fault(status, code, message)] * times)

    def throttle(self, times: int = 1) -> None:
        self.inject(429, "ThrottlingException", times, "Rate exceeded")

    def fail_every_request(self, status: int, code: str) -> None:
        with self.lock:
            self.fail_all = Fault(status, code)

    def count(self, service: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if service is None or r.service == service)

    def next_fault(self, seen: SeenRequest) -> Fault | None:
        with self.lock:
            self.requests.append(seen)
            if self.fail_all is not None:
                return self.fail_all
            return self.faults.popleft() if self.faults else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    # Send headers and body in one segment: no Nagle/delayed-ACK stalls on keep-alive connections.
    disable_nagle_algorithm = True
    wbufsize = -1

    def log_message(self, format: str, *args: object) -> None:
        return None

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        match = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", self.headers.get("Authorization", ""))
        service = match.group(1) if match else "unsigned"
        seen = SeenRequest(service, self.command, self.path, dict(self.headers))
        fault = self.server.state.next_fault(seen)
        if service == "sts":
            self._sts(parse_qs(body), fault)
        else:
            self._iot(fault)

    def _send(self, status: int, body: str, content_type: str, headers: dict[str, str] | None = None) -> None:
        payload = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _iot(self, fault: Fault | None) -> None:
        if fault is not None:
            self._send(fault.status, json.dumps({"message": fault.message}), "application/json",
                       {"x-amzn-ErrorType": fault.code})
            return
        url = urlparse(self.path)
        parts = [unquote(p) for p in url.path.strip("/").split("/")]
        if self.command == "POST" and parts[0] == "things" and len(parts) == 2:
            name = parts[1]
            answer = {"thingName": name, "thingArn": f"arn:aws:iot:us-east-1:{ACCOUNT}:thing/{name}", "thingId": name}
            self._send(200, json.dumps(answer), "application/json")
        elif self.command == "GET" and parts == ["endpoint"]:
            self._send(200, json.dumps({"endpointAddress": "fake-ats.iot.us-east-1.amazonaws.com"}), "application/json")
        elif self.command == "GET" and parts[0] == "jobs" and parts[-1] == "job-document":
            self._send(200, json.dumps({"document": self.server.state.job_document}), "application/json")
        elif self.command == "PUT" and parts[0] == "jobs" and len(parts) == 2:
            answer = {"jobArn": f"arn:aws:iot:us-east-1:{ACCOUNT}:job/{parts[1]}", "jobId": parts[1]}
            self._send(200, json.dumps(answer), "application/json")
        else:
            self._send(404, json.dumps({"message": f"no route {self.command} {url.path}"}), "application/json",
                       {"x-amzn-ErrorType": "ResourceNotFoundException"})

    def _sts(self, form: dict[str, list[str]], fault: Fault | None) -> None:
        action = form.get("Action", [""])[0]
        if fault is not None:
            body = (f'<ErrorResponse xmlns="{STS_NAMESPACE}"><Error><Type>Sender</Type><Code>{fault.code}</Code>'
                    f"<Message>{fault.message}</Message></Error><RequestId>req-1</RequestId></ErrorResponse>")
            self._send(fault.status, body, "text/xml")
            return
        if action == "GetCallerIdentity":
            result = (f"<Arn>arn:aws:iam::{ACCOUNT}:user/tester</Arn><UserId>AIDAFAKEUSER</UserId>"
                      f"<Account>{ACCOUNT}</Account>")
        elif action == "AssumeRole":
            creds = self.server.state.assumed_credentials
            result = (
                "<Credentials>"
                f"<AccessKeyId>{creds['AccessKeyId']}</AccessKeyId>"
                f"<SecretAccessKey>{creds['SecretAccessKey']}</SecretAccessKey>"
                f"<SessionToken>{creds['SessionToken']}</SessionToken>"
                "<Expiration>2030-01-01T00:00:00Z</Expiration></Credentials>"
                f"<AssumedRoleUser><AssumedRoleId>AROAFAKE:s</AssumedRoleId>"
                f"<Arn>arn:aws:sts::{ACCOUNT}:assumed-role/r/s</Arn></AssumedRoleUser>"
            )
        else:
            self._send(400, f"<ErrorResponse><Error><Code>InvalidAction</Code><Message>{action}</Message></Error>"
                       "</ErrorResponse>", "text/xml")
            return
        body = (f'<{action}Response xmlns="{STS_NAMESPACE}"><{action}Result>{result}</{action}Result>'
                f"<ResponseMetadata><RequestId>req-1</RequestId></ResponseMetadata></{action}Response>")
        self._send(200, body, "text/xml")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeAws


@pytest.fixture
def fake_aws() -> Iterator[FakeAws]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = FakeAws()
    server.state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock(stall_timeout=10.0)


@pytest.fixture
def make_context(fake_aws: FakeAws, fake_clock: FakeClock) -> Iterator[object]:
    """Build contexts against the fake endpoint on the fake clock; all are closed afterwards."""
    built: list[AwsContext] = []

    def build(*, policy: RetryPolicy | None = None, **settings: object) -> AwsContext:
        options: dict[str, object] = {"target": "local", "endpoint_url": fake_aws.url, "env": {}}
        options.update(settings)
        ctx = AwsContext(TargetSettings.resolve(**options), clock=fake_clock, retry_policy=policy)  # type: ignore[arg-type]
        built.append(ctx)
        return ctx

    yield build
    for ctx in built:
        ctx.close()
