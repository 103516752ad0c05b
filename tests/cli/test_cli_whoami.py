"""``iotfleet whoami`` against a moto endpoint over real HTTP, and the local-emulator hook."""

from __future__ import annotations

import json
import re
import sys
import types

import pytest


def test_whoami_prints_target_account_region_endpoints_and_caller(invoke, moto_url) -> None:
    ran = invoke("--target", "local", "--endpoint-url", moto_url, "--region", "eu-west-1", "whoami")
    assert ran.exit_code == 0, ran.stderr
    lines = dict(re.split(r"\s{2,}", line, maxsplit=1) for line in ran.stdout.splitlines())
    assert lines["Target"] == "local"
    assert lines["Account"] == "123456789012"
    assert lines["Region"] == "eu-west-1"
    assert lines["Endpoint"] == moto_url
    assert lines["Data endpoint"] == moto_url
    assert lines["Caller"] == "arn:aws:sts::123456789012:user/moto"


def test_whoami_json(invoke, moto_url) -> None:
    ran = invoke("--output", "json", "--endpoint-url", moto_url, "whoami", env={"IOTFLEET_TARGET": "local"})
    assert ran.exit_code == 0, ran.stderr
    info = json.loads(ran.stdout)
    assert info == {
        "target": "local",
        "account": "123456789012",
        "region": "us-east-1",
        "endpoint": moto_url,
        "data_endpoint": moto_url,
        "caller_arn": "arn:aws:sts::123456789012:user/moto",
        "profile": None,
    }


def test_whoami_debug_logs_the_calls_to_stderr_only(invoke, moto_url) -> None:
    ran = invoke("--target", "local", "--endpoint-url", moto_url, "--debug", "--output", "json", "whoami")
    assert ran.exit_code == 0, ran.stderr
    assert json.loads(ran.stdout)["account"] == "123456789012"
    assert "api sts:GetCallerIdentity -> HTTP 200" in ran.stderr
    assert "AKIA" not in ran.stderr  # moto's UserId is an access key id: redacted


def test_local_target_starts_the_emulator_through_the_hook(invoke, moto_url, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int]] = []

    def ensure_running(host: str, port: int) -> tuple[str, bool]:
        calls.append((host, port))
        return moto_url, True

    fake = types.ModuleType("iotfleet.emulator.background")
    fake.ensure_running = ensure_running  # type: ignore[attr-defined]
    fake.BackgroundError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "iotfleet.emulator.background", fake)
    ran = invoke("--target", "local", "--output", "json", "whoami")
    assert ran.exit_code == 0, ran.stderr
    assert calls == [("127.0.0.1", 4567)]
    assert f"Started the local emulator at {moto_url}" in ran.stderr
    assert json.loads(ran.stdout)["endpoint"] == moto_url


def test_an_explicit_endpoint_skips_the_emulator_hook(invoke, moto_url, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("iotfleet.emulator.background")
    fake.ensure_running = lambda host, port: pytest.fail("the hook must not run")  # type: ignore[attr-defined]
    fake.BackgroundError = RuntimeError  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "iotfleet.emulator.background", fake)
    ran = invoke("--target", "local", "--endpoint-url", moto_url, "whoami")
    assert ran.exit_code == 0, ran.stderr
    assert "Started the local emulator" not in ran.stderr


def test_a_background_emulator_elsewhere_is_a_usage_error(invoke, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from iotfleet.emulator import background
    from iotfleet.emulator.settings import EmulatorSettings

    monkeypatch.setenv("IOTFLEET_HOME", str(tmp_path / "home"))
    running = background.start(EmulatorSettings(host="127.0.0.1", port=0))
    try:
        ran = invoke("--target", "local", "whoami", env={"IOTFLEET_HOME": str(tmp_path / "home")})
    finally:
        background.stop()
    assert ran.exit_code == 2
    assert running.endpoint_url in ran.stderr and "Traceback" not in ran.stderr
