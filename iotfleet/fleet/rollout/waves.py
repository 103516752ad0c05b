"""Choosing the waves: which devices of the target go in which wave, deterministically and representatively.

Nothing here calls AWS. The same devices and seed always give the same waves, whatever order the devices were
listed in.

* **Sizes.** Wave ``i`` ends at ``ceil(p_i * N / 100)`` devices in all (``p_i`` its cumulative percentage), so
  the canary has at least one device and the last wave ends at every device. A wave that would be empty
  (a small target with many waves) is dropped from the plan, and the plan says so.
* **Strata.** Devices are grouped by (country, thing type). Within a stratum they are ordered by a hash of
  the seed and the thing name (a shuffle that a listing order cannot change). The first device of every
  stratum comes first, so a canary with room for one device per stratum holds one of each; after those,
  devices are interleaved in proportion to their stratum's size (device ``k`` of a stratum of ``n`` at
  position ``(k + 0.5) / n``), so every wave's mix of countries and types is the target's, within one device
  per stratum.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from iotfleet.fleet.rollout.spec import ceil_share

UNKNOWN = "unknown"


@dataclass(frozen=True)
class TargetDevice:
    """One device of the target, with what stratification and the rollback need to know of it."""

    name: str
    country: str = UNKNOWN
    thing_type: str = UNKNOWN
    version: str | None = None  # the version of the package it reports now (None: it reports none)

    @property
    def stratum(self) -> str:
        return f"{self.country}/{self.thing_type}"


@dataclass(frozen=True)
class PlannedWave:
    """One wave of the plan: its number (from 1), cumulative percentage and devices."""

    number: int
    percent: float
    devices: tuple[str, ...]
    strata: dict[str, int]


def _rank(seed: int, name: str) -> str:
    return hashlib.sha256(f"iotfleet-rollout:{seed}:{name}".encode()).hexdigest()


def ordered(devices: Sequence[TargetDevice], seed: int) -> list[TargetDevice]:
    """Every device in wave order: one of each stratum first, then the strata interleaved by size."""
    strata: dict[str, list[TargetDevice]] = defaultdict(list)
    for device in dict((d.name, d) for d in devices).values():
        strata[device.stratum].append(device)
    keyed: list[tuple[int, float, str, TargetDevice]] = []
    for members in strata.values():
        members.sort(key=lambda d: _rank(seed, d.name))
        size = len(members)
        for index, device in enumerate(members):
            first = 0 if index == 0 else 1
            keyed.append((first, (index + 0.5) / size, _rank(seed, device.name), device))
    keyed.sort(key=lambda item: item[:3])
    return [item[3] for item in keyed]


def wave_sizes(total: int, percents: Sequence[float]) -> list[int]:
    """How many devices each wave adds (cumulative ``ceil(p * total / 100)``); zero for a wave left empty."""
    sizes: list[int] = []
    reached = 0
    for percent in percents:
        upto = min(total, max(reached, ceil_share(percent, total)))
        sizes.append(upto - reached)
        reached = upto
    return sizes


def choose_waves(devices: Sequence[TargetDevice], percents: Sequence[float], seed: int) -> list[PlannedWave]:
    """The non-empty waves, numbered from 1; every device is in exactly one."""
    order = ordered(devices, seed)
    waves: list[PlannedWave] = []
    start = 0
    for percent, size in zip(percents, wave_sizes(len(order), percents), strict=True):
        if size == 0:
            continue
        members = order[start : start + size]
        start += size
        strata = dict(sorted(Counter(d.stratum for d in members).items()))
        waves.append(PlannedWave(len(waves) + 1, percent, tuple(d.name for d in members), strata))
    return waves


def empty_waves(total: int, percents: Sequence[float]) -> list[float]:
    """The percentages whose wave would hold no device."""
    return [p for p, size in zip(percents, wave_sizes(total, percents), strict=True) if size == 0]
