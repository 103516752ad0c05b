"""The dynamic-groups menu: build or type a query, preview and create a group, list, describe, delete, test.

Each item runs the same ``iotfleet groups`` command a script would run; whatever it still needs, it asks for.
A failed action is reported and the menu comes back. Started by ``iotfleet groups menu`` (defined here, since it
is built on the group's commands, and added to the group by :mod:`iotfleet.cli.main`) and
``scripts/manage_dynamic_groups.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli import groups as commands
from iotfleet.cli.fleet_choice import choose_fleet
from iotfleet.cli.interactive.asking import ask_until_valid, choose, prompt, run_menu
from iotfleet.cli.interactive.query_builder import guided_query
from iotfleet.cli.options import fleet_given, fleet_option
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet import groups as grp


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


@click.command("menu")
@fleet_option
@pass_state
def menu(state: CliState, fleet: str) -> None:
    """The interactive dynamic-groups menu (needs a terminal)."""
    ctx = click.get_current_context()
    run_groups_menu(state, ctx, fleet=fleet, fleet_given=fleet_given(ctx))
