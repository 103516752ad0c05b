"""Serving the emulator over HTTP(S): the threaded werkzeug server, in the foreground or in a thread.

:func:`make_server` is shared by the foreground server (:func:`serve`, ``python -m iotfleet.emulator``)
and the in-process emulator (:mod:`iotfleet.emulator.inprocess`).
"""

from __future__ import annotations

import logging
import signal
import ssl
import sys
from types import FrameType

from iotfleet.emulator.app import EmulatorApp
from iotfleet.emulator.httpserver import EmulatorHTTPServer, UnderscoreHeaders
from iotfleet.emulator.moto_patches.gateway import PRESERVED_HEADER_NAMES_ENVIRON_KEY, keeps_underscore_header
from iotfleet.emulator.mqtt.broker import start_endpoint, stop_endpoint
from iotfleet.emulator.settings import EmulatorSettings
from iotfleet.emulator.state import EmulatorState

log = logging.getLogger(__name__)

MQTT_LISTENING = "iotfleet emulator MQTT endpoint (mutual TLS) on "


def _ssl_context(tls: bool) -> ssl.SSLContext | None:
    if not tls:
        return None
    from iotfleet.emulator.tls import ensure_certificates

    files = ensure_certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.server_cert), str(files.server_key))
    return context


def make_server(state: EmulatorState, *, access_log: bool = False) -> EmulatorHTTPServer:
    """A threaded HTTP(S) server for a new :class:`EmulatorApp` on ``state`` (not started).

    It binds the host and port of ``state.settings``. Raises OSError when the address cannot be bound.
    """
    settings = state.settings
    app = EmulatorApp(state)
    server = EmulatorHTTPServer(
        settings.host,
        settings.port,
        app,
        ssl_context=_ssl_context(settings.tls),
        access_log=access_log,
        underscore_headers=UnderscoreHeaders(keeps_underscore_header, PRESERVED_HEADER_NAMES_ENVIRON_KEY),
    )
    scheme = "https" if settings.tls else "http"
    url_host = "localhost" if settings.tls and settings.host in ("127.0.0.1", "localhost") else settings.host
    if ":" in url_host:
        url_host = f"[{url_host}]"
    state.base_url = f"{scheme}://{url_host}:{server.server_port}"
    server.emulator_app = app  # type: ignore[attr-defined]
    return server


def serve(settings: EmulatorSettings, *, access_log: bool = False) -> None:
    """Run the emulator in the foreground until SIGINT/SIGTERM."""
    state = EmulatorState(settings)
    if access_log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    server = make_server(state, access_log=access_log)

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        broker = start_endpoint(state)
    except OSError:
        server.server_close()
        raise
    print(f"iotfleet emulator listening on {state.base_url}", flush=True)
    if broker is not None:
        print(f"{MQTT_LISTENING}{broker.endpoint}", flush=True)
    if settings.tls or broker is not None:
        from iotfleet.emulator.tls import ensure_certificates

        print(f"CA certificate: {ensure_certificates().ca_cert}  (export AWS_CA_BUNDLE=<this path>)", flush=True)
    shown: list[str] = []
    if settings.enforce_quotas:
        shown.append("quotas enforced")
    if settings.fault_rate:
        shown.append(f"faults rate={settings.fault_rate} seed={settings.fault_seed}")
    if settings.time_scale != 1.0:
        shown.append(f"time scale x{settings.time_scale}")
    if shown:
        print("settings: " + ", ".join(shown), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        print("iotfleet emulator stopped", file=sys.stderr, flush=True)
    finally:
        stop_endpoint(state, broker)
        server.server_close()
