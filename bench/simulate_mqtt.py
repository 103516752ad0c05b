"""The MQTT half of the simulator benchmark: device certificates for the bench fleet, and the raw comparator.

**Enrolment** is set-up, not measured. It goes over HTTP through the library's own identity steps
(:mod:`iotfleet.fleet.identity`: the key store bound to the fleet, a fleet CA registered with
RegisterCACertificate, the fleet's IoT policy, then per thing a key and certificate signed here,
RegisterCertificate, AttachPolicy and AttachThingPrincipal), with the keys in a :class:`KeyStore` in a
temporary folder. At AWS's default of 10 TPS for RegisterCertificate and AttachPolicy, 2,000 devices would
take minutes of set-up, so the benchmark's emulator and its client raise the quotas of the per-device
identity calls (:data:`ENROLMENT_QUOTAS`); the measured phases make none of those calls.

**Raw MQTT** is the comparator of the MQTT row: a plain loop on gmqtt (the client library the simulator
uses), ``concurrency`` devices at a time on one event loop, each doing what a simulated device does for
one execution: connect with its own certificate (MQTT 5, its thing name as client id), subscribe to its
``notify-next`` topic and its shadow's update answers (the simulator's two filters), get the
execution with its document (``$aws/things/<thing>/jobs/<job>/get``), report IN_PROGRESS, download the
firmware through the presigned URL and check its SHA-256 (blocking ``requests`` in a thread pool, as the
simulator's devices download), report SUCCEEDED, update its shadow, disconnect. Nothing is paced: a request
the emulator throttles (``RequestThrottled``), a refused connect or a topic filter refused beyond the
subscriptions quota (SUBACK 0x97) is retried with botocore's standard backoff (full jitter, 1 s doubling, at
most 20 s), as the raw boto3 loop of the HTTPS row retries its throttled calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import ssl
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import gmqtt
from common import download_sha256
from gmqtt.mqtt.handler import MQTTConnectError

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings
from iotfleet.fleet.identity.apply import apply_device_identity, apply_fleet_identity
from iotfleet.fleet.identity.keystore import CERTIFICATE_FILE, KEY_FILE, KeyStore
from iotfleet.fleet.identity.plan import plan_devices, plan_fleet_identity
from iotfleet.fleet.provision import inventory, model
from iotfleet.fleet.runner import run_parallel
from iotfleet.fleet.simulate.artifacts import find_artifacts
from iotfleet.fleet.simulate.mqtt_network import ANSWERS, SUBSCRIBE_FAILED, MqttEndpoint, disconnect
from iotfleet.fleet.spec import FleetSpec

FLEET = "bench"
THING_PREFIX = "bench-"
ENROLMENT_THREADS = 16
ENROLMENT_QUOTAS = {
    f"iot:{operation}": 2000.0
    for operation in ("ListThingPrincipals", "RegisterCertificate", "AttachPolicy", "AttachThingPrincipal")
}
"""The per-device identity calls of the set-up, raised on both sides (emulator and client) for the benchmark."""

ANSWER_TIMEOUT = 60.0
QUOTA_EXCEEDED = 0x97  # the SUBACK code of a filter beyond the subscriptions quota
ATTEMPTS = 10
KEEP_ALIVE = 300


# -- enrolment (set-up) ------------------------------------------------------------------------------


def enrol(url: str, things: list[str], keys: Path) -> KeyStore:
    """Give every thing an ACTIVE certificate of a fleet CA with the fleet's policy; returns the key store.
    The things are the fleet's own: named ``THING_PREFIX`` and 1, 2, ... as provisioning names them."""
    settings = TargetSettings.resolve(
        target="local", endpoint_url=url, concurrency=ENROLMENT_THREADS, env={}, quota_overrides=ENROLMENT_QUOTAS
    )
    store = KeyStore(keys)
    spec = FleetSpec(fleet=FLEET, devices=len(things), certificates=True, prefix=THING_PREFIX).validated()
    assert things == [inventory.thing_name(THING_PREFIX, i) for i in range(len(things))], "not the fleet's names"
    with AwsContext(settings) as ctx:
        account, region, partition = ctx.account_id, ctx.region, ctx.iot.meta.partition
        plan = plan_fleet_identity(ctx, spec, store, account, region, partition, lambda *_args, **_kwargs: None)
        apply_fleet_identity(ctx, FLEET, account, region, plan)
        warnings: list[str] = []
        plan_devices(ctx, plan, spec, lambda _index: True, len(things), (account, region, partition), warnings)
        if plan.problems:
            raise RuntimeError(f"enrolment planned problems: {plan.problems[:3]}")
        run = run_parallel(
            things, lambda thing: apply_device_identity(ctx, plan, thing, plan.devices[thing]),
            concurrency=ENROLMENT_THREADS,
        )  # fmt: skip
        run.raise_for_failures("enrol the bench devices", model.CERTIFICATE)
    return store


# -- the raw MQTT loop (the comparator) --------------------------------------------------------------


def backoff(attempt: int) -> float:
    """botocore's standard retry mode: full jitter, 1 s doubling per attempt, at most 20 s."""
    return random.random() * min(20.0, 2.0 ** (attempt - 1))


