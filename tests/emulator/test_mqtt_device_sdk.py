"""The AWS IoT Device SDK v2 for Python against the emulator's MQTT endpoint, the way the SDK's jobs sample runs
a job: mutual TLS from the key store's files, notify-next, start-next, an update to SUCCEEDED."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from awscrt import mqtt
from awsiot import iotjobs, mqtt_connection_builder
from certificate_setup import ACCOUNT, REGION, registered_ca

from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.identity import certificates as x509_tools
from iotfleet.fleet.identity.keystore import CERTIFICATE_FILE, KEY_FILE, KeyStore
from iotfleet.fleet.identity.policy import policy_document, policy_name, policy_text


def test_the_device_sdk_runs_a_job_over_mqtt(emulator: LocalEmulator, boto_clients: Any, tmp_path: Path) -> None:
    iot = boto_clients.iot
    thing = "sdk-device"
    arn = iot.create_thing(thingName=thing)["thingArn"]
    ca = registered_ca(iot)
    key, leaf = x509_tools.sign_device_certificate(ca.key, ca.certificate, thing, x509_tools.dt.datetime.now(
        x509_tools.dt.timezone.utc))  # fmt: skip
    pem = x509_tools.certificate_pem(leaf)
    store = KeyStore(tmp_path / "keys")
    store.bind("sdk", ACCOUNT, REGION)
    folder = store.write_device(thing, pem, x509_tools.private_key_pem(key), ca.pem)
    certificate = iot.register_certificate(certificatePem=pem, caCertificatePem=ca.pem, setAsActive=True)
    iot.create_policy(policyName=policy_name("sdk"), policyDocument=policy_text(policy_document("aws", REGION, ACCOUNT)))
    iot.attach_policy(policyName=policy_name("sdk"), target=certificate["certificateArn"])
    iot.attach_thing_principal(thingName=thing, principal=certificate["certificateArn"])

    host, port = (emulator.mqtt_endpoint or "").rsplit(":", 1)
    connection = mqtt_connection_builder.mtls_from_path(
        endpoint=host, port=int(port), cert_filepath=str(folder / CERTIFICATE_FILE),
        pri_key_filepath=str(folder / KEY_FILE), ca_filepath=emulator.ca_path, client_id=thing,
        clean_session=False, keep_alive_secs=30,
    )  # fmt: skip
    connection.connect().result(10)
    jobs = iotjobs.IotJobsClient(connection)
    notified = threading.Event()
    started: list[iotjobs.StartNextJobExecutionResponse] = []
    updated = threading.Event()
    rejected: list[Any] = []
    try:
        subscribed, _ = jobs.subscribe_to_next_job_execution_changed_events(
            iotjobs.NextJobExecutionChangedSubscriptionRequest(thing_name=thing), mqtt.QoS.AT_LEAST_ONCE,
            lambda event: notified.set() if event.execution else None,
        )  # fmt: skip
        subscribed.result(5)
        start_request = iotjobs.StartNextPendingJobExecutionSubscriptionRequest(thing_name=thing)
        for subscribe, callback in (
            (jobs.subscribe_to_start_next_pending_job_execution_accepted, started.append),
            (jobs.subscribe_to_start_next_pending_job_execution_rejected, rejected.append),
        ):
            subscribe(start_request, mqtt.QoS.AT_LEAST_ONCE, callback)[0].result(5)
        update_request = iotjobs.UpdateJobExecutionSubscriptionRequest(thing_name=thing, job_id="+")
        jobs.subscribe_to_update_job_execution_accepted(update_request, mqtt.QoS.AT_LEAST_ONCE,
                                                        lambda _: updated.set())[0].result(5)  # fmt: skip
        jobs.subscribe_to_update_job_execution_rejected(update_request, mqtt.QoS.AT_LEAST_ONCE,
                                                        rejected.append)[0].result(5)  # fmt: skip

        iot.create_job(jobId="sdk-job", targets=[arn], document='{"operation": "update", "version": "2.0"}')
        assert notified.wait(10), "notify-next never came"
        jobs.publish_start_next_pending_job_execution(
            iotjobs.StartNextPendingJobExecutionRequest(thing_name=thing), mqtt.QoS.AT_LEAST_ONCE
        ).result(5)
        deadline = threading.Event()
        for _ in range(50):
            if started or rejected:
                break
            deadline.wait(0.1)
        assert not rejected and started and started[0].execution.job_id == "sdk-job"
        assert started[0].execution.job_document == {"operation": "update", "version": "2.0"}
        jobs.publish_update_job_execution(
            iotjobs.UpdateJobExecutionRequest(thing_name=thing, job_id="sdk-job", status=iotjobs.JobStatus.SUCCEEDED),
            mqtt.QoS.AT_LEAST_ONCE,
        ).result(5)
        assert updated.wait(10) and not rejected
    finally:
        connection.disconnect().result(5)
    execution = iot.describe_job_execution(jobId="sdk-job", thingName=thing)["execution"]
    assert execution["status"] == "SUCCEEDED"
