"""A private emulator process for tests and benchmarks: it comes up with the settings asked for and goes away."""

from __future__ import annotations

import socket

import pytest

from iotfleet.emulator.background import BackgroundError, emulator_process, health
from iotfleet.emulator.control import EmulatorControl
from iotfleet.emulator.settings import EmulatorSettings


def test_the_child_emulator_serves_then_stops() -> None:
    with emulator_process(EmulatorSettings(time_scale=60, enforce_quotas=True)) as url:
        assert health(url) is not None
        control = EmulatorControl(url)
        assert control.quotas()["enforce"] is True
        before = control.now()
        control.advance(600)
        assert control.now() - before >= 600
    assert health(url) is None


def test_a_child_that_cannot_start_says_why() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        settings = EmulatorSettings(port=taken.getsockname()[1])
        with pytest.raises(BackgroundError, match="did not come up"), emulator_process(settings, timeout=10):
            pass
