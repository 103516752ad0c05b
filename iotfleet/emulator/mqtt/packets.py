"""The MQTT wire format, versions 3.1.1 (protocol level 4) and 5: decoding what clients send, encoding answers.

Only what a broker needs: CONNECT, PUBLISH, PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ and DISCONNECT are
read; CONNACK, PUBLISH, PUBACK, SUBACK, UNSUBACK, PINGRESP and DISCONNECT are written. MQTT 5 properties
are read and written by their identifiers (a property the broker does not use is read and kept, so a
packet is never misparsed). A malformed packet raises :class:`MalformedPacket`; the connection answers
it by closing, as the specification asks.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH = 8, 9, 10, 11, 12, 13, 14, 15
MQTT_311 = 4
MQTT_5 = 5
MAX_REMAINING_LENGTH = 268_435_455

# MQTT 5 property identifiers and how each is encoded.
_BYTE, _TWO, _FOUR, _VARINT, _TEXT, _BINARY, _PAIR = "byte", "two", "four", "varint", "text", "binary", "pair"
PROPERTY_TYPES: dict[int, str] = {
    0x01: _BYTE, 0x02: _FOUR, 0x03: _TEXT, 0x08: _TEXT, 0x09: _BINARY, 0x0B: _VARINT, 0x11: _FOUR,
    0x12: _TEXT, 0x13: _TWO, 0x15: _TEXT, 0x16: _BINARY, 0x17: _BYTE, 0x18: _FOUR, 0x19: _BYTE,
    0x1A: _TEXT, 0x1C: _TEXT, 0x1F: _TEXT, 0x21: _TWO, 0x22: _TWO, 0x23: _TWO, 0x24: _BYTE, 0x25: _BYTE,
    0x26: _PAIR, 0x27: _FOUR, 0x28: _BYTE, 0x29: _BYTE, 0x2A: _BYTE,
}  # fmt: skip
PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SESSION_EXPIRY = 0x11
SERVER_KEEP_ALIVE = 0x13
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_AVAILABLE = 0x28
SUBSCRIPTION_IDS_AVAILABLE = 0x29
SHARED_AVAILABLE = 0x2A
# Properties a broker forwards with a message to its subscribers.
FORWARDED_PROPERTIES = (PAYLOAD_FORMAT, MESSAGE_EXPIRY, CONTENT_TYPE, RESPONSE_TOPIC, CORRELATION_DATA, USER_PROPERTY)

Properties = dict[int, Any]  # user properties: a list of (name, value) pairs


class MalformedPacket(ValueError):
    """A packet that does not follow the specification (the connection is closed)."""


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def remaining(self) -> int:
        return len(self.data) - self.pos

    def take(self, size: int) -> bytes:
        if size < 0 or self.pos + size > len(self.data):
            raise MalformedPacket("the packet ends early")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def byte(self) -> int:
        return self.take(1)[0]

    def two(self) -> int:
        return int(struct.unpack("!H", self.take(2))[0])

    def four(self) -> int:
        return int(struct.unpack("!I", self.take(4))[0])

    def varint(self) -> int:
        value, shift = 0, 0
        for _ in range(4):
            byte = self.byte()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise MalformedPacket("a variable byte integer is longer than four bytes")

    def binary(self) -> bytes:
        return self.take(self.two())

    def text(self) -> str:
        raw = self.binary()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedPacket("a string is not UTF-8") from None
        if "\x00" in text:
            raise MalformedPacket("a string holds the null character")
        return text

    def properties(self) -> Properties:
        length = self.varint()
        end = self.pos + length
        if end > len(self.data):
            raise MalformedPacket("the properties run past the packet")
        found: Properties = {}
        while self.pos < end:
            identifier = self.varint()
            kind = PROPERTY_TYPES.get(identifier)
            if kind is None:
                raise MalformedPacket(f"unknown property identifier 0x{identifier:02x}")
            value: Any
            if kind == _BYTE:
                value = self.byte()
            elif kind == _TWO:
                value = self.two()
            elif kind == _FOUR:
                value = self.four()
            elif kind == _VARINT:
                value = self.varint()
            elif kind == _TEXT:
                value = self.text()
            elif kind == _BINARY:
                value = self.binary()
            else:
                value = (self.text(), self.text())
            if identifier == USER_PROPERTY:
                found.setdefault(USER_PROPERTY, []).append(value)
            elif identifier == 0x0B:
                found.setdefault(0x0B, []).append(value)
            elif identifier in found:
                raise MalformedPacket(f"property 0x{identifier:02x} appears twice")
            else:
                found[identifier] = value
        if self.pos != end:
            raise MalformedPacket("a property runs past the property length")
        return found


def varint(value: int) -> bytes:
    if not 0 <= value <= MAX_REMAINING_LENGTH:
        raise ValueError(f"{value} does not fit a variable byte integer")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | 0x80 if value else byte)
        if not value:
            return bytes(out)


def _binary(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


def _text(text: str) -> bytes:
    return _binary(text.encode("utf-8"))


def encode_properties(properties: Properties | None) -> bytes:
    out = bytearray()
    for identifier, value in (properties or {}).items():
        kind = PROPERTY_TYPES[identifier]
        values = value if kind == _PAIR or identifier == 0x0B else [value]
        for one in values:
            out += varint(identifier)
            if kind == _BYTE:
                out.append(one)
            elif kind == _TWO:
                out += struct.pack("!H", one)
            elif kind == _FOUR:
                out += struct.pack("!I", one)
            elif kind == _VARINT:
                out += varint(one)
            elif kind == _TEXT:
                out += _text(one)
            elif kind == _BINARY:
                out += _binary(one)
            else:
                out += _text(one[0]) + _text(one[1])
    return varint(len(out)) + bytes(out)


def _packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([(kind << 4) | flags]) + varint(len(body)) + body


def split_packet(buffer: bytearray) -> tuple[int, int, bytes, int] | None:
    """``(type, flags, body, size)`` of the first whole packet in ``buffer``, or None while it is incomplete."""
    if len(buffer) < 2:
        return None
    length, shift, index = 0, 0, 1
    while True:
        if index >= len(buffer):
            return None
        byte = buffer[index]
        length |= (byte & 0x7F) << shift
        index += 1
        if not byte & 0x80:
            break
        shift += 7
        if index > 4:
            raise MalformedPacket("the remaining length is longer than four bytes")
    end = index + length
    if len(buffer) < end:
        return None
    return buffer[0] >> 4, buffer[0] & 0x0F, bytes(buffer[index:end]), end


# --- what clients send ---------------------------------------------------------------------------------


@dataclass
class Will:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: Properties = field(default_factory=dict)


@dataclass
class Connect:
    version: int
    client_id: str
    clean_start: bool
    keep_alive: int
    properties: Properties = field(default_factory=dict)
    will: Will | None = None
    username: str | None = None


@dataclass
class Publish:
    topic: str
    payload: bytes
    qos: int = 0
    retain: bool = False
    dup: bool = False
    packet_id: int | None = None
    properties: Properties = field(default_factory=dict)


@dataclass
class Subscription:
    topic_filter: str
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0


def read_connect(body: bytes) -> Connect:
    """A CONNECT packet's fields; raises :class:`UnsupportedVersion` for a protocol level other than 4 or 5."""
    reader = _Reader(body)
    name = reader.text()
    level = reader.byte()
    if name != "MQTT" or level not in (MQTT_311, MQTT_5):
        raise UnsupportedVersion(level if name == "MQTT" else 0)
    flags = reader.byte()
    if flags & 0x01:
        raise MalformedPacket("the reserved CONNECT flag is set")
    keep_alive = reader.two()
    properties = reader.properties() if level == MQTT_5 else {}
    client_id = reader.text()
    will: Will | None = None
    if flags & 0x04:
        will_properties = reader.properties() if level == MQTT_5 else {}
        topic = reader.text()
        payload = reader.binary()
        will = Will(topic, payload, (flags >> 3) & 0x03, bool(flags & 0x20), will_properties)
    elif flags & 0x38:
        raise MalformedPacket("will QoS or retain set without a will")
    username = reader.text() if flags & 0x80 else None
    if flags & 0x40:
        reader.binary()  # a password: certificates authenticate here
    return Connect(level, client_id, bool(flags & 0x02), keep_alive, properties, will, username)


