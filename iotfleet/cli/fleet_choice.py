"""Which fleet a command acts for when ``--fleet`` is not given: the account's only iotfleet fleet.

One rule, for every command that acts on a fleet that already exists (its bucket, roles or ownership tag):

- ``--fleet NAME`` or ``IOTFLEET_FLEET`` wins;
- else, when this account and region hold exactly one iotfleet fleet, that one, said on stderr;
- else, with several, a terminal asks which, and a script stops with a usage error (exit 2) naming them;
- else (none yet) the default name, ``default``, so a missing bucket or role is reported as such.

Fleets are found by their buckets' ownership tags (:func:`iotfleet.fleet.resources.fleets_in_account`), so the
look-up costs ``s3:ListAllMyBuckets`` and one tag read per iotfleet bucket, and only when ``--fleet`` is not given.
Commands that name a fleet rather than find one do not look: ``provision`` and ``demo`` create theirs (default
``default`` and ``demo``), ``cleanup`` deletes, so it needs the name, and ``groups list --fleet`` and
``simulate --fleet`` are filters.
"""

from __future__ import annotations

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli.interactive.asking import choose
from iotfleet.cli.options import fleet_given
from iotfleet.cli.state import CliState
from iotfleet.fleet.resources import fleets_in_account


def resolve_fleet(state: CliState, fleet: str, *, given: bool) -> str:
    """``fleet`` when it was given; else the account's only fleet, the one picked on a terminal, or ``fleet``."""
    if given:
        return fleet
    found = fleets_in_account(state.aws)
    if len(found) == 1:
        state.output.info(
            f"Using fleet {found[0]!r}, the only iotfleet fleet in this account and region (--fleet names another)"
        )
        return found[0]
    if len(found) > 1:
        if state.prompts.interactive:
            return choose(state, "iotfleet fleets in this account", found)
        raise UsageError(
            f"this account and region hold {len(found)} iotfleet fleets ({', '.join(found)}): "
            "name one with --fleet or IOTFLEET_FLEET",
            "--fleet",
        )
    return fleet


def command_fleet(state: CliState, fleet: str) -> str:
    """The fleet of the running command: its ``--fleet`` value, resolved by :func:`resolve_fleet`."""
    return resolve_fleet(state, fleet, given=fleet_given(click.get_current_context()))


def choose_fleet(state: CliState, fleet: str, *, given: bool) -> str:
    """The fleet an interactive flow acts for (:func:`resolve_fleet`), shown before its first question."""
    chosen = resolve_fleet(state, fleet, given=given)
    state.output.info(f"Fleet: {chosen}")
    return chosen
