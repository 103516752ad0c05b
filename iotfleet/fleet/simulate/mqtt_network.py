"""The simulated devices' MQTT connections: one event loop, on one thread, for every device of a run.

Client library: gmqtt, a maintained MQTT 3.1.1 and 5 client written for asyncio (pure Python, no
dependencies). Its connections are asyncio transports, so a thousand devices connected at once cost no
thread each, and the TLS handshake of one device never blocks another (paho-mqtt, the other maintained
pure-Python client, does its TCP connect and TLS handshake blocking and wants a network thread or an
external loop per client; the AWS IoT Device SDK v2 would bring the AWS Common Runtime into every install).
Devices speak MQTT 5.

Each device connects with its own certificate and key, to the account's ``iot:Data-ATS`` endpoint on port
8883 (or an endpoint given, such as the local emulator's), with its thing name as client id, subscribes to
its ``notify-next`` topic and to the shadow answers it waits for, and then makes each request as a publish
with a ``clientToken`` and waits for the answer that echoes it. The jobs service sends its answers to the
requesting client without a subscription (AWS documents this), so a device subscribes to no jobs answer
topic: AWS IoT counts every topic filter against the account's subscriptions per second, 200 by default,
which a large fleet connecting at once reaches long before its connects per second. Connecting is paced by
the connect quota (``mqtt:Connect`` in the quota table), each topic filter by ``mqtt:Subscribe``, requests
by their operations' quotas, as over HTTPS. A connect the endpoint refuses for its rate (other clients share
the account's quota) is tried again after a backoff, a few times, as a device SDK would. The device threads
(see :mod:`.stepping`) block on an answer; the loop thread does all the network work.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import random
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import gmqtt
from gmqtt.mqtt.handler import MQTTConnectError

from iotfleet.event_loops import finish_loop

DEFAULT_PORT = 8883
CONNECT_KEY = "mqtt:Connect"  # the quota table's keys for what the message broker limits per account
SUBSCRIBE_KEY = "mqtt:Subscribe"  # one per topic filter, however many one SUBSCRIBE carries
SUBSCRIBE_FAILED = 0x80  # SUBACK codes from this one up refuse the filter (0x97: the quota is exceeded)
CONNECT_TIMEOUT = 20.0
# CONNACK codes that say "not now" rather than "never": server busy, quota exceeded, connection rate exceeded.
BUSY_CONNACK_CODES = frozenset({0x89, 0x97, 0x9F})
CONNECT_ATTEMPTS = 5
CONNECT_BACKOFF = 0.5  # seconds before the second attempt, doubled for each one after
REQUEST_TIMEOUT = 30.0
KEEP_ALIVE = 300
# Amazon's root CAs, which sign the certificates of AWS IoT Core's ATS endpoints.
AMAZON_ROOTS = ("Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4")

ANSWERS = ("accepted", "rejected")  # the last level of an answer's topic
log = logging.getLogger(__name__)
logging.getLogger("gmqtt").setLevel(logging.ERROR)  # it logs every reconnect attempt as a warning


class MqttError(Exception):
    """A device could not connect, or an answer did not come; the message says which and why."""


@dataclass(frozen=True)
class MqttEndpoint:
    """Where devices connect: ``host``, ``port`` and the CA that signs the server's certificate (None:
    Amazon's root CAs, from this machine's trust store)."""

    host: str
    port: int = DEFAULT_PORT
    ca_file: str | None = None

    @classmethod
    def parse(cls, text: str, ca_file: str | None = None) -> MqttEndpoint:
        """``host`` or ``host:port`` (``[v6]:port``); ValueError when it is neither."""
        value = text.strip()
        host, port = value, DEFAULT_PORT
        if value.startswith("["):
            host, _, rest = value[1:].partition("]")
            if rest:
                port = _port(rest.removeprefix(":"), text)
        elif value.count(":") == 1:
            host, _, number = value.partition(":")
            port = _port(number, text)
        if not host or any(ch in host for ch in "/ "):
            raise ValueError(f"{text!r} is not an MQTT endpoint of the form HOST or HOST:PORT")
        return cls(host, port, ca_file)

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{whole!r}: the port must be a number from 1 to 65535")
    return int(text)


def _trust(endpoint: MqttEndpoint) -> dict[str, Any]:
    """What each device's TLS context trusts: the endpoint's CA file, or Amazon's roots (read once)."""
    if endpoint.ca_file is not None:
        return {"cafile": endpoint.ca_file}
    system = ssl.create_default_context()
    roots = [
        ssl.DER_cert_to_PEM_cert(der)
        for der, info in zip(system.get_ca_certs(binary_form=True), system.get_ca_certs(), strict=True)
        if any(("commonName", name) in part for part in info.get("subject", ()) for name in AMAZON_ROOTS)
    ]
    return {"cadata": "".join(roots)} if roots else {}


