"""What a fleet is made of: the :class:`FleetSpec`, its defaults, its checks, and its YAML/TOML files.

A spec is the whole input of provisioning. Every value has a default (see the ``DEFAULT_*`` constants), so an
empty spec file, or no flags at all, describes the standard demo fleet. :meth:`FleetSpec.validated` checks
everything AWS would refuse (names, lengths, counts) and returns a normalised copy, so bad input is refused
before the first API call.

Spec files are YAML (``.yaml``/``.yml``) or TOML (``.toml``) with these keys, all optional::

    fleet: default
    devices: 100
    thing_types: [SedanVehicle, SUVVehicle, TruckVehicle]
    versions: ["1.0.0", "1.1.0"]
    continent: North America
    countries: [US, CA, MX]        # or a number: the first N countries of the continent
    prefix: Vehicle-VIN-
    seed: 42
    group_prefix: ""
    continent_groups: true
    searchable_attributes: [customerId, country, manufacturingDate]
    firmware_size: 65536
    certificates: false            # an X.509 certificate and the fleet's IoT policy for every thing
    cert_source: ca                # ca: signed here by the fleet CA; aws: CreateKeysAndCertificate
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from iotfleet.aws.errors import UsageError
from iotfleet.fleet import geography, naming
from iotfleet.fleet.firmware import DEFAULT_FIRMWARE_SIZE, MAX_FIRMWARE_SIZE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

DEFAULT_FLEET = "default"
DEFAULT_DEVICES = 100
# The most devices one fleet spec describes: provisioning plans every one of them, so the count is bounded.
MAX_DEVICES = 1_000_000
DEFAULT_THING_TYPES = ("SedanVehicle", "SUVVehicle", "TruckVehicle")
DEFAULT_VERSIONS = ("1.0.0", "1.1.0")
DEFAULT_CONTINENT = "North America"
DEFAULT_COUNTRY_COUNT = 3
DEFAULT_PREFIX = "Vehicle-VIN-"
DEFAULT_SEED = 42
DEFAULT_SEARCHABLE_ATTRIBUTES = ("customerId", "country", "manufacturingDate")
# AWS allows at most three searchable attributes per thing type.
MAX_SEARCHABLE_ATTRIBUTES = 3
# Where device certificates come from: the fleet's own CA (signed on this machine) or AWS IoT.
CERT_SOURCE_CA = "ca"
CERT_SOURCE_AWS = "aws"
CERT_SOURCES = (CERT_SOURCE_CA, CERT_SOURCE_AWS)
GROUP_SUFFIX_EXAMPLE = "US_Fleet"

# The flag that sets each field, for error messages.
FLAGS = {
    "fleet": "--fleet",
    "devices": "--devices",
    "thing_types": "--thing-types",
    "versions": "--versions",
    "continent": "--continent",
    "countries": "--countries",
    "prefix": "--prefix",
    "seed": "--seed",
    "group_prefix": "--group-prefix",
    "continent_groups": "--no-continent-group",
    "searchable_attributes": "--searchable-attributes",
    "firmware_size": "--firmware-size",
    "certificates": "--certificates",
    "cert_source": "--cert-source",
}
SPEC_SUFFIXES = (".yaml", ".yml", ".toml")


def default_fleet(env: Mapping[str, str] | None = None) -> str:
    """``IOTFLEET_FLEET``, else ``default``."""
    env = os.environ if env is None else env
    return env.get("IOTFLEET_FLEET") or DEFAULT_FLEET


@dataclass(frozen=True)
class FleetSpec:
    """One fleet: its name, size, thing types, firmware versions, countries and naming."""

    fleet: str = DEFAULT_FLEET
    devices: int = DEFAULT_DEVICES
    thing_types: tuple[str, ...] = DEFAULT_THING_TYPES
    versions: tuple[str, ...] = DEFAULT_VERSIONS
    continent: str = DEFAULT_CONTINENT
    countries: tuple[str, ...] = field(default_factory=lambda: tuple(default_countries(DEFAULT_CONTINENT)))
    prefix: str = DEFAULT_PREFIX
    seed: int = DEFAULT_SEED
    group_prefix: str = ""
    continent_groups: bool = True
    searchable_attributes: tuple[str, ...] = DEFAULT_SEARCHABLE_ATTRIBUTES
    firmware_size: int = DEFAULT_FIRMWARE_SIZE
    certificates: bool = False
    cert_source: str = CERT_SOURCE_CA

    # ----------------------------------------------------------------- derived names

    @property
    def packages(self) -> tuple[str, ...]:
        """One firmware package per thing type, named after it."""
        return self.thing_types

    @property
    def installed_version(self) -> str:
        """The version every device starts with (the first one); also each package's default version."""
        return self.versions[0]

    def country_group(self, country: str) -> str:
        return self.group_prefix + geography.group_name_for_country(country)

    def continent_group(self, continent: str) -> str:
        return self.group_prefix + geography.group_name_for_continent(continent)

    def parent_group(self, country: str) -> str | None:
        """The continent group a country group sits under, or None without continent groups."""
        if not self.continent_groups:
            return None
        return self.continent_group(geography.CONTINENT_OF[country])

    def continent_group_names(self) -> list[str]:
        """The continent groups needed by the countries, in country order."""
        if not self.continent_groups:
            return []
        return list(dict.fromkeys(self.continent_group(geography.CONTINENT_OF[c]) for c in self.countries))

    def country_group_names(self) -> list[str]:
        return [self.country_group(country) for country in self.countries]

    # ----------------------------------------------------------------- checks

    def validated(self) -> FleetSpec:
        """A normalised copy, or :class:`UsageError` naming the flag of the first bad value."""
        fleet = naming.check_fleet_name(self.fleet, FLAGS["fleet"])
        devices = check_device_count(self.devices)
        thing_types = _names(self.thing_types, "thing type", FLAGS["thing_types"])
        for name in thing_types:
            naming.check_thing_type_name(name, FLAGS["thing_types"])
            # Each thing type has a package of the same name, and package names are stricter.
            if not naming.PACKAGE_NAME.is_valid(name):
                raise UsageError(
                    f"thing type {name!r} also names its firmware package, and a package name "
                    f"{naming.PACKAGE_NAME.description} (1 to {naming.PACKAGE_NAME.max_len} characters)",
                    FLAGS["thing_types"],
                )
        versions = _names(self.versions, "package version", FLAGS["versions"])
        for version in versions:
            naming.check_version_name(version, FLAGS["versions"])
        continent = geography.check_continent(str(self.continent), FLAGS["continent"])
        countries = tuple(geography.check_countries(list(self.countries), FLAGS["countries"]))
        if not isinstance(self.prefix, str):
            raise UsageError(f"the name prefix must be text, got {self.prefix!r}", FLAGS["prefix"])
        # The longest name decides whether every name fits: prefix + the largest number.
        naming.THING_NAME.check(self.prefix + str(devices), FLAGS["prefix"])
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UsageError(f"the seed must be a whole number, got {self.seed!r}", FLAGS["seed"])
        if not isinstance(self.group_prefix, str):
            raise UsageError(
                f"the group prefix must be text, got {self.group_prefix!r}", FLAGS["group_prefix"]
            )
        if not isinstance(self.continent_groups, bool):
            raise UsageError(
                f"continent_groups must be true or false, got {self.continent_groups!r}",
                FLAGS["continent_groups"],
            )
        searchable = _names(
            self.searchable_attributes, "searchable attribute", FLAGS["searchable_attributes"]
        )
        if len(searchable) > MAX_SEARCHABLE_ATTRIBUTES:
            raise UsageError(
                f"a thing type has at most {MAX_SEARCHABLE_ATTRIBUTES} searchable attributes; "
                f"got {len(searchable)}: {', '.join(searchable)}",
                FLAGS["searchable_attributes"],
            )
        for attribute in searchable:
            naming.ATTRIBUTE_NAME.check(attribute, FLAGS["searchable_attributes"])
        firmware_size = naming.check_positive_int(
            self.firmware_size, "the firmware size", FLAGS["firmware_size"], maximum=MAX_FIRMWARE_SIZE
        )
        if not isinstance(self.certificates, bool):
            raise UsageError(
                f"certificates must be true or false, got {self.certificates!r}", FLAGS["certificates"]
            )
        if self.cert_source not in CERT_SOURCES:
            raise UsageError(
                f"the certificate source must be one of {', '.join(CERT_SOURCES)}, got {self.cert_source!r}",
                FLAGS["cert_source"],
            )
        spec = replace(
            self,
            fleet=fleet,
            devices=devices,
            thing_types=thing_types,
            versions=versions,
            continent=continent,
            countries=countries,
            searchable_attributes=searchable,
            firmware_size=firmware_size,
        )
        for group in spec.country_group_names() + spec.continent_group_names():
            naming.check_group_name(group, FLAGS["group_prefix"])
        return spec

    # ----------------------------------------------------------------- documents

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists, not tuples), in the key order of the spec file."""
        data = asdict(self)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str = "spec") -> FleetSpec:
        """A spec from plain data (a parsed file); unknown keys and wrong types are usage errors."""
        if not isinstance(data, Mapping):
            raise UsageError(
                f"{source}: the spec must be a mapping of settings, not {type(data).__name__}", source
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            raise UsageError(
                f"{source}: unknown setting(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                source,
            )
        values: dict[str, Any] = {}
        for key, value in data.items():
            if value is None:
                continue
            if key in ("thing_types", "versions", "searchable_attributes"):
                values[key] = _text_list(value, key, source)
            elif key == "countries":
                continue
            else:
                values[key] = value
        continent = values.get("continent", DEFAULT_CONTINENT)
        if not isinstance(continent, str):
            raise UsageError(f"{source}: continent must be text, got {continent!r}", source)
        if data.get("countries") is not None:
            values["countries"] = tuple(resolve_countries(continent, data["countries"], source))
        elif "continent" in values:
            values["countries"] = tuple(default_countries(geography.check_continent(continent, source)))
        return cls(**values)


def default_countries(continent: str) -> list[str]:
    """The first three countries of ``continent`` (fewer when it has fewer)."""
    known = geography.CONTINENTS[geography.check_continent(continent)]
    return geography.first_countries(continent, min(DEFAULT_COUNTRY_COUNT, len(known)))


def check_device_count(value: object, param: str = FLAGS["devices"]) -> int:
    """A device count: a whole number from 1 to :data:`MAX_DEVICES`."""
    return naming.check_positive_int(value, "the device count", param, maximum=MAX_DEVICES)


def resolve_countries(continent: str, value: Any, param: str = FLAGS["countries"]) -> list[str]:
    """Countries from a number (the first N of ``continent``), a list of codes, or ``"US,CA"`` text."""
    if isinstance(value, bool):
        raise UsageError(f"countries must be a number or a list of ISO codes, got {value!r}", param)
    if isinstance(value, int):
        count = naming.check_positive_int(value, "the number of countries", param)
        return geography.first_countries(continent, count)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit():
            return resolve_countries(continent, int(text), param)
        return geography.check_countries(text.split(","), param)
    if isinstance(value, Sequence):
        if not all(isinstance(code, str) for code in value):
            raise UsageError(f"countries must be ISO codes (text), got {list(value)!r}", param)
        return geography.check_countries(list(value), param)
    raise UsageError(f"countries must be a number or a list of ISO codes, got {value!r}", param)


def split_list(text: str) -> tuple[str, ...]:
    """``"A, B,C"`` -> ``("A", "B", "C")``."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _text_list(value: Any, key: str, source: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return split_list(value)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return tuple(value)
    hint = ' (quote version numbers, e.g. "1.0")' if key == "versions" else ""
    raise UsageError(f"{source}: {key} must be a list of text values, got {value!r}{hint}", source)


