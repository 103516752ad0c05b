"""The emulator's MQTT endpoint: an MQTT 3.1.1 and 5 broker over mutual TLS, in a thread of its own.

Why a broker of its own rather than an embedded library: the endpoint must behave as AWS IoT Core's message
broker does for a device, and that is mostly authorization and the AWS services behind reserved topics,
not message queuing. Each connection needs its client certificate's identity from the emulator's registry
(checked after the TLS handshake, with CAs registered at any time trusted from the next connection on);
every CONNECT, PUBLISH, SUBSCRIBE and delivery is decided by that certificate's IoT policies with their
policy variables; an unauthorised publish closes the connection; the jobs and shadow topics are answered by
the emulator's own jobs engine and shadow store, the jobs answers going privately to the requester. amqtt,
the maintained asyncio broker on PyPI, speaks MQTT 3.1.1 only (it refuses protocol level 5), has no
per-connection certificate identity in its auth hooks, and its topic hooks can only drop a publish, not
disconnect; it would also bring eight more packages (typer, psutil, websockets, pwdlib with argon2, ...)
into the ``local`` extra. What a device broker needs of MQTT itself (CONNECT with keep alive and will,
QoS 0 and 1, retained messages, persistent sessions, MQTT 5 properties, reason codes and topic aliases)
fits in :mod:`.packets`, :mod:`.topics` and :mod:`.connection`.

Threads. The broker runs an asyncio loop on its own thread, so thousands of connections cost no thread
each. It takes the emulator's global lock for everything it reads or changes of the emulator (the registry,
jobs, shadows, connectivity), exactly as an HTTP request does. Other threads reach it only through the
event bus (:data:`MESSAGE_PUBLISHED`: iot-data Publish, shadow changes made over HTTP), which hands the
message to the loop.

Not emulated: shared subscriptions (refused with reason 0x9E; CONNACK says they are unavailable), MQTT over
WebSockets, port 443 with ALPN, custom authorizers, and QoS 2 (AWS IoT Core has none either).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.events import MESSAGE_PUBLISHED, RESET
from iotfleet.emulator.identity.authorization import PUBLISH, RECEIVE, RETAIN_PUBLISH
from iotfleet.emulator.identity.issuer import issuer_certificate_pem
from iotfleet.emulator.identity.registry import STORE as IDENTITY_STORE
from iotfleet.emulator.mqtt import jobs_topics, presence, shadow_topics
from iotfleet.emulator.mqtt.connection import (
    AUTHORIZATION_FAILURE,
    CLIENT_INITIATED,
    DUPLICATE_CLIENTID,
    KEEP_ALIVE_TIMEOUT,
    KEEPALIVE_EXPIRED,
    NOT_AUTHORIZED,
    SERVER_INITIATED,
    SESSION_TAKEN_OVER,
    Connection,
)
from iotfleet.emulator.mqtt.packets import MQTT_5, SESSION_EXPIRY, Connect, Publish, Subscription
from iotfleet.emulator.mqtt.sessions import PERSISTENT_SESSION_SECONDS, Identity, Session, authenticate
from iotfleet.emulator.mqtt.topics import SubscriptionIndex, matches
from iotfleet.event_loops import finish_loop

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25  # how often due jobs events are processed and their notifications pushed
SWEEP_SECONDS = 2.0  # how often keep alives and persistent sessions are checked
START_TIMEOUT = 10.0
ALLOWED_RESERVED = ("$aws/rules/",)

Scope = tuple[str, str]


def server_context() -> tuple[ssl.SSLContext, str]:
    """TLS for the endpoint: the emulator's server certificate, and a client certificate required; with the
    path of the CA that signs the server certificate (what clients trust)."""
    from iotfleet.emulator.tls import ensure_certificates

    files = ensure_certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(files.server_cert), str(files.server_key))
    context.verify_mode = ssl.CERT_REQUIRED
    # A certificate registered without a CA is its own trust anchor.
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    context.load_verify_locations(cadata=issuer_certificate_pem())
    return context, str(files.ca_cert)


class Broker:
    """``Broker(state, host, port).start()``; ``endpoint`` is ``host:port``; ``stop()``."""

    def __init__(self, state: EmulatorState, host: str, port: int) -> None:
        self.state = state
        self.host = host
        self.port = port
        self.ssl_context, self.ca_path = server_context()
        self.loop = asyncio.new_event_loop()
        self.connections: set[Connection] = set()
        # Every accepted socket until it is gone, connected or not (in its TLS handshake, say): what stop() ends.
        self.accepted: set[Connection] = set()
        self.sessions: dict[tuple[str, str, str], Session] = {}
        self.indexes: dict[Scope, SubscriptionIndex] = defaultdict(SubscriptionIndex)
        self.retained: dict[Scope, dict[str, tuple[bytes, int, dict[int, Any]]]] = defaultdict(dict)
        self.jobs = jobs_topics.JobsTopics(state)
        self.shadows = shadow_topics.ShadowTopics(state)
        self.presence = presence.Presence(state)
        self._trusted: dict[tuple[str, str], int] = {}
        self._epoch = 0
        self._epochs: dict[Connection, int] = {}
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # --- life cycle (any thread) ------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``host:port`` as clients should use it: ``localhost`` for loopback, the name the certificate holds."""
        host = "localhost" if self.host in ("127.0.0.1", "localhost") else self.host
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{self.port}"

    def start(self) -> Broker:
        """Listen (OSError when the address cannot be bound) and serve on a thread of its own."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(512)
        except OSError:
            listener.close()
            raise
        self.port = int(listener.getsockname()[1])
        self._thread = threading.Thread(target=self._run, args=(listener,), name="iotfleet-mqtt", daemon=True)
        self._thread.start()
        if not self._started.wait(START_TIMEOUT) or self._error is not None:
            raise OSError(f"the MQTT endpoint did not start: {self._error}")
        self.state.events.subscribe(MESSAGE_PUBLISHED, self._published_elsewhere)
        self.state.events.subscribe(RESET, self._on_reset)
        return self

    def stop(self) -> None:
        self.state.events.unsubscribe(MESSAGE_PUBLISHED, self._published_elsewhere)
        self.state.events.unsubscribe(RESET, self._on_reset)
        if self._thread is None:
            return
        self.loop.call_soon_threadsafe(self._shutdown)
        self._thread.join(timeout=10)
        self._thread = None

    def _run(self, listener: socket.socket) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self._server = self.loop.run_until_complete(
                self.loop.create_server(lambda: Connection(self), sock=listener)
            )
        except Exception as exc:  # noqa: BLE001 - handed to start(), which raises it
            self._error = exc
            self._started.set()
            listener.close()
            finish_loop(self.loop)
            return
        self.loop.call_later(TICK_SECONDS, self._tick)
        self.loop.call_later(SWEEP_SECONDS, self._sweep)
        self._started.set()
        try:
            self.loop.run_forever()
        finally:
            finish_loop(self.loop)  # handshakes still in flight end here, while the loop can run their clean-up

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for connection in list(self.accepted):
            connection.close(SERVER_INITIATED, 0x8B, send_will=False)
        self.loop.call_later(0.05, self.loop.stop)

    def _published_elsewhere(self, account_id: str, region: str, topic: str, payload: bytes, qos: int = 0,
                             **_: Any) -> None:  # fmt: skip
        self.loop.call_soon_threadsafe(self.route, (account_id, region), topic, payload, qos, False, {})

    def _on_reset(self) -> None:
        self._epoch += 1  # connections made before this instant end; later ones stay
        self.loop.call_soon_threadsafe(self._forget_before, self._epoch)

    def _forget_before(self, epoch: int) -> None:
        for connection in [c for c, e in self._epochs.items() if e < epoch]:
            connection.close(SERVER_INITIATED, 0x8B, send_will=False)
        for key in [k for k, s in self.sessions.items() if s.connection is None]:
            self._end_session(self.sessions[key])
        self.retained.clear()
        self._trusted.clear()
        self.jobs.forget()

    # --- connections (the loop's thread) ---------------------------------------------------------------

    def sync_trust(self) -> None:
        """Trust the CAs (and CA-less certificates) registered since the last connection."""
        with self.state.lock:
            for account_id, region, registry in self.state.stores(IDENTITY_STORE):
                loaded = self._trusted.get((account_id, region), 0)
                anchors = list(registry.trust_anchors.values())
                for pem in anchors[loaded:]:
                    self.ssl_context.load_verify_locations(cadata=pem)
                self._trusted[(account_id, region)] = len(anchors)

    def admit(self, key: str, *, enforce: bool = True) -> bool:
        """Count one ``mqtt:`` operation; False when the enforced quota refuses it."""
        state = self.state
        state.counters.call(key)
        if enforce and not state.quotas.allow(key):
            state.counters.throttle(key)
            return False
        return True

    def authenticate(self, der: bytes | None, client_id: str) -> Identity | None:
        with self.state.lock:
            return authenticate(self.state, der, client_id)

    def current_identity(self, connection: Connection) -> Identity | None:
        """The connection's identity, rebuilt when the registry changed; None (and closed) when it is void."""
        identity = connection.identity
        if identity is not None and identity.stale:
            identity = self.authenticate(connection.certificate_der, connection.client_id)
            connection.identity = identity
        if identity is None:
            connection.close(AUTHORIZATION_FAILURE, NOT_AUTHORIZED)
        return identity

    def accepts_topic(self, topic: str) -> bool:
        """Whether a client may publish to ``topic`` at all: reserved topics only where a service answers."""
        if not topic.startswith("$"):
            return True
        return topic.startswith(ALLOWED_RESERVED) or jobs_topics.is_request(topic) or shadow_topics.is_request(topic)

    def opened(self, connection: Connection, request: Connect) -> bool:
        """A client connected: take over its client id's connection and session; True when a session resumes."""
        identity = connection.identity
        assert identity is not None
        self.connections.add(connection)
        self._epochs[connection] = self._epoch
        key = (identity.account_id, identity.region, connection.client_id)
        session = self.sessions.get(key)
        if session is not None and session.connection is not None:
            session.connection.close(DUPLICATE_CLIENTID, SESSION_TAKEN_OVER, send_will=True)
        expiry = float(request.properties.get(SESSION_EXPIRY, 0)) if request.version == MQTT_5 else (
            0.0 if request.clean_start else PERSISTENT_SESSION_SECONDS
        )
        expiry = min(expiry, PERSISTENT_SESSION_SECONDS)
        resumed = session is not None and not request.clean_start and session.persistent
        if session is not None and not resumed:
            self._end_session(session)
            session = None
        if session is None:
            session = Session(identity.account_id, identity.region, connection.client_id, expiry > 0, expiry)
            self.sessions[key] = session
        session.persistent, session.expiry_seconds = expiry > 0, expiry
        session.connection = connection
        session.expires_at = None
        connection.session = session  # type: ignore[attr-defined]
        if resumed:
            while session.queued:
                topic, payload, qos, retain, properties = session.queued.popleft()
                connection.deliver(topic, payload, qos, retain, properties)
        return resumed

    def announce_connected(self, connection: Connection) -> None:
        identity = connection.identity
        assert identity is not None
        for topic, payload in self.presence.connected(connection, identity):
            self.route((identity.account_id, identity.region), topic, payload, 1, False, {})

    def closed(self, connection: Connection, reason: str, *, send_will: bool) -> None:
        self.connections.discard(connection)
        self._epochs.pop(connection, None)
        identity = connection.identity
        session: Session | None = getattr(connection, "session", None)
        if identity is None or session is None:
            return
        scope = (identity.account_id, identity.region)
        if session.connection is connection:
            session.connection = None
            if session.persistent:
                session.expires_at = time.monotonic() + session.expiry_seconds
            else:
                self._end_session(session)
        will = connection.will
        if send_will and will is not None and reason != CLIENT_INITIATED:
            if self._may_publish(identity, will.topic, will.retain):
                self.route(scope, will.topic, will.payload, will.qos, will.retain, will.properties)
        for topic, payload in self.presence.disconnected(connection, identity, reason):
            self.route(scope, topic, payload, 1, False, {})

    def _end_session(self, session: Session) -> None:
        index = self.indexes[(session.account_id, session.region)]
        for topic_filter in session.subscriptions:
            index.remove(topic_filter, session)
        session.subscriptions.clear()
        if self.sessions.get(session.key) is session:
            del self.sessions[session.key]

    @staticmethod
    def _may_publish(identity: Identity, topic: str, retain: bool) -> bool:
        arn = identity.arn("topic", topic)
        return identity.allows(PUBLISH, arn) and (not retain or identity.allows(RETAIN_PUBLISH, arn))

    # --- messages -----------------------------------------------------------------------------------------

    def subscribe(self, connection: Connection, granted: list[Subscription]) -> None:
        session: Session = connection.session  # type: ignore[attr-defined]
        index = self.indexes[(session.account_id, session.region)]
        retained = self.retained.get((session.account_id, session.region), {})
        for subscription in granted:
            new = subscription.topic_filter not in session.subscriptions
            session.subscriptions[subscription.topic_filter] = subscription
            index.add(subscription.topic_filter, session, subscription)
            if retained and subscription.retain_handling != 2 and (new or subscription.retain_handling == 0):
                for topic, (payload, qos, properties) in retained.items():
                    if matches(subscription.topic_filter, topic):
                        self._deliver(session, topic, payload, min(qos, subscription.qos), True, properties)

    def unsubscribe(self, connection: Connection, filters: list[str]) -> None:
        session: Session = connection.session  # type: ignore[attr-defined]
        index = self.indexes[(session.account_id, session.region)]
        for topic_filter in filters:
            if session.subscriptions.pop(topic_filter, None) is not None:
                index.remove(topic_filter, session)

    def received(self, connection: Connection, message: Publish) -> None:
        """A client's authorised PUBLISH: the services behind reserved topics, then the subscribers."""
        identity = connection.identity
        assert identity is not None
        scope = (identity.account_id, identity.region)
        topic = message.topic
        if jobs_topics.is_request(topic):
            for reply_topic, payload in self.jobs.handle(scope, topic, message.payload):
                self._reply(connection, reply_topic, payload, max(message.qos, 0))
            self._push_job_notifications()
            return  # jobs requests and answers do not pass through the broker
        if message.retain:
            if message.payload:
                self.retained[scope][topic] = (message.payload, message.qos, dict(message.properties))
            else:
                self.retained[scope].pop(topic, None)
        self.route(scope, topic, message.payload, message.qos, message.retain, message.properties,
                   no_local=connection)  # fmt: skip
        if shadow_topics.is_request(topic):
            for reply_topic, payload in self.shadows.handle(scope, topic, message.payload):
                self.route(scope, reply_topic, payload, 1, False, {})
            self._push_job_notifications()

    def _reply(self, connection: Connection, topic: str, payload: bytes, qos: int) -> None:
        identity = connection.identity
        if identity is not None and identity.allows(RECEIVE, identity.arn("topic", topic)):
            connection.deliver(topic, payload, min(qos, 1))

    def route(self, scope: Scope, topic: str, payload: bytes, qos: int, retain: bool,
              properties: dict[int, Any], *, no_local: Connection | None = None) -> None:  # fmt: skip
        """Deliver a message to every session subscribed to ``topic`` in ``scope`` (each once, at the highest
        QoS it subscribed with, capped by the message's)."""
        index = self.indexes.get(scope)
        if index is None or not index.count:
            return
        chosen: dict[Session, Subscription] = {}
        for session, subscription in index.subscribers(topic):
            if subscription.no_local and no_local is not None and session.connection is no_local:
                continue
            found = chosen.get(session)  # type: ignore[call-overload]
            if found is None or subscription.qos > found.qos:
                chosen[session] = subscription  # type: ignore[index]
        for session, subscription in chosen.items():
            self._deliver(session, topic, payload, min(qos, subscription.qos),
                          retain and subscription.retain_as_published, properties)  # fmt: skip

    def _deliver(self, session: Session, topic: str, payload: bytes, qos: int, retain: bool,
                 properties: dict[int, Any]) -> None:  # fmt: skip
        connection = session.connection
        if connection is None:
            if session.persistent and qos:
                session.queued.append((topic, payload, qos, retain, dict(properties)))
            return
        identity = self.current_identity(connection)
        if identity is None or not identity.allows(RECEIVE, identity.arn("topic", topic)):
            return
        connection.deliver(topic, payload, qos, retain, properties)

    # --- time -----------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        try:
            if self.connections:
                with self.state.lock:
                    self.jobs.advance()
                self._push_job_notifications()
        except Exception:  # a failed tick must not stop the endpoint; logged with its cause
            log.exception("processing due jobs events for MQTT clients failed")
        self.loop.call_later(TICK_SECONDS, self._tick)

    def _push_job_notifications(self) -> None:
        for scope, topic, payload in self.jobs.notifications():
            self.route(scope, topic, payload, 1, False, {})

    def _sweep(self) -> None:
        now = time.monotonic()
        for connection in [c for c in self.connections if c.expired(now)]:
            connection.close(KEEPALIVE_EXPIRED, KEEP_ALIVE_TIMEOUT)
        for session in [s for s in self.sessions.values() if s.expires_at is not None and s.expires_at <= now]:
            self._end_session(session)
        self.loop.call_later(SWEEP_SECONDS, self._sweep)


def start_endpoint(state: EmulatorState) -> Broker | None:
    """The MQTT endpoint of ``state``'s settings, listening (None when the settings turn it off)."""
    settings = state.settings
    if not settings.mqtt:
        return None
    broker = Broker(state, settings.host, settings.mqtt_port).start()
    state.mqtt_endpoint, state.mqtt_ca_path = broker.endpoint, broker.ca_path
    return broker


def stop_endpoint(state: EmulatorState, broker: Broker | None) -> None:
    if broker is not None:
        broker.stop()
        state.mqtt_endpoint = state.mqtt_ca_path = None
