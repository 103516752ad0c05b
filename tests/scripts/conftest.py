"""Script fixtures: the emulator as its own server process, and the scripts run on a pseudo-terminal against it.

The scripts find the emulator the way a person's shell would tell them: ``IOTFLEET_TARGET=local`` and
``AWS_ENDPOINT_URL``, with an isolated ``IOTFLEET_HOME`` and no AWS or iotfleet settings from the developer's
environment.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.client import BaseClient

from iotfleet.emulator.background import emulator_process
from iotfleet.emulator.control import EmulatorControl
from iotfleet.emulator.pytest_plugin import client_for
from iotfleet.emulator.settings import EmulatorSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from script_terminal import RunScript, Terminal

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
# Emulator seconds per real second: the 5-minute thing-type wait of cleanup takes 2.5 real seconds,
# and presigned URLs (an hour) and device steps still have time to spare on a busy machine.
TIME_SCALE = 120
# Settings of the developer's environment that must not reach the scripts.
_SCRUBBED = ("AWS_", "IOTFLEET_", "XDG_CONFIG_HOME", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """``python -m iotfleet.emulator`` in its own process with its clock sped up; yields its URL."""
    with emulator_process(EmulatorSettings(time_scale=TIME_SCALE)) as url:
        yield url


@pytest.fixture
def control(emulator_url: str) -> EmulatorControl:
    """The emulator's control API (reset, call counters)."""
    return EmulatorControl(emulator_url)


@pytest.fixture
def fresh_emulator(emulator_url: str, control: EmulatorControl) -> str:
    """The emulator with its state wiped, for a test that owns it."""
    control.reset()
    return emulator_url


@pytest.fixture
def script_env(emulator_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a shell that chose the local emulator at ``emulator_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}
    env.update(
        IOTFLEET_TARGET="local",
        AWS_ENDPOINT_URL=emulator_url,
        IOTFLEET_HOME=str(tmp_path / "iotfleet-home"),
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
        TERM="xterm-256color",
    )
    return env


@pytest.fixture
def run_script(script_env: dict[str, str], tmp_path: Path) -> Iterator[RunScript]:
    """Start ``python scripts/NAME ARGS`` on a pseudo-terminal; every terminal is closed after the test."""
    started: list[Terminal] = []

    def start(name: str, *args: str, timeout: float = 30.0) -> Terminal:
        command = [sys.executable, str(SCRIPTS / name), *args]
        terminal = Terminal.spawn(command, env=script_env, cwd=str(tmp_path), timeout=timeout)
        started.append(terminal)
        return terminal

    yield start
    for terminal in started:
        terminal.close()


@pytest.fixture
def aws(emulator_url: str) -> Callable[[str], BaseClient]:
    """Plain boto3 clients for the same emulator, to check what the scripts did."""
    return lambda service: client_for(emulator_url, service)
