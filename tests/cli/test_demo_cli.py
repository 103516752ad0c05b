"""``iotfleet demo``: the whole life cycle on an emulator, the default in-process run, and the AWS confirmation."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet import demo
from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.simulate.transport import MqttSettings

MUTATING = (
    "Create",
    "Update",
    "Delete",
    "Put",
    "Publish",
    "Tag",
    "Add",
    "Remove",
    "Attach",
    "Cancel",
    "Deprecate",
)


def steps(document: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {step["step"]: step for step in document["steps"]}


@pytest.mark.emulator(time_scale=120)
def test_the_demo_takes_a_fleet_through_the_life_cycle_and_cleans_up(
    invoke: Any, emulator: LocalEmulator, boto_clients: Any, tmp_path: Path
) -> None:
    report = tmp_path / "report.html"
    ran = invoke(
        "--output", "json", "--target", "local", "--endpoint-url", emulator.endpoint_url,
        "demo", "--devices", "20", "--report", str(report), "--interval", "0.5",
    )  # fmt: skip
    assert ran.exit_code == 0, ran.stderr
    done = steps(json.loads(ran.stdout))
    assert sorted(done) == list(range(1, 11))

    # Every device got its certificate, and every job's devices ran over MQTT with it.
    assert done[1]["summary"]["counts"]["certificate"]["created"] == 20
    for step in (4, 7):
        assert set(done[step]["transports"]) == set(done[step]["outcomes"])
        assert set(done[step]["transports"].values()) == {"mqtt"}
    counted = emulator.counters()
    executions = sum(sum(o.values()) for step in (4, 7) for o in done[step]["outcomes"].values())
    assert counted["mqtt:Connect"]["calls"] >= executions > 0
    assert "iot-jobs-data:UpdateJobExecution" in counted  # counted as an operation over MQTT too
    members = done[2]["members"]
    assert 0 < members <= 20
    # The faulty release: its canary fails the gate, the devices that took it go back, later waves never start.
    faulty = done[4]
    assert faulty["state"] == "ROLLED_BACK"
    assert [w["status"] for w in faulty["waves"]] == ["FAILED", "PENDING", "PENDING"]
    assert [w["jobId"] for w in faulty["waves"][1:]] == [None, None]
    canary = faulty["waves"][0]
    canary_outcomes = faulty["outcomes"][canary["jobId"]]
    assert sum(canary_outcomes.values()) == canary["devices"]  # every canary device ran the job once
    assert 0 < canary_outcomes["succeeded"] < canary["devices"]
    assert faulty["rollback"]["devices"] == canary_outcomes["succeeded"]  # exactly the devices on 1.1.0
    assert faulty["outcomes"][faulty["rollback"]["jobId"]]["succeeded"] == canary_outcomes["succeeded"]
    after_failure = done[5]["distribution"]["versions"]
    assert after_failure == {demo.OLD_VERSION: 20, demo.FAULTY_VERSION: 0}
    # The fixed release: every wave passes, every device of the group gets it, once.
    fixed = done[7]
    assert fixed["state"] == "COMPLETED"
    assert [w["gate"] for w in fixed["waves"]] == ["PASSED"] * 3
    assert sum(w["devices"] for w in fixed["waves"]) == members
    assert sum(o["succeeded"] for o in fixed["outcomes"].values()) == members
    assert sum(sum(o.values()) for o in fixed["outcomes"].values()) == members
    final = done[9]["final"]["versions"]
    assert final[demo.FIXED_VERSION] == members and final[demo.OLD_VERSION] == 20 - members
    assert done[9]["before"]["versions"] == {demo.OLD_VERSION: 20}
    assert done[9]["afterFailure"]["versions"] == after_failure
    assert report.is_file() and "<html" in report.read_text()[:200].lower()
    assert "Rollout demo-1_1_1" in report.read_text()

    # Cleaned up: no thing, job or bucket of the demo fleet is left.
    things = boto_clients.iot.list_things(attributeName=FLEET_ATTRIBUTE, attributeValue=demo.DEMO_FLEET)[
        "things"
    ]
    assert things == []
    assert boto_clients.s3.list_buckets()["Buckets"] == []
    assert boto_clients.iot.list_thing_types()["thingTypes"] == []
    assert [j for j in boto_clients.iot.list_jobs()["jobs"] if j["status"] != "DELETION_IN_PROGRESS"] == []
    assert boto_clients.iot.list_thing_groups()["thingGroups"] == []


def test_aws_runs_only_after_a_confirmation_naming_account_region_and_cost(
    invoke: Any, emulator: LocalEmulator
) -> None:
    credentials = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    ran = invoke(
        "--target",
        "aws",
        "--region",
        "eu-west-1",
        "--endpoint-url",
        emulator.endpoint_url,
        "demo",
        env=credentials,
    )
    assert ran.exit_code == 2
    assert "123456789012" in ran.stderr and "eu-west-1" in ran.stderr and "Estimated cost" in ran.stderr
    assert "MQTT messages" in ran.stderr and "connection-minutes" in ran.stderr
    assert "--yes" in ran.stderr
    changed = {
        key
        for key, count in emulator.counters().items()
        if count["calls"] and key.split(":")[1].startswith(MUTATING)
    }
    assert changed == set()


def test_the_default_demo_runs_on_an_emulator_inside_the_process(tmp_path: Path) -> None:
    command = [
        sys.executable, "-c", "from iotfleet.cli.main import main; main()", "--output", "json",
        "demo", "--devices", "8", "--time-scale", "300", "--failure-weights", "download=1,checksum=1",
    ]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_EC2_METADATA_DISABLED": "true"}
    ran = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "an emulator inside this process" in ran.stderr
    done = steps(json.loads(ran.stdout))
    assert done[10]["summary"]["thing"]["deleted"] == 8
    assert done[1]["summary"]["counts"]["certificate"]["created"] == 8
    assert {t for step in (4, 7) for t in done[step]["transports"].values()} == {"mqtt"}
    assert "devices over MQTT" in ran.stderr
    assert (tmp_path / "iotfleet-demo-report.html").is_file()


def test_the_cost_estimate_grows_with_the_fleet() -> None:
    small = demo.estimate_cost(demo.DemoConfig(devices=100))
    large = demo.estimate_cost(demo.DemoConfig(devices=1000))
    assert small.remote_actions == 140  # the canary (a fifth), its rollback, then every device
    assert 0 < small.dollars < large.dollars
    assert small.as_dict()["pricing"] == demo.PRICING_URL
    assert small.mqtt_messages == small.connection_minutes == 0  # devices over HTTPS
    over_mqtt = demo.estimate_cost(demo.DemoConfig(devices=100, mqtt=MqttSettings()))
    assert over_mqtt.mqtt_messages == 140 * (demo.MQTT_MESSAGES_PER_EXECUTION + demo.MQTT_MESSAGES_PER_CONNECTION)
    assert over_mqtt.connection_minutes == 140 * demo.MINUTES_PER_CONNECTION
    assert over_mqtt.dollars > small.dollars
