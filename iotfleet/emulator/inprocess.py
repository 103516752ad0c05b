"""The emulator inside the current process: a threaded server on 127.0.0.1 for tests and ``iotfleet demo``.

    with LocalEmulator() as emulator:
        iot = boto3.client("iot", endpoint_url=emulator.endpoint_url, ...)
        emulator.advance(3600)

    with LocalEmulator(EmulatorSettings(time_scale=60, enforce_quotas=True)) as emulator:
        ...

It listens on 127.0.0.1 at a free port unless the settings say otherwise, and its MQTT endpoint (mutual
TLS) at another free port (``mqtt_endpoint``; ``EmulatorSettings(mqtt=False)`` turns it off).

moto keeps its state in module globals, so only one in-process emulator can run at a time; starting
a second raises :class:`EmulatorAlreadyRunning`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from iotfleet.emulator.app import EmulatorApp
from iotfleet.emulator.clock import EmulatorClock
from iotfleet.emulator.mqtt.broker import start_endpoint, stop_endpoint
from iotfleet.emulator.server import make_server
from iotfleet.emulator.settings import EmulatorSettings
from iotfleet.emulator.state import EmulatorState

_running_lock = threading.Lock()
_running: LocalEmulator | None = None


class EmulatorAlreadyRunning(RuntimeError):
    """A second in-process emulator was started while one is running."""


class LocalEmulator:
    """Context manager running the emulator in a background thread; see the module docstring."""

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.state = EmulatorState(settings)
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._broker: Any = None
        self.endpoint_url = ""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalEmulator:
        global _running
        with _running_lock:
            if _running is not None:
                raise EmulatorAlreadyRunning(
                    "an in-process emulator is already running in this process (moto's state is global); "
                    "stop it first or share it"
                )
            _running = self
        try:
            self._server = make_server(self.state)
            self.app.reset()
            self._broker = start_endpoint(self.state)
        except BaseException:
            if self._server is not None:
                self._server.server_close()
                self._server = None
            with _running_lock:
                _running = None
            raise
        self.endpoint_url = self.state.base_url
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="iotfleet-emulator", kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        global _running
        if self._broker is not None:
            stop_endpoint(self.state, self._broker)
            self._broker = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with _running_lock:
            if _running is self:
                _running = None

    def __enter__(self) -> LocalEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ controls

    @property
    def app(self) -> EmulatorApp:
        return self._server.emulator_app  # type: ignore[no-any-return]

    @property
    def clock(self) -> EmulatorClock:
        return self.state.clock

    @property
    def mqtt_endpoint(self) -> str | None:
        """The MQTT endpoint's ``host:port`` (mutual TLS; its server certificate is signed by :attr:`ca_path`)."""
        return self.state.mqtt_endpoint

    @property
    def ca_path(self) -> str | None:
        """The CA certificate to trust (``verify=``/``AWS_CA_BUNDLE``) with TLS, and for the MQTT endpoint."""
        if not (self.state.settings.tls or self.state.settings.mqtt):
            return None
        from iotfleet.emulator.tls import ensure_certificates

        return str(ensure_certificates().ca_cert)

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward; due timers (jobs) fire before this returns."""
        return self.state.advance(seconds)

    def counters(self) -> dict[str, dict[str, int]]:
        """``{"iot:CreateThing": {"calls": n, "throttles": n, "faults": n}, ...}``."""
        return self.state.counters.snapshot()

    def reset_counters(self) -> None:
        self.state.counters.reset()

    def reset(self) -> None:
        """Wipe all state (moto's and the emulator's), restoring the settings given at start."""
        self.app.reset()

    def set_quotas(
        self,
        enforce: bool | None = True,
        overrides: Mapping[str, float] | None = None,
        scale: float | None = None,
    ) -> None:
        """Turn quota enforcement on/off, replace the overrides (``{"iot:CreateThing": 5}``), scale every rate."""
        self.state.quotas.configure(enforce=enforce, overrides=overrides, scale=scale)

    def set_search_mode(self, mode: str) -> None:
        """``index`` (fleet-indexing queries use the thing index) or ``scan`` (they read every thing)."""
        self.state.set_search_mode(mode)

    def set_faults(
        self, rate: float, seed: int = 0, operations: Iterable[str] | None = None, after: float = 0.0
    ) -> None:
        """Inject faults into ``rate`` of the selected calls, reproducibly for ``seed``; a share ``after``
        of them once the call took effect."""
        self.state.faults.configure(rate=rate, seed=seed, operations=operations, after=after)
