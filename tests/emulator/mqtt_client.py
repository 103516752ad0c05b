"""A small blocking MQTT client for the endpoint tests: gmqtt on an event loop thread of its own.

``client.connect()`` raises when the endpoint refuses (ConnectionError when it closes the connection without a
CONNACK); ``publish``, ``subscribe`` (waits for the SUBACK and
returns the granted codes), ``next_message(topic)`` waits for a message on a topic; ``closed`` is set when the
endpoint ends the connection.
"""

from __future__ import annotations

import asyncio
import json
import queue
import ssl
import threading
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50, MQTTv311

from iotfleet.event_loops import finish_loop


class TestClient:
    __test__ = False

    def __init__(self, endpoint: str, ca_file: str, cert_file: str, key_file: str, client_id: str,
                 *, version: int = 5) -> None:  # fmt: skip
        self.host, port = endpoint.rsplit(":", 1)
        self.port = int(port)
        self.context = ssl.create_default_context(cafile=ca_file)
        self.context.load_cert_chain(cert_file, key_file)
        self.client_id = client_id
        self.version = MQTTv50 if version == 5 else MQTTv311
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()
        self.messages: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.closed = threading.Event()
        self.subacks: queue.Queue[list[int]] = queue.Queue()
        self.client: gmqtt.Client | None = None

    def _serve(self) -> None:
        try:
            self.loop.run_forever()
        finally:
            finish_loop(self.loop)

    def _run(self, coroutine: Any, timeout: float = 10.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def connect(self) -> TestClient:
        async def go() -> None:
            client = gmqtt.Client(self.client_id)
            client.set_config({"reconnect_retries": 0, "reconnect_delay": 0})
            client.on_message = self._message
            client.on_subscribe = lambda _c, _mid, qos, _p: self.subacks.put(list(qos))
            lost = asyncio.get_running_loop().create_future()

            def disconnected(*_: Any) -> None:
                self.closed.set()
                if not lost.done():
                    lost.set_result(None)

            client.on_disconnect = disconnected
            self.client = client
            connecting = asyncio.ensure_future(client.connect(self.host, self.port, ssl=self.context,
                                                              version=self.version))  # fmt: skip
            # gmqtt waits for a CONNACK even when the endpoint closed the socket without one (how it refuses
            # an unknown or inactive certificate). A CONNACK that came before the close ends ``connecting``
            # within a few turns of the loop; when none came, it would never end.
            await asyncio.wait({connecting, lost}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            if lost.done() and not connecting.done():
                await asyncio.wait({connecting}, timeout=0.5)
            if not connecting.done():
                connecting.cancel()
                if lost.done():
                    raise ConnectionError("the endpoint closed the connection without a CONNACK")
                raise TimeoutError("no CONNACK within 5 seconds")
            connecting.result()

        try:
            self._run(go())
        except BaseException:
            self.close()  # gmqtt retries a lost connection once: a refused client must not come back later
            raise
        return self

    def _message(self, _client: Any, topic: str, payload: bytes, _qos: int, _properties: Any) -> int:
        try:
            document: Any = json.loads(payload)
        except ValueError:
            document = payload
        self.messages.put((topic, document))
        return 0

    def subscribe(self, *topics: str) -> list[int]:
        assert self.client is not None
        client = self.client
        self.loop.call_soon_threadsafe(lambda: client.subscribe([gmqtt.Subscription(t, qos=1) for t in topics]))
        return self.subacks.get(timeout=5)

    def publish(self, topic: str, document: Any, qos: int = 1) -> None:
        assert self.client is not None
        client = self.client
        payload = document if isinstance(document, bytes) else json.dumps(document)
        self.loop.call_soon_threadsafe(lambda: client.publish(topic, payload, qos=qos))

    def next_message(self, topic: str, timeout: float = 5.0) -> Any:
        """The payload of the next message on ``topic`` (messages on other topics are skipped)."""
        while True:
            got, document = self.messages.get(timeout=timeout)
            if got == topic:
                return document

    def close(self) -> None:
        if self.loop.is_closed():
            return
        if self.client is not None and not self.closed.is_set():
            client = self.client
            client.stop_reconnect()
            self._run(client.disconnect(), 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
