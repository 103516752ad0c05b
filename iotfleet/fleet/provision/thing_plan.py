"""The things of a plan in a few bytes each: what exists and what differs, each thing's work made when asked for.

Everything about device ``i`` follows from the spec and ``i`` (:mod:`.inventory`), so the plan keeps only what
the reads found, in one 16-bit word per thing:

* whether the thing exists, whether its type differs, which of its attributes differ (a bit per attribute);
* whether each shadow exists, and which of the keys provisioning writes it lacks (a bit per key); a thing that
  does not exist lacks them all;

and, per country group, its members among the spec's things as a bitmap (one bit per thing). The
certificates' part is kept the same way, in :class:`~iotfleet.fleet.identity.devices.DeviceIdentities`.
A million things take about 2 MB, plus 125 kB per country group. A thing's
:class:`~iotfleet.fleet.provision.model.ThingWork` (its device, the attributes to set, the shadow keys to
write) is made from these only when it is asked for, and iterating the plan yields the things with work to
do, in index order, one at a time.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from iotfleet.fleet.provision import model
from iotfleet.fleet.provision.inventory import Device, country_at, device_at, index_of
from iotfleet.fleet.provision.model import ThingWork
from iotfleet.fleet.spec import FleetSpec

if TYPE_CHECKING:
    from iotfleet.fleet.identity.devices import DeviceIdentities

# A thing's state word.
EXISTS = 1 << 0
TYPE_DIFFERS = 1 << 1
ATTRIBUTES = (2, 5)  # (first bit, bits): the attributes that differ, in Device.attributes order
CLASSIC_EXISTS = 1 << 7
CLASSIC_MISSING = (8, 2)  # the classic shadow's keys not reported, in Device.classic_reported order
PACKAGE_EXISTS = 1 << 10
PACKAGE_MISSING = (11, 1)  # the $package shadow's keys not reported, in Device.package_reported order


def _field(where: tuple[int, int]) -> int:
    first, bits = where
    return ((1 << bits) - 1) << first


# A thing that does not exist: both shadows lack every key.
NEW = _field(CLASSIC_MISSING) | _field(PACKAGE_MISSING)


def key_bits(wanted: Mapping[str, Any], where: tuple[int, int], differs: Callable[[str, Any], bool]) -> int:
    """A bit (placed at ``where``) for each key of ``wanted`` whose value ``differs``."""
    first, bits = where
    if len(wanted) > bits:
        raise ValueError(f"{len(wanted)} keys do not fit in {bits} bits")
    return sum(1 << (first + n) for n, (key, value) in enumerate(wanted.items()) if differs(key, value))


def picked(wanted: Mapping[str, Any], where: tuple[int, int], state: int) -> dict[str, Any]:
    """The keys of ``wanted`` whose bits (at ``where``) are set in ``state``."""
    first, _ = where
    return {key: value for n, (key, value) in enumerate(wanted.items()) if state >> (first + n) & 1}


def shadow_state(device: Device, classic: Mapping[str, Any] | None, package: Mapping[str, Any] | None) -> int:
    """The shadow bits of a thing whose shadows report ``classic`` and ``package`` (None: no such shadow)."""
    state = CLASSIC_EXISTS if classic is not None else 0
    state |= key_bits(device.classic_reported(), CLASSIC_MISSING, lambda key, _: classic is None or key not in classic)
    state |= PACKAGE_EXISTS if package is not None else 0
    state |= key_bits(device.package_reported(), PACKAGE_MISSING, lambda key, _: package is None or key not in package)
    return state


class Bitmap:
    """A set of thing indices from 0 to ``size`` - 1, one bit each."""

    def __init__(self, size: int) -> None:
        self._bits = bytearray((size + 7) // 8)

    def add(self, index: int) -> None:
        self._bits[index >> 3] |= 1 << (index & 7)

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and bool(self._bits[index >> 3] >> (index & 7) & 1)


# (thing, membership, classic shadow, $package shadow, certificate): each a plan action; certificate None
# without certificates or when a problem blocks it.
Actions = tuple[str, str, str, str, "str | None"]


class ThingPlan:
    """Every thing of ``spec`` as planning found it; iterating yields the :class:`ThingWork` of each thing with
    work to do, in index order, and ``len`` says how many there are (once :meth:`count` has run)."""

    def __init__(self, spec: FleetSpec) -> None:
        self.spec = spec
        self._states = array("H", [NEW]) * spec.devices
        self._groups = {country: spec.country_group(country) for country in spec.countries}
        self._members: dict[str, Bitmap] = {}
        self._misplaced: list[str] = []  # groups with members that belong in another country's group
        self.identities: DeviceIdentities | None = None
        self.existing = 0
        self.extra = 0  # things of the fleet that the spec does not describe
        self._pending = 0

    # --- what the reads found ------------------------------------------------------------------------------

    def found(self, summary: Mapping[str, Any]) -> None:
        """A thing of the fleet as ListThings lists it, compared with the device of its index."""
        spec = self.spec
        index = index_of(spec.prefix, str(summary["thingName"]))
        if index is None or index >= spec.devices:
            self.extra += 1
            return
        if self._states[index] & EXISTS:
            return  # listed twice (the registry changed between pages)
        device = device_at(spec, index)
        state = EXISTS | (TYPE_DIFFERS if summary.get("thingTypeName") != device.thing_type else 0)
        attributes = summary.get("attributes") or {}
        state |= key_bits(device.attributes(spec.fleet), ATTRIBUTES, lambda key, value: attributes.get(key) != value)
        self._states[index] = state
        self.existing += 1

    def exists(self, index: int) -> bool:
        return bool(self._states[index] & EXISTS)

    def existing_indices(self) -> Iterator[int]:
        return (index for index in range(self.spec.devices) if self._states[index] & EXISTS)

    def set_shadows(self, index: int, state: int) -> None:
        """The shadow bits of an existing thing (see :func:`shadow_state`)."""
        self._states[index] = (self._states[index] & ~(NEW | CLASSIC_EXISTS | PACKAGE_EXISTS)) | state

    def set_members(self, group: str, members: Bitmap, misplaced: bool) -> None:
        """The spec's things in country group ``group``; ``misplaced``: some belong in another group."""
        self._members[group] = members
        if misplaced:
            self._misplaced.append(group)

    def group_of(self, index: int) -> str:
        """The country group device ``index`` belongs in."""
        return self._groups[country_at(self.spec, index)]

    # --- what each thing needs -----------------------------------------------------------------------------

    def _remove_from(self, index: int, group: str) -> list[str]:
        return sorted(g for g in self._misplaced if g != group and index in self._members[g])

    def actions(self, index: int) -> Actions:
        """What thing ``index`` needs, as a plan action per kind."""
        state = self._states[index]
        group = self.group_of(index)
        members = self._members.get(group)
        if not state & EXISTS:
            thing = model.CREATE
        else:
            thing = model.UPDATE if state & (TYPE_DIFFERS | _field(ATTRIBUTES)) else model.PRESENT
        add = thing == model.CREATE or members is None or index not in members
        if self._misplaced and self._remove_from(index, group):
            membership = model.UPDATE
        else:
            membership = model.CREATE if add else model.PRESENT
        classic = _shadow_action(state, CLASSIC_MISSING, CLASSIC_EXISTS)
        package = _shadow_action(state, PACKAGE_MISSING, PACKAGE_EXISTS)
        certificate = self.identities.action(index) if self.identities is not None else None
        return thing, membership, classic, package, certificate

    def work(self, index: int) -> ThingWork:
        """Thing ``index``'s work, made from the spec and what the reads found."""
        spec, state = self.spec, self._states[index]
        device = device_at(spec, index)
        work = ThingWork(device, create=not state & EXISTS)
        if not work.create:
            work.thing_type = device.thing_type if state & TYPE_DIFFERS else None
            work.attributes = picked(device.attributes(spec.fleet), ATTRIBUTES, state)
        group = self.group_of(index)
        members = self._members.get(group)
        if work.create or members is None or index not in members:
            work.add_to = group
        work.remove_from = self._remove_from(index, group) if self._misplaced else []
        work.classic = picked(device.classic_reported(), CLASSIC_MISSING, state) or None
        work.classic_exists = bool(state & CLASSIC_EXISTS)
        work.package = picked(device.package_reported(), PACKAGE_MISSING, state) or None
        work.package_exists = bool(state & PACKAGE_EXISTS)
        work.identity = self.identities.at(index) if self.identities is not None else None
        return work

    def count(self, counts: dict[str, Counter[str]]) -> None:
        """Add every thing's actions to ``counts`` (kind -> action -> count) and count the pending things."""
        tally: Counter[Actions] = Counter(self.actions(index) for index in range(self.spec.devices))
        self._pending = 0
        for (thing, membership, classic, package, certificate), n in tally.items():
            counts[model.THING][thing] += n
            counts[model.MEMBERSHIP][membership] += n
            counts[model.SHADOW][classic] += n
            counts[model.SHADOW][package] += n
            if certificate is not None:
                counts[model.CERTIFICATE][certificate] += n
            if _pending((thing, membership, classic, package, certificate)):
                self._pending += n

    def __iter__(self) -> Iterator[ThingWork]:
        for index in range(self.spec.devices):
            if _pending(self.actions(index)):
                yield self.work(index)

    def __len__(self) -> int:
        return self._pending


def _shadow_action(state: int, missing: tuple[int, int], exists: int) -> str:
    if not state & _field(missing):
        return model.PRESENT
    return model.UPDATE if state & exists else model.CREATE


def _pending(actions: Actions) -> bool:
    return any(action not in (model.PRESENT, None) for action in actions)
