"""The emulator's MQTT endpoint: who may connect, publish and subscribe, and the jobs, shadow and lifecycle
topics, with real TLS connections (client certificates) and the fleet's own IoT policy."""

from __future__ import annotations

import gc
import json
import queue
import socket
import ssl
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from certificate_setup import ACCOUNT, REGION, new_ca, registered_ca
from gmqtt.mqtt.handler import MQTTConnectError
from mqtt_client import TestClient

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.emulator.mqtt.broker import TICK_SECONDS, Broker
from iotfleet.fleet.identity import certificates as x509_tools
from iotfleet.fleet.identity.policy import policy_document, policy_text

POLICY = "fleet-device"


@dataclass
class Device:
    thing: str
    cert_file: str
    key_file: str
    certificate_id: str
    certificate_arn: str


def enrol(iot: Any, ca: Any, thing: str, folder: Path, *, active: bool = True, register: bool = True) -> Device:
    """A thing with a certificate of ``ca`` (registered unless told otherwise) and the fleet policy."""
    iot.create_thing(thingName=thing)
    key, leaf = x509_tools.sign_device_certificate(ca.key, ca.certificate, thing, x509_tools.dt.datetime.now(
        x509_tools.dt.timezone.utc))
    pem = x509_tools.certificate_pem(leaf)
    cert_file, key_file = folder / f"{thing}.pem", folder / f"{thing}.key"
    cert_file.write_text(pem)
    key_file.write_bytes(x509_tools.private_key_pem(key))
    certificate_id = certificate_arn = ""
    if register:
        answer = iot.register_certificate(certificatePem=pem, caCertificatePem=ca.pem, setAsActive=active)
        certificate_id, certificate_arn = answer["certificateId"], answer["certificateArn"]
        iot.attach_policy(policyName=POLICY, target=certificate_arn)
        iot.attach_thing_principal(thingName=thing, principal=certificate_arn)
    return Device(thing, str(cert_file), str(key_file), certificate_id, certificate_arn)


@pytest.fixture
def fleet(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> Any:
    iot = boto_clients.iot
    ca = registered_ca(iot)
    iot.create_policy(policyName=POLICY, policyDocument=policy_text(policy_document("aws", REGION, ACCOUNT)))
    clients: list[TestClient] = []

    class Fleet:
        def __init__(self) -> None:
            self.ca = ca

        def device(self, thing: str, **kwargs: Any) -> Device:
            return enrol(iot, ca, thing, tmp_path, **kwargs)

        def client(self, device: Device, client_id: str | None = None, version: int = 5) -> TestClient:
            client = TestClient(emulator.mqtt_endpoint or "", emulator.ca_path or "", device.cert_file,
                                device.key_file, client_id or device.thing, version=version)  # fmt: skip
            clients.append(client)
            return client

    yield Fleet()
    for client in clients:
        client.close()


def test_a_device_connects_with_its_certificate_and_talks_to_its_own_topics(fleet: Any) -> None:
    device = fleet.device("dev-1")
    client = fleet.client(device).connect()
    assert client.subscribe("$aws/things/dev-1/jobs/notify-next", "$aws/things/dev-1/shadow/update/accepted") == [1, 1]
    client.publish("$aws/things/dev-1/jobs/get", {"clientToken": "t-1"})
    answer = client.next_message("$aws/things/dev-1/jobs/get/accepted")
    assert answer["clientToken"] == "t-1" and answer["inProgressJobs"] == [] and answer["queuedJobs"] == []


def test_an_unknown_certificate_is_refused(fleet: Any, tmp_path: Path) -> None:
    unregistered = fleet.device("dev-1", register=False)  # signed by the registered CA, never registered
    with pytest.raises((MQTTConnectError, ConnectionError, ssl.SSLError, OSError, TimeoutError)):
        fleet.client(unregistered).connect()
    stranger_ca = new_ca("other")  # and one whose CA was never registered at all: the TLS handshake fails
    _, leaf = x509_tools.sign_device_certificate(stranger_ca.key, stranger_ca.certificate, "dev-1", x509_tools.dt.datetime.now(
        x509_tools.dt.timezone.utc))
    (tmp_path / "stranger.pem").write_text(x509_tools.certificate_pem(leaf))
    stranger = Device("dev-1", str(tmp_path / "stranger.pem"), unregistered.key_file, "", "")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError, TimeoutError)):
        fleet.client(stranger).connect()


