"""Sets of certificate ids in 32 bytes each: the targets of the fleet's policy, the statuses of its CA's
certificates.

A certificate id is the SHA-256 of the certificate (64 hex digits). Planning a fleet of a million things looks
up as many ids; as strings in a set they would take about 150 bytes each, here they take 32: the raw digests
are appended to one of 256 buckets (by first byte) and each bucket is sorted once, on the first lookup, for a
binary search. An id that is not 64 lowercase hex digits (another service's format) is kept as it is, in a plain set.
"""

from __future__ import annotations

from collections.abc import Iterable

SIZE = 32


class CertificateIds:
    """A set of certificate ids: :meth:`add` them all, then ask with ``in``."""

    def __init__(self, identifiers: Iterable[str] = ()) -> None:
        self._buckets = [bytearray() for _ in range(256)]
        self._sorted = True
        self._others: set[str] = set()
        for identifier in identifiers:
            self.add(identifier)

    def add(self, identifier: str) -> None:
        raw = raw_id(identifier)
        if raw is None:
            self._others.add(identifier)
            return
        self._buckets[raw[0]] += raw
        self._sorted = False

    def __contains__(self, identifier: object) -> bool:
        if not isinstance(identifier, str):
            return False
        raw = raw_id(identifier)
        if raw is None:
            return identifier in self._others
        if not self._sorted:
            self._sort()
        return _search(self._buckets[raw[0]], raw)

    def __len__(self) -> int:
        return sum(len(bucket) for bucket in self._buckets) // SIZE + len(self._others)

    def _sort(self) -> None:
        for number, bucket in enumerate(self._buckets):
            items = sorted({bytes(bucket[at : at + SIZE]) for at in range(0, len(bucket), SIZE)})
            self._buckets[number] = bytearray(b"".join(items))
        self._sorted = True


class CertificateStatuses:
    """The status of each of many certificates (ACTIVE, INACTIVE, REVOKED, ...), a set of ids per status."""

    def __init__(self) -> None:
        self._by_status: dict[str, CertificateIds] = {}

    def add(self, identifier: str, status: str) -> None:
        self._by_status.setdefault(status, CertificateIds()).add(identifier)

    def get(self, identifier: str) -> str | None:
        for status, identifiers in self._by_status.items():
            if identifier in identifiers:
                return status
        return None


def raw_id(identifier: str) -> bytes | None:
    """The digest of an id in AWS's form (64 lowercase hex digits), or None for any other string."""
    if len(identifier) != 2 * SIZE:
        return None
    try:
        raw = bytes.fromhex(identifier)
    except ValueError:
        return None
    return raw if raw.hex() == identifier else None


def _search(bucket: bytearray, raw: bytes) -> bool:
    low, high = 0, len(bucket) // SIZE
    while low < high:
        middle = (low + high) // 2
        found = bytes(bucket[middle * SIZE : (middle + 1) * SIZE])
        if found == raw:
            return True
        if found < raw:
            low = middle + 1
        else:
            high = middle
    return False
