"""The one door to AWS: a session, shared clients, the rate limiter, retries and debug logging.

Build one :class:`AwsContext` per run and pass it around. Its clients are created once, lazily, under a
lock, and shared by all threads (botocore clients are thread-safe; sessions are not, which is why only
the context creates clients). Every client is paced and retried through its event system (see
:mod:`iotfleet.aws.pacing`) and, in debug mode, logged (see :mod:`iotfleet.aws.debuglog`).

Endpoints: with an endpoint URL (the local emulator, or any override), every client, including the
iot-data and iot-jobs-data planes, uses that URL and S3 uses path-style addressing. On AWS the data
planes use ``https://`` + ``describe_endpoint(endpointType="iot:Data-ATS")``, looked up once.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import threading
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import ProfileNotFound

from iotfleet import __version__
from iotfleet.aws.debuglog import ApiCallLog, Redactor
from iotfleet.aws.errors import UsageError
from iotfleet.aws.pacing import Pacer, RetryBudget, RetryPolicy
from iotfleet.aws.ratelimit import RateLimiter
from iotfleet.aws.settings import LOCAL_CREDENTIALS, TargetSettings
from iotfleet.clock import SYSTEM_CLOCK, Clock

DATA_PLANE_SERVICES = frozenset({"iot-data", "iot-jobs-data"})
# Connections beyond the worker count, for the odd call made outside the worker pool.
POOL_HEADROOM = 4
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 60


class AwsContext:
    """Session, shared clients and account facts for one target."""

    def __init__(
        self,
        settings: TargetSettings,
        clock: Clock | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock or SYSTEM_CLOCK
        self._lock = threading.RLock()
        self._session = self._build_session()
        self.limiter = RateLimiter(settings.quotas, self.clock)
        self.retry_budget = RetryBudget(settings.retry_budget)
        policy = retry_policy or RetryPolicy(max_attempts=settings.max_attempts)
        self.pacer = Pacer(self.limiter, policy, self.retry_budget, clock=self.clock, rng=rng)
        self._api_log = ApiCallLog(Redactor(self._known_secrets)) if settings.debug else None
        self._clients: dict[str, BaseClient] = {}
        self._data_endpoint: str | None = None
        self._identity: dict[str, str] | None = None

    # Where we talk to.
    @property
    def target(self) -> str:
        return self.settings.target

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint override (the emulator's URL on the local target); None means AWS's own endpoints."""
        return self.settings.endpoint_url

    @property
    def region(self) -> str:
        region = self.settings.region or self._session.region_name
        if not region:
            raise UsageError(
                "no AWS region configured: pass --region, set AWS_REGION, or set a region in your profile",
                "--region",
            )
        return region

    @property
    def debug(self) -> bool:
        return self.settings.debug

    @property
    def concurrency(self) -> int:
        """How many workers parallel work should use: 1 in debug mode, so the API log reads in order."""
        return 1 if self.settings.debug else self.settings.concurrency

    # Clients.
    def client(self, name: str) -> BaseClient:
        """The shared client of service ``name`` (botocore's name, e.g. ``iot-jobs-data``)."""
        client = self._clients.get(name)
        if client is None:
            with self._lock:
                client = self._clients.get(name)
                if client is None:
                    client = self._create_client(name)
                    self._clients[name] = client
        return client

    @property
    def iot(self) -> Any:
        return self.client("iot")

    @property
    def iot_data(self) -> Any:
        return self.client("iot-data")

    @property
    def jobs_data(self) -> Any:
        return self.client("iot-jobs-data")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    @property
    def iam(self) -> Any:
        return self.client("iam")

    @property
    def sts(self) -> Any:
        return self.client("sts")

    def data_endpoint(self) -> str:
        """The URL of the iot-data and iot-jobs-data planes."""
        if self.settings.endpoint_url:
            return self.settings.endpoint_url
        with self._lock:
            if self._data_endpoint is None:
                answer = self.iot.describe_endpoint(endpointType="iot:Data-ATS")
                self._data_endpoint = f"https://{answer['endpointAddress']}"
            return self._data_endpoint

    # Who we are.
    def caller_identity(self) -> dict[str, str]:
        """``sts get_caller_identity`` (Account, Arn, UserId), asked once."""
        with self._lock:
            if self._identity is None:
                answer = self.sts.get_caller_identity()
                self._identity = {key: str(answer[key]) for key in ("Account", "Arn", "UserId")}
            return dict(self._identity)

    def service_time(self) -> dt.datetime:
        """The target's current time (UTC), from the HTTP ``Date`` header of a fresh read.

        AWS stamps every response with its own clock, and the local emulator with its clock (which tests
        and demos move forward). Checks against "now" on the service's side, such as a scheduled job
        starting at least 30 minutes ahead, use this rather than this machine's clock.
        """
        answer = self.sts.get_caller_identity()
        header = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        if not header:
            return dt.datetime.now(dt.timezone.utc)
        return parsedate_to_datetime(header).astimezone(dt.timezone.utc)

    @property
    def account_id(self) -> str:
        return self.caller_identity()["Account"]

    # Life cycle.
    def close(self) -> None:
        """Close every client's connection pool."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> AwsContext:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Construction.
    def _build_session(self) -> boto3.Session:
        settings = self.settings
        kwargs: dict[str, Any] = {"region_name": settings.region}
        if settings.access_key:
            kwargs.update(
                aws_access_key_id=settings.access_key,
                aws_secret_access_key=settings.secret_key,
                aws_session_token=settings.session_token,
            )
        elif settings.profile:
            kwargs["profile_name"] = settings.profile
        elif settings.is_local and not (
            os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY")
        ):
            # The emulator accepts any credentials; dummy ones avoid a slow search of the credential chain.
            kwargs.update(aws_access_key_id=LOCAL_CREDENTIALS[0], aws_secret_access_key=LOCAL_CREDENTIALS[1])
        try:
            return boto3.Session(**kwargs)
        except ProfileNotFound:
            raise UsageError(f"AWS profile {settings.profile!r} is not configured", "--profile") from None

    def _client_config(self, name: str) -> Config:
        options: dict[str, Any] = {
            "region_name": self.region,
            "max_pool_connections": self.settings.concurrency + POOL_HEADROOM,
            # One attempt only: the pacer's needs-retry handler is the single retry policy.
            "retries": {"mode": "standard", "total_max_attempts": 1},
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "user_agent_extra": f"iotfleet/{__version__}",
        }
        if name == "s3":
            # SigV4 everywhere, presigned URLs included (botocore may pick SigV2 for custom endpoints).
            options["signature_version"] = "s3v4"
            if self.settings.endpoint_url:
                options["s3"] = {"addressing_style": "path"}
        return Config(**options)

    def _create_client(self, name: str) -> BaseClient:
        if name in DATA_PLANE_SERVICES:
            endpoint: str | None = self.data_endpoint()
        else:
            endpoint = self.settings.endpoint_url
        try:
            client = self._session.client(name, endpoint_url=endpoint, config=self._client_config(name))
        except ProfileNotFound:
            raise UsageError(
                f"AWS profile {self.settings.profile!r} is not configured", "--profile"
            ) from None
        self.pacer.attach(client)
        if self._api_log is not None:
            self._api_log.attach(client)
        return client

    def _known_secrets(self) -> Iterator[str | None]:
        """Credential values the debug log must never show, including ones resolved by botocore.

        The emulator's dummy credentials are not secret, and hiding the word everywhere would garble the log.
        """
        values = [self.settings.access_key, self.settings.secret_key, self.settings.session_token]
        credentials = self._session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            values += [frozen.access_key, frozen.secret_key, frozen.token]
        for value in values:
            if value and value not in LOCAL_CREDENTIALS:
                yield value
