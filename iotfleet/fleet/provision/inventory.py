"""The things of a fleet, computed from its spec alone: names, types, countries, attributes and shadows.

Everything about device ``i`` (0-based) depends only on ``i``, the seed, the thing types and the countries,
never on the device count, so growing a fleet from 500 to 5,000 keeps the first 500 devices exactly as they
were:

* name: ``<prefix><i + 1>`` (numbers from 1, no zero padding, so no name depends on the fleet size);
* thing type: ``thing_types[i mod T]``; country: ``countries[(i div T) mod C]``. Types cycle fastest and
  countries advance once per cycle, so the two spread evenly and independently: with ``T*C`` devices or
  more, every country has every type;
* customerId, manufacturingDate and batteryStatus: drawn from a random generator seeded with
  ``(seed, i)`` only, in that order.

Attributes: customerId, country, manufacturingDate, thingTypeName, and the ownership attribute
``iotfleet_fleet``. The classic shadow reports ``batteryStatus`` (0 to 100) and the installed firmware
(``firmware: {version, package}``, the shape the device simulator reports after an update); the ``$package``
named shadow reports ``{<package>: {"version": <first version>}}``, the package being the thing type's.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from iotfleet.fleet.ownership import FLEET_ATTRIBUTE
from iotfleet.fleet.simulate.device import FIRMWARE_SHADOW_KEY
from iotfleet.fleet.spec import FleetSpec

BATTERY_KEY = "batteryStatus"
# Manufacturing dates fall in this window (fixed, so the same seed gives the same dates every year).
FIRST_MANUFACTURING_DATE = dt.date(2019, 1, 1)
LAST_MANUFACTURING_DATE = dt.date(2024, 12, 31)
_DATE_SPAN = (LAST_MANUFACTURING_DATE - FIRST_MANUFACTURING_DATE).days + 1


@dataclass(frozen=True)
class Device:
    """One thing of the fleet as provisioning creates it."""

    index: int
    name: str
    thing_type: str
    country: str
    customer_id: str
    manufacturing_date: str
    battery: int
    package: str
    firmware_version: str

    def attributes(self, fleet: str) -> dict[str, str]:
        """The thing's registry attributes, the ownership attribute included."""
        return {
            "customerId": self.customer_id,
            "country": self.country,
            "manufacturingDate": self.manufacturing_date,
            "thingTypeName": self.thing_type,
            FLEET_ATTRIBUTE: fleet,
        }

    def classic_reported(self) -> dict[str, Any]:
        """What the classic shadow reports at first."""
        return {
            BATTERY_KEY: self.battery,
            FIRMWARE_SHADOW_KEY: {"version": self.firmware_version, "package": self.package},
        }

    def package_reported(self) -> dict[str, Any]:
        """What the ``$package`` named shadow reports at first."""
        return {self.package: {"version": self.firmware_version}}


def thing_name(prefix: str, index: int) -> str:
    """The name of device ``index`` (0-based): ``<prefix><index + 1>``."""
    return f"{prefix}{index + 1}"


def index_of(prefix: str, name: str) -> int | None:
    """The 0-based index of a thing named by :func:`thing_name`, or None for any other name."""
    if not name.startswith(prefix):
        return None
    number = name[len(prefix) :]
    if not number.isdigit() or number.startswith("0"):
        return None
    return int(number) - 1


def country_at(spec: FleetSpec, index: int) -> str:
    """The country of device ``index`` (0-based), without building the device."""
    return spec.countries[(index // len(spec.thing_types)) % len(spec.countries)]


def device_at(spec: FleetSpec, index: int) -> Device:
    """Device ``index`` (0-based) of ``spec``; the spec must be validated."""
    if index < 0:
        raise ValueError(f"device index must be 0 or more, not {index}")
    types = spec.thing_types
    thing_type = types[index % len(types)]
    country = country_at(spec, index)
    rng = random.Random(f"iotfleet-device:{spec.seed}:{index}")
    customer_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    made = FIRST_MANUFACTURING_DATE + dt.timedelta(days=rng.randrange(_DATE_SPAN))
    battery = rng.randint(0, 100)
    return Device(
        index=index,
        name=thing_name(spec.prefix, index),
        thing_type=thing_type,
        country=country,
        customer_id=customer_id,
        manufacturing_date=made.isoformat(),
        battery=battery,
        package=thing_type,
        firmware_version=spec.installed_version,
    )


def devices(spec: FleetSpec) -> Iterator[Device]:
    """Every device of ``spec``, in index order (computed lazily: fleets can be large)."""
    for index in range(spec.devices):
        yield device_at(spec, index)


def spread(spec: FleetSpec) -> dict[tuple[str, str], int]:
    """How many devices each (country, thing type) pair has, computed without building the devices."""
    types, countries = spec.thing_types, spec.countries
    counts: Counter[tuple[str, str]] = Counter()
    cycle = len(types) * len(countries)
    full, rest = divmod(spec.devices, cycle)
    for t_index, thing_type in enumerate(types):
        for c_index, country in enumerate(countries):
            counts[(country, thing_type)] = full
            # In the last partial cycle, device i = full*cycle + j has j = c_index*T + t_index.
            if c_index * len(types) + t_index < rest:
                counts[(country, thing_type)] += 1
    return dict(counts)