def test_an_inactive_certificate_is_refused(fleet: Any, boto_clients: Any) -> None:
    device = fleet.device("dev-1", active=False)
    with pytest.raises((MQTTConnectError, ConnectionError, OSError, TimeoutError)):
        fleet.client(device).connect()
    boto_clients.iot.update_certificate(certificateId=device.certificate_id, newStatus="ACTIVE")
    fleet.client(device).connect()


def test_an_active_certificate_of_an_inactive_ca_is_refused(fleet: Any, boto_clients: Any) -> None:
    iot = boto_clients.iot
    device = fleet.device("dev-1")
    iot.update_ca_certificate(certificateId=fleet.ca.certificate_id, newStatus="INACTIVE")
    assert iot.describe_certificate(certificateId=device.certificate_id)["certificateDescription"]["status"] == "ACTIVE"
    with pytest.raises(ConnectionError, match="without a CONNACK"):  # the TLS handshake passed; the login did not
        fleet.client(device).connect()
    iot.update_ca_certificate(certificateId=fleet.ca.certificate_id, newStatus="ACTIVE")
    assert fleet.client(device).connect().subscribe("$aws/things/dev-1/jobs/notify-next") == [1]


@pytest.mark.parametrize("version", [5, 3])
def test_connecting_as_another_things_client_id_is_not_authorised(fleet: Any, version: int) -> None:
    mine = fleet.device("dev-1")
    fleet.device("dev-2")
    with pytest.raises(MQTTConnectError):
        fleet.client(mine, client_id="dev-2", version=version).connect()
    with pytest.raises(MQTTConnectError):
        fleet.client(mine, client_id="no-such-thing", version=version).connect()


def test_a_publish_to_another_things_jobs_topic_disconnects_the_client(fleet: Any, boto_clients: Any) -> None:
    mine, theirs = fleet.device("dev-1"), fleet.device("dev-2")
    iot = boto_clients.iot
    iot.create_job(jobId="j1", targets=[iot.describe_thing(thingName="dev-2")["thingArn"]], document='{"op": "x"}')
    client = fleet.client(mine).connect()
    assert client.subscribe("$aws/things/dev-2/jobs/notify-next") in ([0x87], [0x80])  # refused, not disconnected
    client.publish("$aws/things/dev-2/jobs/j1/update", {"status": "SUCCEEDED"})
    assert client.closed.wait(5)
    execution = iot.describe_job_execution(jobId="j1", thingName=theirs.thing)["execution"]
    assert execution["status"] == "QUEUED"


def test_policies_the_emulator_cannot_evaluate_are_refused_at_creation(boto_clients: Any) -> None:
    iot = boto_clients.iot
    for statement in (
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*", "Condition": {"IpAddress": {"aws:SourceIp": "1.2.3.4"}}},
        {"Effect": "Allow", "Action": "iot:Publish", "Resource": "arn:aws:iot:us-east-1:1:topic/${iot:Domain}/x"},
        {"Effect": "Allow", "Action": "iot:Connect", "Resource": "*",
         "Condition": {"StringEquals": {"iot:ConnectAttributes": "PersistentConnect"}}},
    ):  # fmt: skip
        with pytest.raises(ClientError) as refused:
            iot.create_policy(policyName="p", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [statement]}))
        assert refused.value.response["Error"]["Code"] == "NotImplementedException"
        assert "does not evaluate" in refused.value.response["Error"]["Message"]
    assert iot.list_policies()["policies"] == []


