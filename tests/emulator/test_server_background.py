"""The emulator as a separate process: background start/status/stop, TLS, the CLI, the control client."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError

from iotfleet.emulator import background
from iotfleet.emulator.control import EmulatorControl
from iotfleet.emulator.settings import EmulatorSettings


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IOTFLEET_HOME", str(tmp_path))
    yield tmp_path
    background.stop()


def test_background_start_status_stop(home: Path) -> None:
    assert not background.status().running
    started = background.start(EmulatorSettings(host="127.0.0.1", port=0, enforce_quotas=True))
    try:
        assert started.running and started.pid and started.endpoint_url.startswith("http://127.0.0.1:")
        info = json.loads((home / "emulator.json").read_text())
        assert info["pid"] == started.pid
        assert (home / "emulator.log").read_text().startswith("iotfleet emulator listening on ")
        with pytest.raises(background.BackgroundError, match="already running"):
            background.start(EmulatorSettings(host="127.0.0.1", port=0))
        port = int(started.endpoint_url.rsplit(":", 1)[1])
        assert background.ensure_running("127.0.0.1", port) == (started.endpoint_url, False)
        control = EmulatorControl(started.endpoint_url)
        assert control.quotas()["enforce"] is True
        iot = boto3.session.Session().client(
            "iot", endpoint_url=started.endpoint_url, region_name="us-east-1",
            aws_access_key_id="k", aws_secret_access_key="s", config=Config(retries={"total_max_attempts": 1}),
        )  # fmt: skip
        iot.create_thing(thingName="remote")
        assert control.counters()["iot:CreateThing"]["calls"] == 1
    finally:
        assert background.stop() is True
    assert not background.status().running
    assert not (home / "emulator.json").exists()
    assert background.stop() is False


def test_ensure_running_starts_one_when_none_answers(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    # Its MQTT endpoint would take AWS IoT's port 8883, which another process on the machine may hold.
    monkeypatch.setattr(background, "default_mqtt_port", lambda _port: 0)

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint, started = background.ensure_running("127.0.0.1", port)
    assert (endpoint, started) == (f"http://127.0.0.1:{port}", True)
    assert background.ensure_running("127.0.0.1", port) == (endpoint, False)


def test_start_failure_reports_the_log(home: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(background.BackgroundError, match="in use"):
            background.start(EmulatorSettings(host="127.0.0.1", port=port))


def test_tls_describe_endpoint_builds_a_working_https_url(home: Path) -> None:
    started = background.start(EmulatorSettings(host="127.0.0.1", port=0, tls=True))
    assert started.endpoint_url.startswith("https://localhost:")
    ca = started.ca_path
    assert ca and Path(ca).exists()
    config = Config(retries={"total_max_attempts": 1})
    session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    iot = session.client("iot", endpoint_url=started.endpoint_url, verify=ca, config=config)
    iot.create_thing(thingName="secure")
    address = iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
    assert ":" in address and "://" not in address
    # As AWS documents: the data plane is https://<endpointAddress>.
    data = session.client("iot-data", endpoint_url=f"https://{address}", verify=ca, config=config)
    data.update_thing_shadow(thingName="secure", payload=b'{"state":{"reported":{"ok":true}}}')
    assert json.loads(data.get_thing_shadow(thingName="secure")["payload"].read())["state"]["reported"] == {"ok": True}
    assert requests.get(f"https://{address}/_emulator/health", verify=ca, timeout=10).json()["tls"] is True
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://{address}/_emulator/health", timeout=10)


def test_device_code_downloading_presigned_urls_with_requests_trusts_requests_ca_bundle(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the README says next to TLS: boto3 reads AWS_CA_BUNDLE, requests reads REQUESTS_CA_BUNDLE."""
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    started = background.start(EmulatorSettings(host="127.0.0.1", port=0, tls=True))
    assert started.ca_path
    monkeypatch.setenv("AWS_CA_BUNDLE", started.ca_path)  # enough for boto3 ...
    session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name="us-east-1")
    config = Config(retries={"total_max_attempts": 1}, s3={"addressing_style": "path"})
    s3, iot, jobs = (
        session.client(service, endpoint_url=started.endpoint_url, config=config)
        for service in ("s3", "iot", "iot-jobs-data")
    )
    s3.create_bucket(Bucket="firmware")
    s3.put_object(Bucket="firmware", Key="fw.bin", Body=b"firmware image")
    group = iot.create_thing_group(thingGroupName="fleet")["thingGroupArn"]
    iot.create_thing(thingName="dev-1")
    iot.add_thing_to_thing_group(thingGroupName="fleet", thingName="dev-1")
    iot.create_job(
        jobId="ota",
        targets=[group],
        document=json.dumps({"url": "${aws:iot:s3-presigned-url:https://s3.amazonaws.com/firmware/fw.bin}"}),
        presignedUrlConfig={"roleArn": "arn:aws:iam::123456789012:role/iot-presign", "expiresInSec": 300},
    )
    execution = jobs.start_next_pending_job_execution(thingName="dev-1")["execution"]
    url = json.loads(execution["jobDocument"])["url"]
    assert url.startswith("https://localhost:")
    # ... but not for requests, which device code downloads with.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, timeout=10)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", started.ca_path)
    assert requests.get(url, timeout=10).content == b"firmware image"