async def disconnect(client: gmqtt.Client) -> None:
    """Send DISCONNECT and close the connection. A message the endpoint sent after this side's TLS close_notify
    (a last delivery no one reads any more) makes OpenSSL fail the TLS shutdown; the connection is closed all
    the same, so that one error is none."""
    try:
        await client.disconnect()
    except ssl.SSLError as exc:
        if exc.reason != "APPLICATION_DATA_AFTER_CLOSE_NOTIFY":
            raise


class DeviceConnection:
    """One device's connection: ``request(topic, document)`` waits for the answer echoing its token."""

    def __init__(self, network: MqttNetwork, thing_name: str, on_notify: Callable[[], None]) -> None:
        self.network = network
        self.thing_name = thing_name
        self.on_notify = on_notify
        self.notify_topic = f"$aws/things/{thing_name}/jobs/notify-next"
        self.client: gmqtt.Client | None = None
        self._tokens = itertools.count(1)
        self._waiting: dict[str, asyncio.Future[tuple[str, dict[str, Any]]]] = {}
        self._subacks: dict[int, asyncio.Future[tuple[int, ...]]] = {}

    # On the loop's thread.
    def _message(self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> int:
        try:
            document = json.loads(payload)
        except ValueError:
            return 0
        if topic == self.notify_topic:
            # A notify-next without an execution says the thing has nothing pending: no reason to look.
            if isinstance(document, dict) and document.get("execution"):
                self.on_notify()
            return 0
        outcome = topic.rsplit("/", 1)[-1]
        token = document.get("clientToken") if isinstance(document, dict) else None
        if token is None or outcome not in ANSWERS:  # update/documents echoes the token too: not the answer
            return 0
        waiter = self._waiting.pop(str(token), None)
        if waiter is not None and not waiter.done():
            waiter.set_result((outcome, document))
        return 0

    def _suback(self, _client: Any, mid: int, codes: Any, _properties: Any) -> None:
        waiter = self._subacks.pop(mid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(tuple(codes))

    async def _open(self, context: ssl.SSLContext) -> None:
        endpoint = self.network.endpoint
        client = gmqtt.Client(self.thing_name, clean_session=True)
        # No reconnects of its own while the first connect is tried: a refused one is tried again by
        # MqttNetwork.connect, paced; a connection that drops later is reconnected a few times.
        client.set_config({"reconnect_retries": 0, "reconnect_delay": 1})
        client.on_message = self._message
        client.on_subscribe = self._suback
        self.client = client
        await asyncio.wait_for(
            client.connect(endpoint.host, endpoint.port, ssl=context, keepalive=KEEP_ALIVE), CONNECT_TIMEOUT
        )
        client.set_config({"reconnect_retries": 3})

    async def _subscribe(self, filters: list[str]) -> list[tuple[str, int]]:
        """Subscribe to ``filters`` in one SUBSCRIBE; the refused ones, with their SUBACK codes."""
        assert self.client is not None
        mid = self.client.subscribe([gmqtt.Subscription(topic_filter, qos=1) for topic_filter in filters])
        waiter = self.network.loop.create_future()
        self._subacks[mid] = waiter  # the SUBACK cannot come before this: the loop runs nothing in between
        try:
            codes = await asyncio.wait_for(waiter, CONNECT_TIMEOUT)
        finally:
            self._subacks.pop(mid, None)
        return [(topic_filter, code) for topic_filter, code in zip(filters, codes, strict=False) if code >= SUBSCRIBE_FAILED]

    async def _request(self, topic: str, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        assert self.client is not None
        token = f"{self.thing_name}-{next(self._tokens)}"
        waiter = self.network.loop.create_future()
        self._waiting[token] = waiter
        try:
            self.client.publish(topic, json.dumps({**document, "clientToken": token}), qos=1)
            return await asyncio.wait_for(waiter, REQUEST_TIMEOUT)
        finally:
            self._waiting.pop(token, None)

    # On a device's thread.
    def subscribe(self, filters: list[str]) -> None:
        """Subscribe to ``filters``, each paced by the subscriptions quota; MqttError when one is refused."""
        for _ in filters:
            self.network.pace(SUBSCRIBE_KEY)
        try:
            refused = self.network.call(self._subscribe(filters), CONNECT_TIMEOUT + 5)
        except (TimeoutError, asyncio.TimeoutError):
            raise MqttError(f"{self.thing_name}: no SUBACK within {CONNECT_TIMEOUT:.0f} s") from None
        if refused:
            topic_filter, code = refused[0]
            raise MqttError(f"{self.thing_name}: the subscription to {topic_filter} was refused (SUBACK 0x{code:02X})")

    def request(self, topic: str, document: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """``("accepted" | "rejected", answer)`` of a request; MqttError when no answer comes."""
        try:
            return self.network.call(self._request(topic, document), REQUEST_TIMEOUT + 5)
        except (TimeoutError, asyncio.TimeoutError):
            raise MqttError(f"{self.thing_name}: no answer on {topic} within {REQUEST_TIMEOUT:.0f} s") from None

    def close(self) -> None:
        client = self.client
        self.client = None
        if client is not None and self.network.running:
            self.network.call(disconnect(client), 10)


class MqttNetwork:
    """The run's event loop thread and its device connections; ``connect()`` from any thread."""

    def __init__(
        self, endpoint: MqttEndpoint, *, pace: Callable[[str], object] = lambda _key: None,
        on_throttle: Callable[[str], object] = lambda _key: None,
    ) -> None:  # fmt: skip
        """``pace(key)`` waits for one call of ``key`` (:data:`CONNECT_KEY`, :data:`SUBSCRIBE_KEY`) within its
        quota; ``on_throttle(key)`` hears that the endpoint refused one for its rate."""
        self.endpoint = endpoint
        self.pace = pace
        self.on_throttle = on_throttle
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="iotfleet-mqtt-devices", daemon=True)
        self._trust: dict[str, Any] | None = None
        self._trust_lock = threading.Lock()
        self._connections: list[DeviceConnection] = []
        self.running = False

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        finally:
            finish_loop(self.loop)  # what is still in flight (a handshake, a reconnect) ends before the loop closes

    def start(self) -> MqttNetwork:
        self.running = True
        self._thread.start()
        return self

    def call(self, coroutine: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except BaseException:
            future.cancel()
            raise

    def _context(self, cert_file: str, key_file: str) -> ssl.SSLContext:
        with self._trust_lock:
            if self._trust is None:
                self._trust = _trust(self.endpoint)
        context = ssl.create_default_context(**self._trust)
        context.load_cert_chain(cert_file, key_file)
        return context

    def connect(
        self, thing_name: str, cert_file: str, key_file: str, *, subscriptions: list[str],
        on_notify: Callable[[], None],
    ) -> DeviceConnection:  # fmt: skip
        """Connect a device (paced by the connect quota) and subscribe to its ``notify-next`` topic and
        ``subscriptions``; MqttError when refused."""
        context = self._context(cert_file, key_file)
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            self.pace(CONNECT_KEY)
            connection = DeviceConnection(self, thing_name, on_notify)
            try:
                self.call(connection._open(context), CONNECT_TIMEOUT + 5)
                break
            except (OSError, ssl.SSLError, TimeoutError, asyncio.TimeoutError, MQTTConnectError) as exc:
                self._abandon(connection)
                if isinstance(exc, MQTTConnectError) and exc._code in BUSY_CONNACK_CODES and attempt < CONNECT_ATTEMPTS:
                    self.on_throttle(CONNECT_KEY)
                    time.sleep(CONNECT_BACKOFF * 2 ** (attempt - 1) * random.uniform(0.5, 1.5))
                    continue
                what = type(exc).__name__ if isinstance(exc, (TimeoutError, asyncio.TimeoutError)) else str(exc)
                raise MqttError(f"{thing_name} could not connect to {self.endpoint.address}: {what}") from None
        with self._trust_lock:
            self._connections.append(connection)
        connection.subscribe([connection.notify_topic, *subscriptions])
        return connection

    def _abandon(self, connection: DeviceConnection) -> None:
        client = connection.client
        if client is not None:
            client.stop_reconnect()
            self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(client.disconnect()))

    def close(self) -> None:
        """Disconnect every device, stop the loop and close it."""
        if not self.running:
            return
        with self._trust_lock:
            connections, self._connections = self._connections, []

        async def disconnect_all() -> None:
            clients = [c.client for c in connections if c.client is not None]
            ended = await asyncio.gather(*(disconnect(client) for client in clients), return_exceptions=True)
            failed = [outcome for outcome in ended if isinstance(outcome, BaseException)]
            if failed:  # the run's work is done; a connection that did not close cleanly changes nothing of it
                log.debug("%d device connection(s) did not close cleanly, the first: %r", len(failed), failed[0])

        try:
            self.call(disconnect_all(), 30)
        finally:
            self.running = False
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
