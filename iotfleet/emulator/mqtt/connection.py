"""One MQTT client connection: TLS, the CONNECT handshake, and every packet after it.

The connection is accepted as plain TCP; before the TLS handshake the broker brings its trust store up to
date with the CAs registered since the last connection, then the handshake requires a client certificate
that chains to one of them (or to the stand-in for Amazon's CA). What the certificate may do is decided
after the handshake, from the registry, as AWS IoT does:

* the certificate must be registered and ACTIVE, and its CA (if it has one) ACTIVE, or the connection is
  closed without a CONNACK;
* a connect beyond the account's ``mqtt:Connect`` quota (when the emulator enforces quotas) is refused (3.1.1
  return code 3, MQTT 5 reason 0x9F);
* ``iot:Connect`` on ``client/<clientId>`` must be allowed, or the CONNACK says "not authorized" (3.1.1
  return code 5, MQTT 5 reason 0x87) and the connection closes;
* a second connection with the same client id takes the session over: the first is closed (MQTT 5:
  DISCONNECT 0x8E) with the disconnect reason ``DUPLICATE_CLIENTID``;
* a PUBLISH that ``iot:Publish`` (with the retain flag, also ``iot:RetainPublish``) does not allow, or to a
  reserved topic no service answers, or with QoS 2, ends the connection (MQTT 5: DISCONNECT 0x87 or 0x9B),
  as AWS IoT does; a SUBSCRIBE that ``iot:Subscribe`` does not allow gets a failure code for that filter;
  each topic filter counts as one ``mqtt:Subscribe`` (AWS IoT counts subscriptions per second by filter, not
  by SUBSCRIBE packet), and one beyond the quota (when the emulator enforces quotas) gets "quota exceeded"
  (MQTT 5 reason 0x97, 3.1.1 failure 0x80); a message reaches a subscriber only when ``iot:Receive`` allows
  it.

The policies are compiled once per connection and again whenever the account's registry changes anything
a certificate may do (a policy attached, a version made the default, the certificate deactivated: then the
connection ends).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import TYPE_CHECKING

from iotfleet.emulator.identity.authorization import CONNECT, PUBLISH, RETAIN_PUBLISH, SUBSCRIBE
from iotfleet.emulator.mqtt import packets
from iotfleet.emulator.mqtt.packets import MQTT_5, MalformedPacket, Publish, UnsupportedVersion
from iotfleet.emulator.mqtt.topics import SHARED_PREFIX, filter_problem, topic_problem

if TYPE_CHECKING:
    from iotfleet.emulator.mqtt.broker import Broker
    from iotfleet.emulator.mqtt.sessions import Identity

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0
HANDSHAKE_TIMEOUT = 10.0
MIN_KEEP_ALIVE, MAX_KEEP_ALIVE = 30, 1200
MAX_TOPIC_ALIAS = 8
RECEIVE_MAXIMUM = 100
MAX_PACKET_SIZE = 149_504  # AWS IoT Core: 128 KB of payload and room for the rest

# MQTT 5 reason codes, and the 3.1.1 CONNACK return codes the broker uses.
NOT_AUTHORIZED = 0x87
CLIENT_ID_NOT_VALID = 0x85
UNSUPPORTED_VERSION = 0x84
SESSION_TAKEN_OVER = 0x8E
KEEP_ALIVE_TIMEOUT = 0x8D
TOPIC_NAME_INVALID = 0x90
TOPIC_FILTER_INVALID = 0x8F
QOS_NOT_SUPPORTED = 0x9B
SHARED_NOT_SUPPORTED = 0x9E
QUOTA_EXCEEDED = 0x97
CONNECTION_RATE_EXCEEDED = 0x9F
PROTOCOL_ERROR = 0x82
SUBSCRIBE_FAILED_311 = 0x80
RETURN_CODES_311 = {NOT_AUTHORIZED: 5, CLIENT_ID_NOT_VALID: 2, UNSUPPORTED_VERSION: 1, CONNECTION_RATE_EXCEEDED: 3}

# Disconnect reasons, as the lifecycle events and connectivity indexing report them.
CLIENT_INITIATED = "CLIENT_INITIATED_DISCONNECT"
DUPLICATE_CLIENTID = "DUPLICATE_CLIENTID"
KEEPALIVE_EXPIRED = "MQTT_KEEP_ALIVE_TIMEOUT"
CONNECTION_LOST = "CONNECTION_LOST"
FORBIDDEN = "FORBIDDEN_ACCESS"
AUTHORIZATION_FAILURE = "AUTHORIZATION_FAILURE"
SERVER_INITIATED = "SERVER_INITIATED_DISCONNECT"
PROTOCOL_VIOLATION = "CLIENT_ERROR"


class Connection(asyncio.Protocol):
    """The broker's side of one client; created per accepted socket."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.version = packets.MQTT_311
        self.identity: Identity | None = None
        self.client_id = ""
        self.connected = False
        self.closing = False
        self.keep_alive = 0
        self.last_heard = time.monotonic()
        self.peer = ""
        self.certificate_der: bytes | None = None
        self.will: packets.Will | None = None
        self.disconnect_reason: str | None = None
        self._aliases: dict[int, str] = {}
        self._packet_id = 0

    # --- transport --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]) if peer else ""
        if self.transport is None:  # the plain TCP connection: nothing is read until TLS takes it over
            self.transport = transport
            self.broker.accepted.add(self)
            transport.pause_reading()
            self.broker.loop.create_task(self._start_tls(transport))

    async def _start_tls(self, raw: asyncio.Transport) -> None:
        broker = self.broker
        broker.sync_trust()
        try:
            secure = await broker.loop.start_tls(
                raw, self, broker.ssl_context, server_side=True, ssl_handshake_timeout=HANDSHAKE_TIMEOUT
            )
        except (ssl.SSLError, OSError, asyncio.TimeoutError, ConnectionError) as exc:
            log.debug("TLS handshake with %s failed: %s", self.peer, exc)
            self._gone(raw)
            return
        if secure is None:
            self._gone(raw)
            return
        if self.closing:  # the endpoint stopped during the handshake
            secure.abort()
            return
        assert isinstance(secure, asyncio.Transport)
        self.transport = secure
        ssl_object = secure.get_extra_info("ssl_object")
        self.certificate_der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        self.last_heard = time.monotonic()
        broker.loop.call_later(CONNECT_TIMEOUT, self._connect_deadline)
        if self.buffer:
            self._drain()

    def _connect_deadline(self) -> None:
        if not self.connected and not self.closing:
            self.close(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.certificate_der is not None:
            self._drain()

    def _drain(self) -> None:
        while not self.closing:
            try:
                found = packets.split_packet(self.buffer)
            except MalformedPacket:
                self.close(PROTOCOL_VIOLATION, 0x81)
                return
            if found is None:
                return
            kind, flags, body, size = found
            del self.buffer[:size]
            self.last_heard = time.monotonic()
            try:
                self._packet(kind, flags, body)
            except UnsupportedVersion:
                self.write(packets.connack(packets.MQTT_311, RETURN_CODES_311[UNSUPPORTED_VERSION]))
                self.close(None)
            except MalformedPacket as exc:
                log.debug("malformed packet from %s: %s", self.client_id or self.peer, exc)
                self.close(PROTOCOL_VIOLATION, 0x81)

    def _gone(self, raw: asyncio.Transport) -> None:
        """The handshake failed: the socket goes, and no session ever existed."""
        raw.abort()
        self.closing = True
        self.broker.accepted.discard(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.broker.accepted.discard(self)
        if not self.closing:
            self.closing = True
            self.broker.closed(self, self.disconnect_reason or CONNECTION_LOST, send_will=True)

    def write(self, data: bytes | None) -> None:
        if data is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self, reason: str | None, code: int | None = None, *, send_will: bool = True) -> None:
        """End the connection (MQTT 5: with a DISCONNECT carrying ``code``); ``reason`` as events report it."""
        if self.closing:
            return
        self.closing = True
        if code is not None and self.connected:
            self.write(packets.disconnect(self.version, code))
        if self.transport is not None:
            self.transport.close()
        if self.connected:
            self.broker.closed(self, reason or SERVER_INITIATED, send_will=send_will)

    # --- packets ----------------------------------------------------------------------------------------

    def _packet(self, kind: int, flags: int, body: bytes) -> None:
        if not self.connected:
            if kind != packets.CONNECT:
                raise MalformedPacket("the first packet must be CONNECT")
            self._connect(packets.read_connect(body))
        elif kind == packets.PUBLISH:
            self._publish(packets.read_publish(flags, body, self.version))
        elif kind == packets.PUBACK:
            packets.read_packet_id(body)
        elif kind == packets.SUBSCRIBE:
            self._subscribe(*packets.read_subscribe(body, self.version)[:2])
        elif kind == packets.UNSUBSCRIBE:
            packet_id, filters = packets.read_unsubscribe(body, self.version)
            self.broker.unsubscribe(self, filters)
            self.write(packets.unsuback(packet_id, len(filters), self.version))
        elif kind == packets.PINGREQ:
            self.write(packets.pingresp())
        elif kind == packets.DISCONNECT:
            reason, _ = packets.read_disconnect(body, self.version)
            self.close(CLIENT_INITIATED, send_will=reason == 0x04)
        elif kind == packets.CONNECT:
            raise MalformedPacket("a second CONNECT")
        else:
            raise MalformedPacket(f"packet type {kind} is not handled by this broker")

    def _refuse(self, code: int) -> None:
        answer = code if self.version == MQTT_5 else RETURN_CODES_311.get(code, 5)
        self.write(packets.connack(self.version, answer))
        self.close(None)

    def _connect(self, request: packets.Connect) -> None:
        self.version = request.version
        self.client_id = request.client_id
        identity = self.broker.authenticate(self.certificate_der, request.client_id)
        if identity is None:
            self.close(None)  # unknown or inactive certificate: no CONNACK, as a failed TLS login
            return
        if not request.client_id or len(request.client_id.encode("utf-8")) > 128:
            self._refuse(CLIENT_ID_NOT_VALID)
            return
        self.identity = identity
        if not self.broker.admit("mqtt:Connect"):
            self._refuse(CONNECTION_RATE_EXCEEDED)
            return
        if not identity.allows(CONNECT, identity.arn("client", request.client_id)):
            self._refuse(NOT_AUTHORIZED)
            return
        requested = request.keep_alive
        self.keep_alive = MAX_KEEP_ALIVE if requested == 0 else min(MAX_KEEP_ALIVE, max(MIN_KEEP_ALIVE, requested))
        self.will = request.will
        self.connected = True
        session_present = self.broker.opened(self, request)
        properties: packets.Properties = {}
        if self.version == MQTT_5:
            properties = {
                packets.RECEIVE_MAXIMUM: RECEIVE_MAXIMUM, packets.MAXIMUM_QOS: 1, packets.RETAIN_AVAILABLE: 1,
                packets.MAXIMUM_PACKET_SIZE: MAX_PACKET_SIZE, packets.TOPIC_ALIAS_MAXIMUM: MAX_TOPIC_ALIAS,
                packets.WILDCARD_AVAILABLE: 1, packets.SUBSCRIPTION_IDS_AVAILABLE: 0, packets.SHARED_AVAILABLE: 0,
            }  # fmt: skip
            if self.keep_alive != requested:
                properties[packets.SERVER_KEEP_ALIVE] = self.keep_alive
        self.write(packets.connack(self.version, 0, session_present, properties))
        self.broker.announce_connected(self)

    def _publish(self, message: Publish) -> None:
        identity = self.broker.current_identity(self)
        if identity is None:
            return
        alias = message.properties.pop(packets.TOPIC_ALIAS, None)
        if alias is not None:
            if not 1 <= alias <= MAX_TOPIC_ALIAS:
                self.close(PROTOCOL_VIOLATION, 0x94)
                return
            if message.topic:
                self._aliases[alias] = message.topic
            else:
                message.topic = self._aliases.get(alias, "")
        if message.qos == 2:
            self.close(PROTOCOL_VIOLATION, QOS_NOT_SUPPORTED)
            return
        problem = topic_problem(message.topic)
        if problem is not None:
            self.close(PROTOCOL_VIOLATION, TOPIC_NAME_INVALID)
            return
        topic_arn = identity.arn("topic", message.topic)
        allowed = identity.allows(PUBLISH, topic_arn) and (
            not message.retain or identity.allows(RETAIN_PUBLISH, topic_arn)
        )
        if not allowed or not self.broker.accepts_topic(message.topic):
            log.debug("%s may not publish to %s: disconnected", self.client_id, message.topic)
            self.close(FORBIDDEN, NOT_AUTHORIZED)
            return
        if message.qos == 1 and message.packet_id is not None:
            self.write(packets.puback(message.packet_id, self.version))
        self.broker.admit("mqtt:Publish", enforce=False)
        self.broker.received(self, message)

    def _subscribe(self, packet_id: int, subscriptions: list[packets.Subscription]) -> None:
        identity = self.broker.current_identity(self)
        if identity is None:
            return
        codes = []
        granted = []
        for subscription in subscriptions:
            topic_filter = subscription.topic_filter
            if topic_filter.startswith(SHARED_PREFIX):
                codes.append(SHARED_NOT_SUPPORTED if self.version == MQTT_5 else SUBSCRIBE_FAILED_311)
            elif filter_problem(topic_filter) is not None:
                codes.append(TOPIC_FILTER_INVALID if self.version == MQTT_5 else SUBSCRIBE_FAILED_311)
            elif not identity.allows(SUBSCRIBE, identity.arn("topicfilter", topic_filter)):
                codes.append(NOT_AUTHORIZED if self.version == MQTT_5 else SUBSCRIBE_FAILED_311)
            elif not self.broker.admit("mqtt:Subscribe"):
                codes.append(QUOTA_EXCEEDED if self.version == MQTT_5 else SUBSCRIBE_FAILED_311)
            else:
                subscription.qos = min(subscription.qos, 1)  # AWS IoT Core has no QoS 2
                codes.append(subscription.qos)
                granted.append(subscription)
        self.write(packets.suback(packet_id, codes, self.version))
        self.broker.subscribe(self, granted)

    # --- delivery ---------------------------------------------------------------------------------------

    def deliver(self, topic: str, payload: bytes, qos: int, retain: bool = False,
                properties: packets.Properties | None = None) -> None:  # fmt: skip
        """Send a message to this client (its ``iot:Receive`` is checked by the broker)."""
        packet_id = None
        if qos:
            self._packet_id = self._packet_id % 65535 + 1
            packet_id = self._packet_id
        message = Publish(topic, payload, qos, retain, False, packet_id, dict(properties or {}))
        self.write(packets.publish(message, self.version))

    def expired(self, now: float) -> bool:
        return self.connected and now - self.last_heard > 1.5 * self.keep_alive
