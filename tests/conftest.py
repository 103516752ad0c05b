"""Shared test setup: the emulator fixtures (one server per session, state wiped per test), and an iotfleet home
of the tests' own, so key stores and emulator files never touch the developer's ``~/.iotfleet``."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

pytest_plugins = ["iotfleet.emulator.pytest_plugin"]

# A shell starts background jobs with SIGINT ignored, and processes inherit that, so the Ctrl-C tests (in this
# process and in the scripts it starts) would see no interrupt. The suite always runs with Python's own handler.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Property tests judge the code, not the machine: on a busy machine example generation can be slow, and that
# alone must not fail a test.
settings.register_profile("iotfleet", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile("iotfleet")


@pytest.fixture(autouse=True, scope="session")
def _isolated_iotfleet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOTFLEET_HOME", str(tmp_path_factory.mktemp("iotfleet-home")))
        yield
