"""CLI fixtures: run ``iotfleet`` in-process with a clean environment, against a moto endpoint over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from moto.server import ThreadedMotoServer

from iotfleet.cli.main import cli, run

# Variables that would let the developer's own AWS or iotfleet setup leak into a test.
_SCRUBBED = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "IOTFLEET_TARGET",
    "IOTFLEET_DEBUG",
    "IOTFLEET_QUOTAS",
    "IOTFLEET_CONCURRENCY",
    "IOTFLEET_CONFIG",
)


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Ran]


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in _SCRUBBED:
        monkeypatch.delenv(name, raising=False)
    env = {
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def invoke(clean_env: dict[str, str]) -> Invoke:
    """Run ``iotfleet ARGS`` through the real entry point's error handling; stdin is never a terminal."""

    def call(*args: str, env: Mapping[str, str] | None = None, stdin: str | None = None) -> Ran:
        runner = CliRunner()
        with runner.isolation(input=stdin, env=dict(env or {})) as (out, err, _):
            code = run(list(args))
        return Ran(code, out.getvalue().decode(), err.getvalue().decode())

    return call


@pytest.fixture
def extra_command() -> Iterator[Callable[[click.Command], None]]:
    """Register a test-only subcommand on the real group for one test."""
    added: list[str] = []

    def add(command: click.Command) -> None:
        assert command.name is not None
        cli.add_command(command)
        added.append(command.name)

    yield add
    for name in added:
        cli.commands.pop(name, None)
