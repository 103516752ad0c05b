"""Serving the emulator over HTTP(S): the threaded werkzeug server, in the foreground or in a thread.

:func:`make_server` is shared by the foreground server (:func:`serve`, ``python -m iotfleet.emulator``)
and the in-process emulator (:mod:`iotfleet.emulator.inprocess`).
"""

from __future__ import annotations

import logging
import signal
import ssl
import sys
from collections.abc import Iterable, Mapping
from types import FrameType

from iotfleet.emulator.app import EmulatorApp
from iotfleet.emulator.httpserver import EmulatorHTTPServer, UnderscoreHeaders
from iotfleet.emulator.moto_patches.gateway import PRESERVED_HEADER_NAMES_ENVIRON_KEY, keeps_underscore_header
from iotfleet.emulator.state import EmulatorState

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4567


def _ssl_context(tls: bool) -> ssl.SSLContext | None:
    if not tls:
        return None
    from iotfleet.emulator.tls import ensure_certificates

    files = ensure_certificates()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(files.server_cert), str(files.server_key))
    return context


def make_server(state: EmulatorState, host: str, port: int, *, access_log: bool = False) -> EmulatorHTTPServer:
    """A threaded HTTP(S) server for a new :class:`EmulatorApp` on ``state`` (not started).

    Raises OSError when the address cannot be bound.
    """
    app = EmulatorApp(state)
    server = EmulatorHTTPServer(
        host,
        port,
        app,
        ssl_context=_ssl_context(state.tls),
        access_log=access_log,
        underscore_headers=UnderscoreHeaders(keeps_underscore_header, PRESERVED_HEADER_NAMES_ENVIRON_KEY),
    )
    scheme = "https" if state.tls else "http"
    url_host = "localhost" if state.tls and host in ("127.0.0.1", "localhost") else host
    if ":" in url_host:
        url_host = f"[{url_host}]"
    state.base_url = f"{scheme}://{url_host}:{server.server_port}"
    server.emulator_app = app  # type: ignore[attr-defined]
    return server


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    tls: bool = False,
    enforce_quotas: bool = False,
    quota_overrides: Mapping[str, float] | None = None,
    quota_scale: float = 1.0,
    fault_rate: float = 0.0,
    fault_seed: int = 0,
    fault_operations: Iterable[str] | None = None,
    time_scale: float = 1.0,
    access_log: bool = False,
) -> None:
    """Run the emulator in the foreground until SIGINT/SIGTERM."""
    state = EmulatorState(
        time_scale=time_scale,
        enforce_quotas=enforce_quotas,
        quota_overrides=quota_overrides,
        quota_scale=quota_scale,
        fault_rate=fault_rate,
        fault_seed=fault_seed,
        fault_operations=fault_operations,
        tls=tls,
    )
    if access_log:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    server = make_server(state, host, port, access_log=access_log)

    def stop(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    print(f"iotfleet emulator listening on {state.base_url}", flush=True)
    if tls:
        from iotfleet.emulator.tls import ensure_certificates

        print(f"CA certificate: {ensure_certificates().ca_cert}  (export AWS_CA_BUNDLE=<this path>)", flush=True)
    settings: list[str] = []
    if enforce_quotas:
        settings.append("quotas enforced")
    if fault_rate:
        settings.append(f"faults rate={fault_rate} seed={fault_seed}")
    if time_scale != 1.0:
        settings.append(f"time scale x{time_scale}")
    if settings:
        print("settings: " + ", ".join(settings), flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        print("iotfleet emulator stopped", file=sys.stderr, flush=True)
    finally:
        server.server_close()


