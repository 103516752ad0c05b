"""The dynamic-groups menu: build or type a query, preview and create a group, list, describe, delete, test.

Each item runs the same ``iotfleet groups`` command a script would run; whatever it still needs, it asks for.
A failed action is reported and the menu comes back. Started by ``iotfleet groups menu`` and
``scripts/manage_dynamic_groups.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli import groups as commands
from iotfleet.cli.interactive.asking import ask_until_valid, choose, choose_fleet, prompt, run_menu
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


def _raw_query() -> str:
    text = str(prompt("Fleet Indexing query")).strip()
    grp.check_query(text)
    return text


class GroupsMenu:
    """The menu's items, each one ``iotfleet groups`` command with its arguments asked for."""

    def __init__(self, state: CliState, ctx: click.Context, fleet: str) -> None:
        self.state = state
        self.ctx = ctx
        self.fleet = fleet
        self.items: list[tuple[str, Callable[[], Any] | None]] = [
            ("Create a dynamic group with the query builder", self.create_built),
            ("Create a dynamic group from a query", self.create_raw),
            ("List groups", lambda: self.run(commands.list_command, fleet=None, no_counts=False)),
            ("Describe a group and its members", self.describe),
            ("Delete a group", self.delete),
            ("Test a query", lambda: self.test(explain=False)),
            ("Explain a query", lambda: self.test(explain=True)),
            ("Exit", None),
        ]

    def run(self, command: click.Command, **arguments: Any) -> None:
        self.ctx.invoke(command, **arguments)

    def _create(self, text: str) -> None:
        name = str(prompt("Group name")).strip()
        description = str(prompt("Description (empty for none)", default="")).strip() or None
        self.run(
            commands.create, name=name, query=text, countries=(), thing_type=None, versions=(), package=None,
            battery=None, all_fleets=False, description=description, sample=grp.DEFAULT_SAMPLE, fleet=self.fleet,
        )  # fmt: skip

    def create_built(self) -> None:
        self._create(guided_query(self.state, self.fleet))

    def create_raw(self) -> None:
        self._create(ask_until_valid(self.state, _raw_query))

    def _pick_group(self) -> str:
        names = [g.name for g in grp.list_groups(self.state.aws, members=False)]
        return choose(self.state, "Thing groups", names)

    def describe(self) -> None:
        self.run(
            commands.describe,
            name=self._pick_group(),
            page_size=grp.DEFAULT_PAGE_SIZE,
            next_token=None,
            all_pages=False,
        )

    def delete(self) -> None:
        self.run(commands.delete, name=self._pick_group(), force=False, fleet=self.fleet)

    def test(self, *, explain: bool) -> None:
        text = ask_until_valid(self.state, _raw_query)
        self.run(commands.query_command, query=text, explain=explain, limit=25)


def run_groups_menu(state: CliState, ctx: click.Context, *, fleet: str, fleet_given: bool) -> None:
    if not state.prompts.interactive:
        raise UsageError("the groups menu needs a terminal; use the iotfleet groups commands in scripts")
    state.offer_debug_mode()
    fleet = choose_fleet(state, fleet, given=fleet_given)
    run_menu(state, "Dynamic groups", GroupsMenu(state, ctx, fleet).items)
