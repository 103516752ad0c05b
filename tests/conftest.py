"""Shared test setup: the emulator fixtures (one server per session, state wiped per test)."""

pytest_plugins = ["iotfleet.emulator.pytest_plugin"]
