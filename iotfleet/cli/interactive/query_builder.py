"""The query builder: a dynamic group's Fleet Indexing query from a few questions, asked again until valid.

Used by ``iotfleet groups create`` on a terminal when no query or builder flag is given, and by the groups menu.
"""

from __future__ import annotations

from iotfleet.cli.interactive.asking import ask_until_valid, prompt
from iotfleet.cli.state import CliState
from iotfleet.fleet import groups as grp
from iotfleet.fleet.spec import split_list


def _optional(question: str) -> str | None:
    answer = str(prompt(f"{question} (empty for any)", default="")).strip()
    return answer or None


def guided_query(state: CliState, fleet: str) -> str:
    """Ask for countries, thing type, versions and battery level, and build the query (asked again if invalid)."""

    def build() -> str:
        countries = _optional("Countries, ISO codes separated by commas")
        thing_type = _optional("Thing type")
        versions = _optional("Package versions the devices report, separated by commas")
        package = None
        if versions and not thing_type:
            package = str(prompt("Package of those versions")).strip()
        battery = _optional("Battery level, e.g. >50 (50 excluded), >=50, <20, =100")
        scoped = state.prompts.yes_no(f"Only fleet {fleet}'s things?", default=True)
        return grp.build_query(
            fleet=fleet if scoped else None,
            countries=split_list(countries) if countries else None,
            thing_type=thing_type,
            versions=split_list(versions) if versions else None,
            package=package,
            battery=battery,
        )

    text = ask_until_valid(state, build)
    state.output.info(f"Query: {text}")
    return text