class UnsupportedVersion(MalformedPacket):
    def __init__(self, level: int) -> None:
        super().__init__(f"unsupported protocol level {level}")
        self.level = level


def read_publish(flags: int, body: bytes, version: int) -> Publish:
    reader = _Reader(body)
    qos = (flags >> 1) & 0x03
    if qos == 3:
        raise MalformedPacket("QoS 3 does not exist")
    topic = reader.text()
    packet_id = reader.two() if qos else None
    properties = reader.properties() if version == MQTT_5 else {}
    payload = reader.take(reader.remaining())
    return Publish(topic, payload, qos, bool(flags & 0x01), bool(flags & 0x08), packet_id, properties)


def read_packet_id(body: bytes) -> int:
    return _Reader(body).two()


def read_subscribe(body: bytes, version: int) -> tuple[int, list[Subscription], Properties]:
    reader = _Reader(body)
    packet_id = reader.two()
    properties = reader.properties() if version == MQTT_5 else {}
    subscriptions = []
    while reader.remaining():
        topic_filter = reader.text()
        options = reader.byte()
        subscriptions.append(
            Subscription(topic_filter, options & 0x03, bool(options & 0x04), bool(options & 0x08), (options >> 4) & 0x03)
        )
    if not subscriptions:
        raise MalformedPacket("a SUBSCRIBE packet names no topic filter")
    return packet_id, subscriptions, properties