def test_jobs_topics_notify_start_and_update_on_the_jobs_engine(fleet: Any, boto_clients: Any) -> None:
    device = fleet.device("dev-1")
    iot = boto_clients.iot
    client = fleet.client(device).connect()
    client.subscribe("$aws/things/dev-1/jobs/notify-next", "$aws/things/dev-1/jobs/notify")
    iot.create_job(jobId="j1", targets=[iot.describe_thing(thingName="dev-1")["thingArn"]], document='{"op": "x"}')
    # The list, then the next one, as each changed.
    assert client.next_message("$aws/things/dev-1/jobs/notify")["jobs"]["QUEUED"][0]["jobId"] == "j1"
    pushed = client.next_message("$aws/things/dev-1/jobs/notify-next")
    assert pushed["execution"]["jobId"] == "j1" and pushed["execution"]["jobDocument"] == {"op": "x"}
    client.publish("$aws/things/dev-1/jobs/start-next", {"clientToken": "s", "stepTimeoutInMinutes": 5})
    started = client.next_message("$aws/things/dev-1/jobs/start-next/accepted")
    assert started["clientToken"] == "s" and started["execution"]["status"] == "IN_PROGRESS"
    version = started["execution"]["versionNumber"]
    client.publish("$aws/things/dev-1/jobs/j1/update", {"status": "SUCCEEDED", "expectedVersion": version + 5, "clientToken": "u"})
    stale = client.next_message("$aws/things/dev-1/jobs/j1/update/rejected")
    assert stale["code"] == "VersionMismatch" and stale["executionState"]["status"] == "IN_PROGRESS"
    client.publish("$aws/things/dev-1/jobs/j1/update", {"status": "SUCCEEDED", "expectedVersion": version,
                                                      "includeJobExecutionState": True})  # fmt: skip
    assert client.next_message("$aws/things/dev-1/jobs/j1/update/accepted")["executionState"]["status"] == "SUCCEEDED"
    assert "execution" not in client.next_message("$aws/things/dev-1/jobs/notify-next")  # nothing left
    assert iot.describe_job_execution(jobId="j1", thingName="dev-1")["execution"]["status"] == "SUCCEEDED"
    client.publish("$aws/things/dev-1/jobs/j1/update", {"status": "IN_PROGRESS"})
    assert client.next_message("$aws/things/dev-1/jobs/j1/update/rejected")["code"] == "InvalidStateTransition"
    client.publish("$aws/things/dev-1/jobs/nope/get", {})
    assert client.next_message("$aws/things/dev-1/jobs/nope/get/rejected")["code"] == "ResourceNotFound"


def test_a_rollout_release_pushes_notify_and_notify_next(fleet: Any, boto_clients: Any, emulator: LocalEmulator) -> None:
    iot = boto_clients.iot
    devices = {device.thing: device for device in (fleet.device(f"dev-{n}") for n in range(1, 4))}
    iot.create_job(jobId="r", targets=[iot.describe_thing(thingName=t)["thingArn"] for t in devices],
                   document='{"op": "x"}', jobExecutionsRolloutConfig={"maximumPerMinute": 2})  # fmt: skip
    first_batch = {e["thingArn"].rsplit("/", 1)[1] for e in iot.list_job_executions_for_job(jobId="r")["executionSummaries"]}
    (later,) = set(devices) - first_batch
    client = fleet.client(devices[later]).connect()
    base = f"$aws/things/{later}/jobs"
    client.subscribe(f"{base}/notify", f"{base}/notify-next")
    client.publish(f"{base}/get", {})
    assert client.next_message(f"{base}/get/accepted")["queuedJobs"] == []
    with pytest.raises(queue.Empty):  # the endpoint's clock ticks pass, and nothing is pushed before the release
        client.messages.get(timeout=2 * TICK_SECONDS)
    emulator.advance(60)  # the rollout's next minute: the third thing's execution is released
    listed = client.next_message(f"{base}/notify")["jobs"]
    assert [(j["jobId"], j["executionNumber"]) for j in listed["QUEUED"]] == [("r", 1)] and "IN_PROGRESS" not in listed
    execution = client.next_message(f"{base}/notify-next")["execution"]
    assert (execution["jobId"], execution["thingName"], execution["status"], execution["executionNumber"]) == (
        "r", later, "QUEUED", 1)  # fmt: skip
    assert execution["jobDocument"] == {"op": "x"}


def test_shadow_topics_share_the_shadow_store_with_the_http_api(fleet: Any, boto_clients: Any) -> None:
    device = fleet.device("dev-1")
    client = fleet.client(device).connect()
    base = "$aws/things/dev-1/shadow"
    client.subscribe(f"{base}/update/+", f"{base}/get/+", f"{base}/name/+/update/+")
    client.publish(f"{base}/update", {"state": {"reported": {"fw": "1.0"}}, "clientToken": "a"})
    assert client.next_message(f"{base}/update/accepted")["clientToken"] == "a"
    documents = client.next_message(f"{base}/update/documents")
    assert documents["previous"] is None and documents["current"]["state"]["reported"] == {"fw": "1.0"}
    shadow = json.loads(boto_clients.iot_data.get_thing_shadow(thingName="dev-1")["payload"].read())
    assert shadow["state"]["reported"] == {"fw": "1.0"}
    boto_clients.iot_data.update_thing_shadow(thingName="dev-1", payload=json.dumps({"state": {"desired": {"fw": "2.0"}}}))
    assert client.next_message(f"{base}/update/accepted")["state"]["desired"] == {"fw": "2.0"}
    assert client.next_message(f"{base}/update/delta")["state"] == {"fw": "2.0"}
    client.publish(f"{base}/update", {"state": {"reported": {"fw": "2.0"}}, "version": 1})
    assert client.next_message(f"{base}/update/rejected")["code"] == 409
    client.publish(f"{base}/get", {})
    got = client.next_message(f"{base}/get/accepted")
    assert got["state"]["desired"] == {"fw": "2.0"} and got["version"] == 2
    client.publish(f"{base}/name/config/update", {"state": {"reported": {"mode": "eco"}}})
    assert client.next_message(f"{base}/name/config/update/accepted")["state"]["reported"] == {"mode": "eco"}


