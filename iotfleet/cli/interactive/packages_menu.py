"""The package menu: create, list, describe, configuration, device check and rollback, one action at a time.

Each menu item runs the same ``iotfleet packages`` command a script would run, with the package and version
picked from lists; whatever the command still needs, it asks for itself. A failed action is reported and the
menu comes back. Started by ``iotfleet packages menu`` (defined here, since it is built on the group's commands,
and added to the group by :mod:`iotfleet.cli.main`) and ``scripts/manage_packages.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli import packages as commands
from iotfleet.cli.fleet_choice import choose_fleet
from iotfleet.cli.interactive.asking import choose, prompt, run_menu
from iotfleet.cli.options import fleet_given, fleet_option
from iotfleet.cli.state import CliState
from iotfleet.fleet.packages.catalog import (
    DEPLOYABLE,
    DEPRECATED,
    DRAFT,
    PUBLISHED,
    list_packages,
    list_versions,
)


def pick_package(state: CliState) -> str:
    return choose(
        state, "Packages", [p["packageName"] for p in list_packages(state.aws)], allow_other=False
    )


def pick_version(state: CliState, package: str, statuses: tuple[str, ...] | None = None) -> str:
    versions = [
        v for v in list_versions(state.aws, package) if statuses is None or v.get("status") in statuses
    ]
    if not versions:
        wanted = " or ".join(statuses) if statuses else "any"
        raise UsageError(f"{package} has no {wanted} version")
    labels = [f"{v['versionName']} ({v.get('status')})" for v in versions]
    return choose(state, f"Versions of {package}", labels).rsplit(" (", 1)[0]


class PackageMenu:
    """The menu's items, each one CLI command with its arguments picked interactively."""

    def __init__(self, state: CliState, ctx: click.Context, fleet: str) -> None:
        self.state = state
        self.ctx = ctx
        self.fleet = fleet
        self.items: list[tuple[str, Callable[[], Any] | None]] = [
            ("Create a package", self.create_package),
            ("Create a version from a firmware file", self.create_version),
            ("List packages", lambda: self.run(commands.list_command)),
            ("Describe a package", lambda: self.run(commands.describe, package=pick_package(state))),
            ("Describe a version", self.describe_version),
            ("Publish a version", lambda: self.lifecycle(commands.publish, (DRAFT, DEPRECATED))),
            ("Deprecate a version", lambda: self.lifecycle(commands.deprecate, (PUBLISHED,))),
            ("Set the default version", lambda: self.lifecycle(commands.set_default, DEPLOYABLE)),
            ("Show the package configuration", lambda: self.run(commands.config_show)),
            ("Enable the package configuration", lambda: self.run(commands.config_enable, fleet=fleet)),
            ("Disable the package configuration", lambda: self.run(commands.config_disable)),
            ("Check the versions a device reports", lambda: self.run(commands.device)),
            (
                "Show the version distribution",
                lambda: self.run(commands.distribution, package=pick_package(state)),
            ),
            ("Roll back to an earlier version", self.rollback),
            ("Exit", None),
        ]

    def run(self, command: click.Command, **arguments: Any) -> None:
        self.ctx.invoke(command, **arguments)

    def create_package(self) -> None:
        name = str(prompt("New package name")).strip()
        description = str(prompt("Description (empty for none)", default="")).strip() or None
        self.run(commands.create, package=name, description=description, fleet=self.fleet)

    def create_version(self) -> None:
        package = pick_package(self.state)
        version = str(prompt("New version name, e.g. 1.2.0")).strip()
        path = str(prompt("Firmware file")).strip()
        description = str(prompt("Description (empty for none)", default="")).strip() or None
        publish = self.state.prompts.yes_no("Publish it now (otherwise it stays DRAFT)?", default=True)
        self.run(
            commands.create_version, package=package, version=version, path=path, publish=publish,
            description=description, attributes=(), fleet=self.fleet,
        )  # fmt: skip

    def describe_version(self) -> None:
        package = pick_package(self.state)
        self.run(commands.describe, package=package, version=pick_version(self.state, package))

    def lifecycle(self, command: click.Command, statuses: tuple[str, ...]) -> None:
        package = pick_package(self.state)
        self.run(command, package=package, version=pick_version(self.state, package, statuses))

    def rollback(self) -> None:
        package = pick_package(self.state)
        version = pick_version(self.state, package, DEPLOYABLE)
        dry_run = self.state.prompts.yes_no("Only show the plan (dry run)?", default=False)
        self.run(commands.rollback, package=package, version=version, dry_run=dry_run, fleet=self.fleet)


def run_packages_menu(state: CliState, ctx: click.Context, *, fleet: str, fleet_given: bool) -> None:
    if not state.prompts.interactive:
        raise UsageError("the package menu needs a terminal; use the iotfleet packages commands in scripts")
    if state.output.json:
        raise UsageError("the package menu prints for people: drop --output json", "--output")
    state.offer_debug_mode()
    fleet = choose_fleet(state, fleet, given=fleet_given)
    run_menu(state, "Package menu", PackageMenu(state, ctx, fleet).items)


@click.command("menu")
@fleet_option
@click.pass_context
def menu(ctx: click.Context, fleet: str) -> None:
    """The interactive package menu (a terminal is needed): create, list, describe, configure, check, roll back."""
    state = ctx.find_object(CliState)
    assert state is not None
    run_packages_menu(state, ctx, fleet=fleet, fleet_given=fleet_given(ctx))
