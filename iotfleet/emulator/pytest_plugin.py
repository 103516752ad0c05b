"""pytest fixtures for tests that talk to the emulator over HTTP with boto3.

One emulator server runs for the whole test session; the function-scoped ``emulator`` fixture wipes
its state before each test, so tests are isolated and still fast. Per-test settings come from a
marker::

    @pytest.mark.emulator(enforce_quotas=True, quota_overrides={"iot:CreateThing": 5})
    @pytest.mark.emulator(fault_rate=0.2, fault_seed=7, fault_operations=["iot:CreateThing"])

Fixtures: ``emulator`` (the :class:`LocalEmulator`: ``endpoint_url``, ``clock``, ``advance()``,
``counters()``, ...), ``make_client(service)`` (a boto3 client for the emulator: dummy credentials,
us-east-1, path-style S3, no retries) and ``boto_clients`` (``.iot``, ``.iot_data``, ``.jobs_data``,
``.s3``, ``.iam``, ``.sts``). Enable with ``pytest_plugins = ["iotfleet.emulator.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from iotfleet.emulator.inprocess import LocalEmulator

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CLIENT_CONFIG = Config(
    retries={"total_max_attempts": 1, "mode": "standard"},
    s3={"addressing_style": "path"},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=64,
)
_MARKER_SETTINGS = ("enforce_quotas", "quota_overrides", "quota_scale", "fault_rate", "fault_seed", "fault_operations", "fault_after",
                    "time_scale")  # fmt: skip

MakeClient = Callable[..., BaseClient]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "emulator(**settings): per-test emulator settings (enforce_quotas, quota_overrides, quota_scale, "
        "fault_rate, fault_seed, fault_operations, fault_after, time_scale)",
    )


def client_for(endpoint_url: str, service: str, config: Config | None = None) -> BaseClient:
    """A boto3 client for the emulator (dummy credentials, us-east-1, path-style S3, no retries)."""
    merged = CLIENT_CONFIG.merge(config) if config is not None else CLIENT_CONFIG
    return boto3.session.Session().client(  # type: ignore[no-any-return]
        service, endpoint_url=endpoint_url, region_name=REGION, config=merged, **CREDENTIALS
    )


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[LocalEmulator]:
    """The session's one in-process emulator (prefer the function-scoped ``emulator`` fixture)."""
    with LocalEmulator() as server:
        yield server


@pytest.fixture
def emulator(emulator_server: LocalEmulator, request: pytest.FixtureRequest) -> LocalEmulator:
    """The emulator, wiped clean for this test and configured by its ``emulator`` marker."""
    emulator_server.reset()
    marker = request.node.get_closest_marker("emulator")
    settings: dict[str, Any] = dict(marker.kwargs) if marker else {}
    unknown = set(settings) - set(_MARKER_SETTINGS)
    if unknown:
        raise pytest.UsageError(f"unknown emulator marker settings: {', '.join(sorted(unknown))}")
    if any(k in settings for k in ("enforce_quotas", "quota_overrides", "quota_scale")):
        emulator_server.set_quotas(
            enforce=settings.get("enforce_quotas", True),
            overrides=settings.get("quota_overrides"),
            scale=settings.get("quota_scale"),
        )
    if "fault_rate" in settings:
        emulator_server.set_faults(
            settings["fault_rate"], settings.get("fault_seed", 0), settings.get("fault_operations"),
            settings.get("fault_after", 0.0),
        )
    if "time_scale" in settings:
        emulator_server.clock.set_time_scale(settings["time_scale"])
    return emulator_server


_clients: dict[tuple[str, str], BaseClient] = {}


@pytest.fixture
def make_client(emulator: LocalEmulator) -> MakeClient:
    """``make_client("iot")`` -> a boto3 client for the emulator; ``make_client("s3", config=Config(...))``."""

    def make(service: str, config: Config | None = None) -> BaseClient:
        if config is not None:
            return client_for(emulator.endpoint_url, service, config)
        key = (emulator.endpoint_url, service)
        if key not in _clients:
            _clients[key] = client_for(emulator.endpoint_url, service)
        return _clients[key]

    return make


class BotoClients:
    """Lazily built clients of every service the emulator serves."""

    def __init__(self, make: MakeClient) -> None:
        self._make = make

    @property
    def iot(self) -> BaseClient:
        return self._make("iot")

    @property
    def iot_data(self) -> BaseClient:
        return self._make("iot-data")

    @property
    def jobs_data(self) -> BaseClient:
        return self._make("iot-jobs-data")

    @property
    def s3(self) -> BaseClient:
        return self._make("s3")

    @property
    def iam(self) -> BaseClient:
        return self._make("iam")

    @property
    def sts(self) -> BaseClient:
        return self._make("sts")


@pytest.fixture
def boto_clients(make_client: MakeClient) -> BotoClients:
    return BotoClients(make_client)
