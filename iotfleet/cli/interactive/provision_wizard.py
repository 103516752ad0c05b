"""The provisioning questions: thing types, versions, continent, countries, device count, prefix, fleet name,
certificates.

Each question shows its default (the spec file's value, or iotfleet's) and is asked again until the answer is
valid. Values given as flags are not asked. At the end the answers can be saved as a spec file, so the next run
can be ``iotfleet provision --spec FILE``. Started by ``iotfleet provision`` on a terminal and by
``scripts/provision_script.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from iotfleet.aws.errors import UsageError
from iotfleet.cli.interactive.asking import ask_until_valid, prompt
from iotfleet.cli.state import CliState
from iotfleet.fleet import geography, naming
from iotfleet.fleet.spec import (
    CERT_SOURCES,
    FLAGS,
    FleetSpec,
    check_device_count,
    default_countries,
    resolve_countries,
    save_spec,
    split_list,
)

T = TypeVar("T")


def _ask(state: CliState, given: set[str], key: str, ask: Callable[[], T], current: T) -> T:
    """``current`` when the flag was given, else the checked answer."""
    if key in given:
        return current
    return ask_until_valid(state, ask)


def ask_continent(state: CliState, default: str) -> str:
    names = geography.continent_names()
    state.output.info("Continents:")
    for index, name in enumerate(names, 1):
        state.output.info(f"  {index}. {name} ({len(geography.CONTINENTS[name])} countries)")
    answer = str(prompt("Continent (number or name)", default=str(names.index(default) + 1))).strip()
    if answer.isdigit() and 1 <= int(answer) <= len(names):
        return names[int(answer) - 1]
    return geography.check_continent(answer)


def ask_countries(state: CliState, continent: str, default: tuple[str, ...]) -> tuple[str, ...]:
    listed = ", ".join(code for code, _ in geography.CONTINENTS[continent][:10])
    state.output.info(f"Countries of {continent}, largest markets first: {listed}, ...")
    first = geography.first_countries(continent, min(len(default), len(geography.CONTINENTS[continent])))
    shown = str(len(default)) if list(default) == first else ",".join(default)
    answer = prompt("Countries: how many (the first N), or ISO codes such as US,CA", default=shown)
    return tuple(resolve_countries(continent, str(answer)))


def ask_spec(state: CliState, spec: FleetSpec, given: set[str]) -> FleetSpec:
    """Ask for every value whose flag was not given; returns the answered spec (validated)."""

    def thing_types() -> tuple[str, ...]:
        answer = split_list(str(prompt("Thing types (comma-separated)", default=",".join(spec.thing_types))))
        replace(spec, thing_types=answer).validated()
        return answer

    def versions() -> tuple[str, ...]:
        answer = split_list(
            str(prompt("Package versions (comma-separated)", default=",".join(spec.versions)))
        )
        replace(spec, versions=answer).validated()
        return answer

    spec = replace(spec, thing_types=_ask(state, given, "thing_types", thing_types, spec.thing_types))
    spec = replace(spec, versions=_ask(state, given, "versions", versions, spec.versions))
    continent = _ask(state, given, "continent", lambda: ask_continent(state, spec.continent), spec.continent)
    if continent != spec.continent and "countries" not in given:
        spec = replace(spec, continent=continent, countries=tuple(default_countries(continent)))
    spec = replace(spec, continent=continent)
    countries = _ask(
        state, given, "countries", lambda: ask_countries(state, continent, spec.countries), spec.countries
    )
    spec = replace(spec, countries=countries)

    def devices() -> int:
        answer = prompt("Number of devices", default=str(spec.devices))
        return check_device_count(str(answer))

    spec = replace(spec, devices=_ask(state, given, "devices", devices, spec.devices))

    def prefix() -> str:
        answer = str(prompt("Thing name prefix", default=spec.prefix))
        replace(spec, prefix=answer).validated()
        return answer

    spec = replace(spec, prefix=_ask(state, given, "prefix", prefix, spec.prefix))

    def fleet() -> str:
        return naming.check_fleet_name(str(prompt("Fleet name", default=spec.fleet)).strip())

    spec = replace(spec, fleet=_ask(state, given, "fleet", fleet, spec.fleet))

    def certificates() -> bool:
        return state.prompts.yes_no(
            "Give every device an X.509 certificate (keys stay on this machine)?", default=spec.certificates
        )

    spec = replace(spec, certificates=_ask(state, given, "certificates", certificates, spec.certificates))

    def source() -> str:
        answer = str(prompt("Certificates from: ca (signed here by the fleet CA) or aws", default=spec.cert_source))
        if answer.strip() not in CERT_SOURCES:
            raise UsageError(f"choose {' or '.join(CERT_SOURCES)}, not {answer!r}", FLAGS["cert_source"])
        return answer.strip()

    if spec.certificates:
        spec = replace(spec, cert_source=_ask(state, given, "cert_source", source, spec.cert_source))
    return spec.validated()


def offer_save(state: CliState, spec: FleetSpec, default_path: str = "fleet.yaml") -> str | None:
    """Ask whether to save the answers as a spec file; returns the path written, if any."""
    if not state.prompts.yes_no("Save these answers as a spec file?", default=False):
        return None

    def save() -> str:
        path = str(prompt("Spec file (.yaml, .yml or .toml)", default=default_path)).strip()
        return str(save_spec(spec, path))

    written = ask_until_valid(state, save)
    state.output.info(f"Saved {written}; next time: iotfleet provision --spec {written}")
    return written


def describe(spec: FleetSpec) -> list[tuple[str, Any]]:
    """The spec as label/value pairs, for the summary shown before planning."""
    return [
        ("Fleet", spec.fleet),
        ("Devices", spec.devices),
        ("Thing types", ", ".join(spec.thing_types)),
        ("Package versions", ", ".join(spec.versions)),
        ("Countries", ", ".join(spec.countries)),
        ("Groups", ", ".join(spec.country_group_names() + spec.continent_group_names())),
        ("Name prefix", f"{spec.prefix} ({spec.prefix}1 ... {spec.prefix}{spec.devices})"),
        ("Seed", spec.seed),
        ("Certificates", f"one per thing, from {spec.cert_source}" if spec.certificates else "none"),
    ]
