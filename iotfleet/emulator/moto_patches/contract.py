"""The moto the patches were written for, and the check that the installed one still fits them.

Each patched area lists the moto functions it replaces or calls, as shipped (``ORIGINALS``), and the
parameters it passes them (``EXPECTED_PARAMETERS``). :func:`moto_contract_problems` compares those,
the attributes the clock patch replaces and the shapes of moto's models with the installed moto, so a
moto upgrade that breaks a patch is named before the emulator starts (and in
tests/emulator/test_core_moto_contract.py).
"""

from __future__ import annotations

import inspect
from typing import Any

import moto.core.responses as _core_responses
from moto import __version__ as _installed_version
from moto.core import DEFAULT_ACCOUNT_ID
from moto.iot.exceptions import ResourceNotFoundException as _MotoIotNotFound
from moto.iot.models import FakeThing, IoTBackend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from iotfleet.emulator.moto_patches import clock, gateway, iot_registry, s3, shadows

MOTO_VERSION = "5.2.5"
"""The moto release these patches were written and tested against (pinned in pyproject.toml)."""

_AREAS = (gateway, iot_registry, shadows, s3)

ORIGINALS: dict[str, Any] = {name: f for area in _AREAS for name, f in area.ORIGINALS.items()}
"""moto functions as shipped, before any fix replaced them, by ``Class.method``."""

EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    name: expected for area in _AREAS for name, expected in area.EXPECTED_PARAMETERS.items()
}
"""Parameters each original must take, in order (after self), for the fixes to call it correctly."""

_IOT_BACKEND_DICTS = (
    "things",
    "thing_groups",
    "thing_types",
    "billing_groups",
    "role_aliases",
    "rules",
)
_THING_ATTRIBUTES = ("thing_shadows", "arn", "version", "thing_id", "attributes")


def moto_contract_problems() -> list[str]:
    """What in the installed moto differs from what the patches rely on (empty when all is as expected)."""
    problems: list[str] = []
    if _installed_version != MOTO_VERSION:
        problems.append(f"moto {_installed_version} is installed; the emulator was built for {MOTO_VERSION}")
    for name, expected in EXPECTED_PARAMETERS.items():
        parameters = [p for p in inspect.signature(ORIGINALS[name]).parameters if p not in ("self", "cls")]
        if tuple(parameters[: len(expected)]) != expected:
            problems.append(f"{name} takes {tuple(parameters)}, expected {expected} first")
    for module, attribute in clock.PATCHED_ATTRIBUTES:
        if not hasattr(module, attribute):
            problems.append(f"{module.__name__} no longer has {attribute} (the clock patch)")
    for attribute in ("method_names_from_class", "gen_amzn_requestid_long"):
        if not hasattr(_core_responses, attribute):
            problems.append(f"{_core_responses.__name__} no longer has {attribute} (a gateway speed-up)")
    backend = IoTBackend("us-east-1", DEFAULT_ACCOUNT_ID)
    for attribute in _IOT_BACKEND_DICTS:
        if not isinstance(getattr(backend, attribute, None), dict):
            problems.append(f"IoTBackend.{attribute} is not a dict any more")
    thing = FakeThing("contract-probe", None, {}, DEFAULT_ACCOUNT_ID, "us-east-1")  # type: ignore[abstract]
    for attribute in _THING_ATTRIBUTES:
        if not hasattr(thing, attribute):
            problems.append(f"FakeThing has no {attribute}")
    if thing.arn != iot_registry.thing_arn(backend, "contract-probe"):
        problems.append(f"thing ARNs changed form ({thing.arn})")
    for attribute in ("error_type", "message", "code"):
        if not hasattr(_MotoIotNotFound(), attribute):
            problems.append(f"moto's JsonRESTError has no {attribute}")
    if not callable(getattr(DomainDispatcherApplication(create_backend_app), "create_app", None)):
        problems.append("DomainDispatcherApplication has no create_app")
    return problems