def _names(values: Sequence[str], what: str, param: str) -> tuple[str, ...]:
    """Stripped, non-empty, without duplicates (which would be two resources with one name)."""
    names = tuple(str(value).strip() for value in values)
    if not names or any(not name for name in names):
        raise UsageError(f"give at least one {what}, and no empty names", param)
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise UsageError(f"{what} names must be unique: {', '.join(duplicates)} given twice", param)
    return names


# --------------------------------------------------------------------- files


def load_spec(path: str | os.PathLike[str]) -> FleetSpec:
    """Read a YAML or TOML spec file (by suffix). A malformed file is a usage error naming it."""
    file = Path(path)
    source = str(file)
    if file.suffix.lower() not in SPEC_SUFFIXES:
        raise UsageError(f"{source}: a spec file ends in .yaml, .yml or .toml", "--spec")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read spec file {source}: {exc.strerror or exc}", "--spec") from None
    if file.suffix.lower() == ".toml":
        try:
            data: Any = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{source} is not valid TOML: {exc}", "--spec") from None
    else:
        try:
            data = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            raise UsageError(f"{source} is not valid YAML: {exc}", "--spec") from None
    if data is None:
        data = {}
    return FleetSpec.from_dict(data, source)


def save_spec(spec: FleetSpec, path: str | os.PathLike[str]) -> Path:
    """Write ``spec`` as YAML or TOML (by suffix); returns the path written."""
    file = Path(path)
    suffix = file.suffix.lower()
    if suffix not in SPEC_SUFFIXES:
        raise UsageError(f"{file}: a spec file ends in .yaml, .yml or .toml", "--save-spec")
    data = spec.to_dict()
    text = (
        _toml(data) if suffix == ".toml" else yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    )
    try:
        file.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write spec file {file}: {exc.strerror or exc}", "--save-spec") from None
    return file


def _toml(data: Mapping[str, Any]) -> str:
    """A flat TOML document (the spec has only text, numbers, booleans and lists of text)."""
    lines = ["# iotfleet fleet spec"]
    for key, value in data.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        # A JSON string with ASCII escapes is a valid TOML basic string.
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} to TOML")