class RawDevice:
    """One device's gmqtt connection: requests wait for the accepted or rejected answer echoing their token."""

    def __init__(self, thing: str, endpoint: MqttEndpoint, store: KeyStore) -> None:
        self.thing = thing
        self.endpoint = endpoint
        folder = store.device_folder(thing)
        self.context = ssl.create_default_context(cafile=endpoint.ca_file)
        self.context.load_cert_chain(str(folder / CERTIFICATE_FILE), str(folder / KEY_FILE))
        self.base = f"$aws/things/{thing}"
        self.client: gmqtt.Client | None = None
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[tuple[str, dict[str, Any]]]] = {}
        self._suback: asyncio.Future[tuple[int, ...]] | None = None

    def _message(self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> int:
        outcome = topic.rsplit("/", 1)[-1]
        if outcome in ANSWERS:
            document = json.loads(payload)
            waiter = self._waiting.pop(str(document.get("clientToken")), None)
            if waiter is not None and not waiter.done():
                waiter.set_result((outcome, document))
        return 0

    def _subscribed(self, _client: Any, _mid: int, codes: Any, _properties: Any) -> None:
        if self._suback is not None and not self._suback.done():
            self._suback.set_result(tuple(codes))

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        for attempt in range(1, ATTEMPTS + 1):
            client = gmqtt.Client(self.thing, clean_session=True)
            client.set_config({"reconnect_retries": 0, "reconnect_delay": 0})
            client.on_message = self._message
            client.on_subscribe = self._subscribed
            try:
                await asyncio.wait_for(
                    client.connect(self.endpoint.host, self.endpoint.port, ssl=self.context, keepalive=KEEP_ALIVE),
                    ANSWER_TIMEOUT,
                )
                break
            except MQTTConnectError:  # refused, beyond the connect quota: a new client, after a pause
                client.stop_reconnect()
                await client.disconnect()
                if attempt == ATTEMPTS:
                    raise
                await asyncio.sleep(backoff(attempt))
        self.client = client
        filters = [f"{self.base}/jobs/notify-next", f"{self.base}/shadow/update/+"]
        for attempt in range(1, ATTEMPTS + 1):  # filters refused beyond the subscriptions quota are asked again
            self._suback = loop.create_future()
            client.subscribe([gmqtt.Subscription(topic_filter, qos=1) for topic_filter in filters])
            codes = await asyncio.wait_for(self._suback, ANSWER_TIMEOUT)
            refused = [(f, code) for f, code in zip(filters, codes, strict=True) if code >= SUBSCRIBE_FAILED]
            if not refused:
                return
            if attempt == ATTEMPTS or any(code != QUOTA_EXCEEDED for _, code in refused):
                raise RuntimeError(f"{self.thing}: subscriptions refused: {refused}")
            filters = [f for f, _ in refused]
            await asyncio.sleep(backoff(attempt))

    async def request(self, topic: str, document: dict[str, Any]) -> dict[str, Any]:
        assert self.client is not None
        loop = asyncio.get_running_loop()
        for attempt in range(1, ATTEMPTS + 1):
            token = f"{self.thing}-{next(self._tokens)}"
            waiter = loop.create_future()
            self._waiting[token] = waiter
            self.client.publish(topic, json.dumps({**document, "clientToken": token}), qos=1)
            try:
                outcome, answer = await asyncio.wait_for(waiter, ANSWER_TIMEOUT)
            finally:
                self._waiting.pop(token, None)
            if outcome == "accepted":
                return answer
            if answer.get("code") not in ("RequestThrottled", 429) or attempt == ATTEMPTS:
                raise RuntimeError(f"{self.thing}: {topic} rejected: {answer}")
            await asyncio.sleep(backoff(attempt))
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self.client is not None:
            await disconnect(self.client)


async def _run_device(device: RawDevice, job_id: str, downloads: ThreadPoolExecutor, session: Any,
                      expected: str) -> None:  # fmt: skip
    loop = asyncio.get_running_loop()
    jobs = f"{device.base}/jobs/{job_id}"
    await device.connect()
    try:
        execution = (await device.request(f"{jobs}/get", {"includeJobDocument": True}))["execution"]
        number = execution["executionNumber"]
        await device.request(f"{jobs}/update", {"status": "IN_PROGRESS", "statusDetails": {"step": "downloading"},
                                                "stepTimeoutInMinutes": 10, "executionNumber": number})  # fmt: skip
        (artifact,) = find_artifacts(execution["jobDocument"])
        digest = await loop.run_in_executor(downloads, download_sha256, session, artifact.url)
        if digest != expected:
            raise RuntimeError(f"{device.thing}: checksum mismatch")
        await device.request(f"{jobs}/update", {"status": "SUCCEEDED", "statusDetails": {"step": "completed"},
                                                "executionNumber": number})  # fmt: skip
        await device.request(f"{device.base}/shadow/update",
                             {"state": {"reported": {"firmware": {"version": "2.0.0"}}}})  # fmt: skip
    finally:
        await device.close()


async def _run_all(things: Iterable[str], job_id: str, endpoint: MqttEndpoint, store: KeyStore, concurrency: int,
                   session: Any, expected: str) -> None:  # fmt: skip
    queue: Iterator[str] = iter(things)
    with ThreadPoolExecutor(concurrency) as downloads:

        async def worker() -> None:
            for thing in queue:  # one iterator shared by every worker of the loop
                await _run_device(RawDevice(thing, endpoint, store), job_id, downloads, session, expected)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def raw_mqtt(job_id: str, things: list[str], endpoint: MqttEndpoint, store: KeyStore, concurrency: int,
             session: Any, firmware: bytes) -> float:  # fmt: skip
    """Executions per second of the plain gmqtt loop (connections included, as in the simulator's run)."""
    expected = hashlib.sha256(firmware).hexdigest()
    start = time.perf_counter()
    asyncio.run(_run_all(things, job_id, endpoint, store, concurrency, session, expected))
    return len(things) / (time.perf_counter() - start)
