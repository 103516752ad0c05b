"""Reproducible fault injection: a seeded RNG decides which calls fail and how.

With ``rate`` > 0, each call to a selected operation draws from ``random.Random(seed)``; below the
rate it fails with one of :data:`FAULT_KINDS`. Only selected calls draw, so the same seed and the
same sequence of selected calls give the same faults.

A fault is injected before the call takes effect (nothing changed), or, for a share ``after`` of them,
after it (the call did its work, and the client still sees a 500 or 503, or the connection closes with no
answer at all): the half of real failures that a client cannot tell from the first by the answer alone, and
that idempotent clients must survive. A dropped connection is one of the after-effect kinds only: before the
effect, the 500 already stands for "nothing was done".
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultKind:
    code: str
    status: int
    message: str
    # Closed without an answer; ``status`` and ``code`` are what a server that cannot drop one answers instead.
    drops_connection: bool = False


@dataclass(frozen=True)
class InjectedFault:
    """The fault to inject into one call, and whether the call takes effect first."""

    kind: FaultKind
    after: bool


FAULT_KINDS: tuple[FaultKind, ...] = (
    FaultKind("InternalFailureException", 500, "An internal failure was injected by the emulator."),
    FaultKind("ServiceUnavailableException", 503, "The service is unavailable (injected by the emulator)."),
    FaultKind("ThrottlingException", 429, "Rate exceeded (injected by the emulator)."),
)
DROPPED_CONNECTION = FaultKind(
    "InternalFailureException", 500, "The connection was dropped (injected by the emulator).", drops_connection=True
)
# What a client sees when the call took effect: a server error or a lost connection, never a throttle (which
# means "not done").
AFTER_EFFECT_KINDS: tuple[FaultKind, ...] = (*FAULT_KINDS[:2], DROPPED_CONNECTION)
# S3 names the same three failures differently.
S3_FAULT_CODES = {
    "InternalFailureException": "InternalError",
    "ServiceUnavailableException": "ServiceUnavailable",
    "ThrottlingException": "SlowDown",
}


def _selector_matches(selector: str, service: str, operation: str) -> bool:
    if ":" in selector:
        sel_service, sel_operation = selector.split(":", 1)
        return sel_service == service and sel_operation in ("*", operation)
    return selector == operation


class FaultInjector:
    """``draw(service, operation)`` returns the fault to inject for this call, or None."""

    def __init__(
        self, rate: float = 0.0, seed: int = 0, operations: Iterable[str] | None = None, after: float = 0.0
    ) -> None:
        self._lock = threading.Lock()
        self.configure(rate=rate, seed=seed, operations=operations, after=after)

    def configure(
        self, *, rate: float, seed: int, operations: Iterable[str] | None, after: float | None = None
    ) -> None:
        """Replace the settings and restart the random sequence from ``seed``.

        ``operations`` selects what can fail: ``CreateThing``, ``iot:CreateThing`` or ``iot-jobs-data:*``;
        None selects every operation. ``after`` (default: unchanged) is the share of faults injected after
        the call took effect.
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError("the fault rate must be between 0 and 1")
        if after is not None and not 0.0 <= after <= 1.0:
            raise ValueError("the share of faults after the effect must be between 0 and 1")
        with self._lock:
            self.after = float(after) if after is not None else getattr(self, "after", 0.0)
            self.rate = float(rate)
            self.seed = int(seed)
            self.operations = None if operations is None else tuple(operations)
            self._rng = random.Random(self.seed)

    def selects(self, service: str, operation: str) -> bool:
        if self.rate <= 0.0:
            return False
        if self.operations is None:
            return True
        return any(_selector_matches(selector, service, operation) for selector in self.operations)

    def draw(self, service: str, operation: str) -> InjectedFault | None:
        if not self.selects(service, operation):
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            if self.after and self._rng.random() < self.after:
                return InjectedFault(self._rng.choice(AFTER_EFFECT_KINDS), after=True)
            return InjectedFault(self._rng.choice(FAULT_KINDS), after=False)

    def settings(self) -> dict[str, object]:
        return {
            "rate": self.rate,
            "seed": self.seed,
            "operations": None if self.operations is None else list(self.operations),
            "after": self.after,
        }
