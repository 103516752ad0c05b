"""Everything the emulator keeps besides moto's models: clock, lock, events, counters, quotas, faults, stores.

One :class:`EmulatorState` per emulator. Feature modules keep their data in stores created per
(account, region) through :meth:`EmulatorState.store`, so a reset wipes them with everything else.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from iotfleet.emulator.clock import EmulatorClock
from iotfleet.emulator.counters import Counters
from iotfleet.emulator.events import RESET, EventBus
from iotfleet.emulator.faults import FaultInjector
from iotfleet.emulator.ratelimit import QuotaEnforcer

T = TypeVar("T")


class EmulatorState:
    """Shared state of one emulator.

    ``lock`` is the one global re-entrant lock: every moto call, every extension handler, every
    after-hook and event subscriber, and every clock advance runs under it (moto's models are not
    thread-safe, and feature stores rely on the same guarantee).
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        enforce_quotas: bool = False,
        quota_overrides: Mapping[str, float] | None = None,
        quota_scale: float = 1.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        fault_operations: Iterable[str] | None = None,
        tls: bool = False,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = EmulatorClock(time_scale, advance_lock=self.lock)
        self.events = EventBus()
        self.counters = Counters()
        self.quotas = QuotaEnforcer(
            self.clock.monotonic, enforce=enforce_quotas, overrides=quota_overrides, scale=quota_scale
        )
        self.faults = FaultInjector(fault_rate, fault_seed, fault_operations)
        self.tls = tls
        # Whether a plain-HTTP request from this machine counts as sent over TLS for S3 bucket policies
        # (aws:SecureTransport). It never leaves the machine, and buckets that deny non-TLS requests,
        # as iotfleet's do, must stay usable on a plain-HTTP emulator. Tests turn it off to see the deny.
        self.loopback_is_secure = True
        # The server's own URL (set when it starts listening); handlers prefer call.base_url.
        self.base_url = ""
        # Credentials the emulator signs its own presigned URLs with (see presign.py).
        self.signing_access_key = "AKIAIOTFLEETEMULATOR"
        self.signing_secret_key = secrets.token_urlsafe(30)
        self._initial = {
            "time_scale": time_scale,
            "quotas": {"enforce": enforce_quotas, "overrides": dict(quota_overrides or {}), "scale": quota_scale},
            "faults": {
                "rate": fault_rate,
                "seed": fault_seed,
                "operations": None if fault_operations is None else tuple(fault_operations),
            },
        }
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

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward (listeners run under the global lock)."""
        return self.clock.advance(seconds)

    def reset(self) -> None:
        """Wipe feature stores and counters, and restore the clock, quotas and faults as configured at start.

        Moto's own models are wiped by the app (see ``EmulatorApp.reset``), which calls this.
        """
        with self.lock:
            with self._stores_lock:
                self._stores.clear()
            self.counters.reset()
            initial = self._initial
            self.clock.reset(initial["time_scale"])  # type: ignore[arg-type]
            self.quotas.configure(**initial["quotas"])  # type: ignore[arg-type]
            self.faults.configure(**initial["faults"])  # type: ignore[arg-type]
            self.loopback_is_secure = True
            self.events.emit(RESET)
