"""Shared test setup: the emulator fixtures (one server per session, state wiped per test), and an iotfleet home
of the tests' own, so key stores and emulator files never touch the developer's ``~/.iotfleet``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest_plugins = ["iotfleet.emulator.pytest_plugin"]


@pytest.fixture(autouse=True, scope="session")
def _isolated_iotfleet_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("IOTFLEET_HOME", str(tmp_path_factory.mktemp("iotfleet-home")))
        yield