def test_cli_local_start_status_stop(home: Path) -> None:
    from click.testing import CliRunner

    from iotfleet.cli.main import cli

    runner = CliRunner()
    started = runner.invoke(cli, ["--output", "json", "local", "start", "--port", "0"])
    assert started.exit_code == 0, started.output
    document = json.loads(started.stdout)
    assert document["running"] is True
    status = runner.invoke(cli, ["local", "status"])
    assert status.exit_code == 0 and document["endpoint_url"] in status.stdout
    # The MQTT endpoint (on by default; a free port with --port 0) and the CA that signs its certificate.
    described = json.loads(runner.invoke(cli, ["--output", "json", "local", "status"]).stdout)
    host, port = described["mqtt_endpoint"].rsplit(":", 1)
    assert host == "localhost" and int(port) > 0 and Path(described["ca_certificate"]).is_file()
    assert described["mqtt_endpoint"] in status.stdout and "MQTT endpoint" in status.stdout
    assert background.health(described["endpoint_url"])["mqtt_ca"] == described["ca_certificate"]
    stopped = runner.invoke(cli, ["local", "stop"])
    assert stopped.exit_code == 0 and "Stopped" in stopped.stderr
    assert runner.invoke(cli, ["local", "status"]).exit_code == 1


def test_cli_local_start_injects_the_faults_it_is_given(home: Path) -> None:
    from click.testing import CliRunner

    from iotfleet.cli.main import cli

    runner = CliRunner()
    started = runner.invoke(cli, ["--output", "json", "local", "start", "--port", "0", "--no-mqtt", "--fault-rate", "1",
                                  "--fault-after", "1", "--fault-seed", "5"])  # fmt: skip
    assert started.exit_code == 0, started.output
    url = json.loads(started.stdout)["endpoint_url"]
    try:
        faults = EmulatorControl(url).faults()
        assert (faults["rate"], faults["after"], faults["seed"]) == (1.0, 1.0, 5)
        iot = boto3.client("iot", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                           aws_secret_access_key="testing", config=Config(retries={"max_attempts": 1}))  # fmt: skip
        with pytest.raises((ClientError, ConnectionClosedError)):
            iot.create_thing(thingName="after-the-fault")
        EmulatorControl(url).set_faults(0.0)
        assert iot.describe_thing(thingName="after-the-fault")["thingName"] == "after-the-fault"  # it took effect
    finally:
        assert runner.invoke(cli, ["local", "stop"]).exit_code == 0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault-rate", "2"], "--fault-rate must be between 0 and 1"),
        (["--quota", "CreateThing"], "--quota"),
        (["--time-scale", "0"], "must be positive"),
    ],
)
def test_module_entry_point_rejects_bad_settings(argv, message, capsys) -> None:
    from iotfleet.emulator.__main__ import main

    assert main(argv) == 2
    assert message in capsys.readouterr().err