def test_shadow_delete_over_mqtt_removes_the_classic_and_named_shadows(fleet: Any, boto_clients: Any,
                                                                      emulator: LocalEmulator) -> None:  # fmt: skip
    emulator.advance(86400)  # a day ahead of the wall clock: the timestamps must be the emulator's
    client = fleet.client(fleet.device("dev-1")).connect()
    base = "$aws/things/dev-1/shadow"
    client.subscribe(f"{base}/update/accepted", f"{base}/delete/+", f"{base}/name/+/update/accepted",
                     f"{base}/name/+/delete/+")  # fmt: skip
    for prefix, named in ((base, {}), (f"{base}/name/config", {"shadowName": "config"})):
        for reported in ({"fw": "1.0"}, {"fw": "1.1"}):
            client.publish(f"{prefix}/update", {"state": {"reported": reported}})
            client.next_message(f"{prefix}/update/accepted")
        client.publish(f"{prefix}/delete", {"clientToken": "d-1"})
        deleted = client.next_message(f"{prefix}/delete/accepted")
        assert deleted["clientToken"] == "d-1" and deleted["version"] >= 2
        assert abs(deleted["timestamp"] - emulator.clock.now()) <= 5
        with pytest.raises(ClientError) as gone:
            boto_clients.iot_data.get_thing_shadow(thingName="dev-1", **named)
        assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
        client.publish(f"{prefix}/delete", {"clientToken": "d-2"})  # nothing left to delete
        missing = client.next_message(f"{prefix}/delete/rejected")
        assert missing["code"] == 404 and missing["clientToken"] == "d-2"
        # Made again, the shadow continues the deleted one's version, with none of its state.
        client.publish(f"{prefix}/update", {"state": {"reported": {"mode": "eco"}}})
        again = client.next_message(f"{prefix}/update/accepted")
        assert again["version"] == deleted["version"] + 1
        shadow = json.loads(boto_clients.iot_data.get_thing_shadow(thingName="dev-1", **named)["payload"].read())
        assert shadow["state"] == {"reported": {"mode": "eco"}}
    client.publish("$aws/things/dev-1/shadow/name/never/delete", {})  # never existed: also not found
    assert client.next_message("$aws/things/dev-1/shadow/name/never/delete/rejected")["code"] == 404


def test_a_named_shadow_get_over_mqtt(fleet: Any, boto_clients: Any) -> None:
    client = fleet.client(fleet.device("dev-1")).connect()
    prefix = "$aws/things/dev-1/shadow/name/config"
    client.subscribe(f"{prefix}/get/+", "$aws/things/dev-1/shadow/get/rejected")
    client.publish(f"{prefix}/get", {"clientToken": "g-1"})
    missing = client.next_message(f"{prefix}/get/rejected")
    assert (missing["code"], missing["clientToken"]) == (404, "g-1") and "config" in missing["message"]
    boto_clients.iot_data.update_thing_shadow(thingName="dev-1", shadowName="config",
                                              payload=json.dumps({"state": {"desired": {"mode": "eco"}}}))  # fmt: skip
    client.publish(f"{prefix}/get", {"clientToken": "g-2"})
    got = client.next_message(f"{prefix}/get/accepted")
    assert got["clientToken"] == "g-2" and got["version"] == 1
    assert got["state"] == {"desired": {"mode": "eco"}, "delta": {"mode": "eco"}}
    assert "mode" in got["metadata"]["desired"]
    client.publish("$aws/things/dev-1/shadow/get", {})  # the classic shadow is another one, and still missing
    assert client.next_message("$aws/things/dev-1/shadow/get/rejected")["code"] == 404


