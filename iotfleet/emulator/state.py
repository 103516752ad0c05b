"""Everything the emulator keeps besides moto's models: clock, lock, events, counters, quotas, faults, stores,
and the search mode.

One :class:`EmulatorState` per emulator, built from its :class:`~iotfleet.emulator.settings.EmulatorSettings`
(a reset returns to them). Feature modules keep their data in stores created per (account, region)
through :meth:`EmulatorState.store`, so a reset wipes them with everything else.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from iotfleet.emulator.clock import EmulatorClock
from iotfleet.emulator.counters import Counters
from iotfleet.emulator.events import RESET, EventBus
from iotfleet.emulator.faults import FaultInjector
from iotfleet.emulator.ratelimit import QuotaEnforcer
from iotfleet.emulator.settings import SEARCH_MODES, EmulatorSettings

T = TypeVar("T")


class EmulatorState:
    """Shared state of one emulator.

    ``lock`` is the one global re-entrant lock: every moto call, every extension handler, every
    after-hook and event subscriber, and every clock advance runs under it (moto's models are not
    thread-safe, and feature stores rely on the same guarantee).
    """

    def __init__(self, settings: EmulatorSettings | None = None) -> None:
        self.settings = settings if settings is not None else EmulatorSettings()
        self.lock = threading.RLock()
        self.clock = EmulatorClock(advance_lock=self.lock)
        self.events = EventBus()
        self.counters = Counters()
        self.quotas = QuotaEnforcer(self.clock.monotonic)
        self.faults = FaultInjector()
        self._apply_settings()
        # Whether a plain-HTTP request from this machine counts as sent over TLS for S3 bucket policies
        # (aws:SecureTransport). It never leaves the machine, and buckets that deny non-TLS requests,
        # as iotfleet's do, must stay usable on a plain-HTTP emulator. Tests turn it off to see the deny.
        self.loopback_is_secure = True
        # The server's own URL (set when it starts listening); handlers prefer call.base_url.
        self.base_url = ""
        # The MQTT endpoint's host:port (set when it starts listening; None while it is off).
        self.mqtt_endpoint: str | None = None
        self.mqtt_ca_path: str | None = None  # the CA that signs the MQTT endpoint's server certificate
        # Credentials the emulator signs its own presigned URLs with (see presign.py).
        self.signing_access_key = "AKIAIOTFLEETEMULATOR"
        self.signing_secret_key = secrets.token_urlsafe(30)
        self._stores_lock = threading.Lock()
        self._stores: dict[tuple[str, str, str], Any] = {}

    def store(self, name: str, account_id: str, region: str, factory: Callable[[], T]) -> T:
        """The feature store ``name`` of (account, region), created with ``factory()`` on first use."""
        key = (name, account_id, region)
        with self._stores_lock:
            found = self._stores.get(key)
            if found is None:
                found = self._stores[key] = factory()
            return found  # type: ignore[no-any-return]

    def stores(self, name: str) -> list[tuple[str, str, Any]]:
        """Every existing store called ``name``, as (account_id, region, store)."""
        with self._stores_lock:
            return [(acct, region, store) for (n, acct, region), store in self._stores.items() if n == name]

    def set_search_mode(self, mode: str) -> None:
        """``index`` (queries use the thing index) or ``scan`` (they read every thing, for comparison)."""
        if mode not in SEARCH_MODES:
            raise ValueError(f"search mode must be one of {', '.join(SEARCH_MODES)}, not {mode!r}")
        self.search_mode = mode

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward (listeners run under the global lock)."""
        return self.clock.advance(seconds)

    def reset(self) -> None:
        """Wipe feature stores and counters, and restore the clock, quotas and faults to the settings.

        Moto's own models are wiped by the app (see ``EmulatorApp.reset``), which calls this.
        """
        with self.lock:
            with self._stores_lock:
                self._stores.clear()
            self.counters.reset()
            self._apply_settings()
            self.loopback_is_secure = True
            self.events.emit(RESET)

    def _apply_settings(self) -> None:
        """The clock (real time, at the settings' scale), quotas, faults and search mode as the settings say.

        At start, and again on every reset.
        """
        settings = self.settings
        self.clock.reset(settings.time_scale)
        self.quotas.configure(
            enforce=settings.enforce_quotas, overrides=settings.quota_overrides, scale=settings.quota_scale
        )
        self.faults.configure(
            rate=settings.fault_rate, seed=settings.fault_seed, operations=settings.fault_operations,
            after=settings.fault_after,
        )
        self.set_search_mode(settings.search_mode)
