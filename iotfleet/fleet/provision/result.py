"""What applying a provisioning plan did: counts per kind (created, present, updated, failed, skipped), every
failure.

Setup steps run in parallel and count as they go, so the counts are kept under a lock.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from iotfleet.aws.errors import OperationFailed, ResourceFailure
from iotfleet.fleet.provision.model import CREATE, KINDS, PRESENT, UPDATE, USED


@dataclass
class KindResult:
    created: int = 0
    present: int = 0
    updated: int = 0
    failed: int = 0
    # Planned but not attempted: a step of a thing after a step of the same thing that failed.
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "created": self.created,
            "present": self.present,
            "updated": self.updated,
            "failed": self.failed,
            "skipped": self.skipped,
        }


@dataclass
class ProvisionResult:
    """Counts per kind (created, already present, updated, failed) and every failure by name."""

    fleet: str
    bucket: str
    counts: dict[str, KindResult] = field(default_factory=lambda: {kind: KindResult() for kind in KINDS})
    failures: list[ResourceFailure] = field(default_factory=list)
    elapsed: float = 0.0
    # Setup steps run in parallel and count as they go.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    def count(self, kind: str, action: str, n: int = 1) -> None:
        if action not in (CREATE, UPDATE, PRESENT, USED):
            raise ValueError(f"unknown action {action!r}")
        with self._lock:
            entry = self.counts[kind]
            if action == CREATE:
                entry.created += n
            elif action == UPDATE:
                entry.updated += n
            else:
                entry.present += n

    def skip(self, kind: str, n: int = 1) -> None:
        with self._lock:
            self.counts[kind].skipped += n

    def fail(self, failure: ResourceFailure) -> None:
        with self._lock:
            self.failures.append(failure)
            self.counts[failure.kind].failed += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "fleet": self.fleet,
            "bucket": self.bucket,
            "ok": self.ok,
            "elapsedSeconds": round(self.elapsed, 3),
            "counts": {kind: self.counts[kind].as_dict() for kind in KINDS},
            "failures": [
                {"kind": f.kind, "name": f.name, "error": f.error, "code": f.code} for f in self.failures
            ],
        }

    def raise_for_failures(self) -> None:
        if self.failures:
            raise OperationFailed(
                f"provisioning fleet {self.fleet!r}: {len(self.failures)} resource(s) failed", self.failures
            )