def test_lifecycle_events_and_connectivity_follow_the_connection(fleet: Any, boto_clients: Any,
                                                                 emulator: LocalEmulator) -> None:  # fmt: skip
    iot = boto_clients.iot
    emulator.advance(86400)  # a day ahead of the wall clock: connectivity times are the emulator's
    iot.update_indexing_configuration(thingIndexingConfiguration={
        "thingIndexingMode": "REGISTRY", "thingConnectivityIndexingMode": "STATUS"})  # fmt: skip
    watcher_device = fleet.device("watcher")
    iot.create_policy(policyName="watch", policyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["iot:Subscribe", "iot:Receive"], "Resource": [
            f"arn:aws:iot:{REGION}:{ACCOUNT}:topicfilter/$aws/events/presence/*",
            f"arn:aws:iot:{REGION}:{ACCOUNT}:topic/$aws/events/presence/*"]}]}))  # fmt: skip
    iot.attach_policy(policyName="watch", target=watcher_device.certificate_arn)
    watcher = fleet.client(watcher_device).connect()
    watcher.subscribe("$aws/events/presence/+/dev-1")
    device = fleet.device("dev-1")
    client = fleet.client(device).connect()
    connected = watcher.next_message("$aws/events/presence/connected/dev-1")
    assert connected["eventType"] == "connected" and connected["principalIdentifier"] == device.certificate_id
    online = {t["thingName"]: t for t in iot.search_index(queryString="connectivity.connected:true")["things"]}
    assert set(online) == {"dev-1", "watcher"}
    since = online["dev-1"]["connectivity"]["timestamp"]  # epoch milliseconds, as the connected event has it
    assert abs(since - emulator.clock.now() * 1000) < 5000 and abs(since - connected["timestamp"]) < 1000
    assert "disconnectReason" not in online["dev-1"]["connectivity"]
    emulator.advance(120)
    client.close()
    gone = watcher.next_message("$aws/events/presence/disconnected/dev-1")
    assert gone["clientInitiatedDisconnect"] is True and gone["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert gone["versionNumber"] == connected["versionNumber"] + 1
    found = iot.search_index(queryString="thingName:dev-1")["things"][0]["connectivity"]
    assert found["connected"] is False and found["disconnectReason"] == "CLIENT_INITIATED_DISCONNECT"
    assert since + 120_000 <= found["timestamp"] < since + 125_000 and abs(found["timestamp"] - gone["timestamp"]) < 1000
    assert [t["thingName"] for t in iot.search_index(queryString="connectivity.connected:true")["things"]] == ["watcher"]


def test_a_second_connection_with_the_same_client_id_takes_over(fleet: Any) -> None:
    device = fleet.device("dev-1")
    first = fleet.client(device).connect()
    fleet.client(device).connect()
    assert first.closed.wait(5)


@pytest.mark.emulator(enforce_quotas=True, quota_overrides={"mqtt:Subscribe": 0.01})
def test_each_topic_filter_counts_against_the_subscriptions_quota(fleet: Any, emulator: LocalEmulator) -> None:
    client = fleet.client(fleet.device("dev-1")).connect()
    emulator.reset_counters()
    # One SUBSCRIBE, two filters: AWS IoT counts two subscriptions, and the second is one too many here.
    assert client.subscribe("$aws/things/dev-1/jobs/notify-next", "$aws/things/dev-1/shadow/update/+") == [1, 0x97]
    counted = emulator.counters()["mqtt:Subscribe"]
    assert (counted["calls"], counted["throttles"]) == (2, 1)


def test_stopping_the_endpoint_during_a_tls_handshake_ends_the_handshake_first(emulator: LocalEmulator) -> None:
    broker = Broker(emulator.state, "127.0.0.1", 0).start()
    unraisable: list[Any] = []
    previous, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        with socket.create_connection(("127.0.0.1", broker.port), timeout=5) as raw:  # TCP only: no ClientHello
            deadline = time.monotonic() + 5
            while not broker.accepted and time.monotonic() < deadline:
                time.sleep(0.01)
            assert broker.accepted, "the endpoint never accepted the socket"
            broker.stop()
            assert broker.loop.is_closed()
            assert raw.recv(1) == b""  # the endpoint closed the socket rather than leaving it to the collector
        gc.collect()  # a handshake left pending on the closed loop would be finalised here, into that loop
    finally:
        sys.unraisablehook = previous
    assert [f"{type(u.exc_value).__name__}: {u.exc_value}" for u in unraisable] == []
