"""One settings object for every way of running the emulator, and its command line for another process."""

from __future__ import annotations

import sys

from iotfleet.emulator.__main__ import parser
from iotfleet.emulator.settings import DEFAULT_MQTT_PORT, DEFAULT_PORT, MODULE, EmulatorSettings


def parsed(command: list[str]) -> EmulatorSettings:
    assert command[:3] == [sys.executable, "-m", MODULE]
    return EmulatorSettings.from_namespace(parser().parse_args(command[3:]))


def test_the_command_line_carries_every_setting_to_the_other_process() -> None:
    settings = EmulatorSettings(
        host="0.0.0.0",
        port=4600,
        tls=True,
        enforce_quotas=True,
        quota_overrides={"iot:CreateThing": 5.0, "s3:*": 2.5},
        quota_scale=0.5,
        fault_rate=0.25,
        fault_seed=7,
        fault_operations=["iot:CreateThing", "iot-jobs-data:*"],
        time_scale=60.0,
        search_mode="scan",
        mqtt_port=1884,
    )
    assert parsed(settings.command_line()) == settings
    without_mqtt = EmulatorSettings(port=4600, mqtt=False)
    assert "--no-mqtt" in without_mqtt.command_line()
    assert parsed(without_mqtt.command_line()).mqtt is False


def test_default_settings_give_a_short_command_line() -> None:
    assert EmulatorSettings().command_line() == [sys.executable, "-m", MODULE, "--host", "127.0.0.1", "--port", "0"]
    assert parsed(EmulatorSettings().command_line()) == EmulatorSettings()
    assert parsed([sys.executable, "-m", MODULE]) == EmulatorSettings(port=DEFAULT_PORT, mqtt_port=DEFAULT_MQTT_PORT)
    assert parsed([sys.executable, "-m", MODULE, "--port", "0"]).mqtt_port == 0  # both ports picked freely


def test_settings_keep_their_own_copies() -> None:
    overrides = {"iot:CreateThing": 5.0}
    operations = ["iot:CreateThing"]
    settings = EmulatorSettings(quota_overrides=overrides, fault_operations=operations)
    overrides["iot:DeleteThing"] = 1.0
    operations.append("iot:DeleteThing")
    assert settings.quota_overrides == {"iot:CreateThing": 5.0}
    assert settings.fault_operations == ("iot:CreateThing",)