def read_unsubscribe(body: bytes, version: int) -> tuple[int, list[str]]:
    reader = _Reader(body)
    packet_id = reader.two()
    if version == MQTT_5:
        reader.properties()
    filters = []
    while reader.remaining():
        filters.append(reader.text())
    if not filters:
        raise MalformedPacket("an UNSUBSCRIBE packet names no topic filter")
    return packet_id, filters


def read_disconnect(body: bytes, version: int) -> tuple[int, Properties]:
    """The reason code (0: normal) and properties of a DISCONNECT."""
    if version != MQTT_5 or not body:
        return 0, {}
    reader = _Reader(body)
    reason = reader.byte()
    return reason, (reader.properties() if reader.remaining() else {})


# --- what the broker sends -------------------------------------------------------------------------------


def connack(version: int, code: int, session_present: bool = False, properties: Properties | None = None) -> bytes:
    """CONNACK: ``code`` is the MQTT 5 reason code, or the 3.1.1 return code for version 4."""
    body = bytes([1 if session_present and code == 0 else 0, code])
    if version == MQTT_5:
        body += encode_properties(properties)
    return _packet(CONNACK, 0, body)


def publish(message: Publish, version: int) -> bytes:
    flags = (message.qos << 1) | (0x01 if message.retain else 0) | (0x08 if message.dup else 0)
    body = _text(message.topic)
    if message.qos:
        assert message.packet_id is not None
        body += struct.pack("!H", message.packet_id)
    if version == MQTT_5:
        body += encode_properties({k: v for k, v in message.properties.items() if k in FORWARDED_PROPERTIES})
    return _packet(PUBLISH, flags, body + message.payload)


def puback(packet_id: int, version: int, reason: int = 0) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT_5 and reason:
        body += bytes([reason])
    return _packet(PUBACK, 0, body)


def suback(packet_id: int, codes: list[int], version: int) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT_5:
        body += encode_properties(None)
    return _packet(SUBACK, 0, body + bytes(codes))


def unsuback(packet_id: int, count: int, version: int) -> bytes:
    body = struct.pack("!H", packet_id)
    if version == MQTT_5:
        body += encode_properties(None) + bytes(count)
    return _packet(UNSUBACK, 0, body)


def pingresp() -> bytes:
    return _packet(PINGRESP, 0, b"")


def disconnect(version: int, reason: int, text: str | None = None) -> bytes | None:
    """A server DISCONNECT (MQTT 5 only: a 3.1.1 server just closes the connection)."""
    if version != MQTT_5:
        return None
    return _packet(DISCONNECT, 0, bytes([reason]) + encode_properties({REASON_STRING: text} if text else None))
