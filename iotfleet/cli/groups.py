"""``iotfleet groups``: dynamic groups from queries (raw or built, previewed first), list, describe, delete, and a
query tester.

Queries are checked locally before any call: a syntax error, an unknown field or a field the account does not
index exits 2 with a caret under the problem. Creating and deleting ask for confirmation (``--yes`` without a
terminal). The interactive menu, ``groups menu``, lives in :mod:`iotfleet.cli.interactive.groups_menu`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console

from iotfleet.aws.errors import UsageError
from iotfleet.cli.fleet_choice import command_fleet
from iotfleet.cli.interactive.query_builder import guided_query
from iotfleet.cli.options import fleet_option
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet import groups as grp
from iotfleet.fleet import naming
from iotfleet.fleet.flag_values import split_values

SAMPLE_COLUMNS = ("Thing", "Type", "Country", "Battery", "Firmware")


def sample_rows(things: Sequence[grp.MatchedThing]) -> list[tuple[Any, ...]]:
    rows = []
    for thing in things:
        firmware = thing.reported.get("firmware")
        version = firmware.get("version") if isinstance(firmware, dict) else firmware
        rows.append((thing.name, thing.thing_type, thing.attributes.get("country"), thing.battery, version))
    return rows


def render_preview(console: Console, preview: grp.Preview, title: str) -> None:
    console.print(key_values([("Query", preview.query), ("Matching things", preview.count)]))
    if preview.sample:
        shown = f"{len(preview.sample)} of {preview.count}"
        console.print(table(SAMPLE_COLUMNS, sample_rows(preview.sample), title=f"{title} ({shown})"))


def query_from_options(
    *,
    fleet: str,
    query: str | None,
    countries: Sequence[str],
    thing_type: str | None,
    versions: Sequence[str],
    package: str | None,
    battery: str | None,
    all_fleets: bool,
) -> str | None:
    """The raw query, or the builder's; None when neither was given. Both at once is a usage error."""
    builder = bool(countries or thing_type or versions or package or battery)
    if query is not None and builder:
        raise UsageError("give either --query or builder flags (--country, --thing-type, ...), not both", "--query")
    if query is not None:
        grp.check_query(query)
        return query
    if not builder:
        return None
    return grp.build_query(
        fleet=None if all_fleets else fleet,
        countries=split_values(countries, "--country", "country") or None,
        thing_type=thing_type,
        versions=split_values(versions, "--version", "version") or None,
        package=package,
        battery=battery,
    )


@click.group("groups")
def groups() -> None:
    """Thing groups: dynamic groups from Fleet Indexing queries, listing, members, deletion, query tester."""


@groups.command("create")
@click.argument("name", required=False)
@click.option("--query", "-q", "query", metavar="Q", help="A raw Fleet Indexing query (sent as written).")
@click.option("--country", "countries", multiple=True, metavar="CC", help="Builder: country codes (repeat or comma-separate).")
@click.option("--thing-type", metavar="TYPE", help="Builder: thing type.")
@click.option("--version", "versions", multiple=True, metavar="V", help="Builder: package versions reported in $package.")
@click.option("--package", metavar="PKG", help="Builder: the package of --version (default: the thing type's).")
@click.option("--battery", metavar="COND", help="Builder: battery level, e.g. '>50' (50 excluded), '>=50', '<20', '=100'.")
@click.option("--all-fleets", is_flag=True, help="Builder: do not limit the query to the fleet's things.")
@click.option("--description", metavar="TEXT", help="Group description.")
@click.option("--sample", default=grp.DEFAULT_SAMPLE, show_default=True, type=click.IntRange(0, 100), help="Matching things shown in the preview.")
@fleet_option
@pass_state
def create(
    state: CliState, name: str | None, query: str | None, countries: tuple[str, ...], thing_type: str | None,
    versions: tuple[str, ...], package: str | None, battery: str | None, all_fleets: bool, description: str | None,
    sample: int, fleet: str,
) -> None:  # fmt: skip
    """Create dynamic group NAME from --query Q, or from builder flags; previews the matches first.

    \b
    Examples:
      iotfleet groups create HighBattery --battery '>50'
      iotfleet groups create US_Sedans_1_0 --country US --thing-type SedanVehicle --version 1.0.0
      iotfleet groups create LowBattery --query 'shadow.reported.batteryStatus<20' --yes
    """
    naming.check_description(description)

    def query_for(for_fleet: str) -> str | None:
        return query_from_options(
            fleet=for_fleet, query=query, countries=countries, thing_type=thing_type, versions=versions,
            package=package, battery=battery, all_fleets=all_fleets,
        )  # fmt: skip

    text = query_for(fleet)  # every local check, before the fleet is looked up
    if text is None and not state.prompts.interactive:
        raise UsageError("give --query, or builder flags such as --battery '>50'", "--query")
    if name is not None:
        name = naming.check_group_name(name, "NAME")
    fleet = command_fleet(state, fleet)
    # The builder's query names the fleet, now that it is known.
    text = guided_query(state, fleet) if text is None else query_for(fleet) or text
    name = naming.check_group_name(state.prompts.value("NAME", "Group name", current=name), "NAME")
    existing = grp.check_new_dynamic_group(state.aws, name, text, fleet)
    if existing is not None:
        created = grp.CreatedGroup(existing, created=False)
        state.output.result(created.as_dict(), render=lambda c: c.print(f"Dynamic group {name} already exists with this query."))
        return
    preview = grp.preview(state.aws, text, sample=sample)
    if not state.output.json:
        render_preview(state.output.console, preview, "Sample")
    state.confirm(f"Create dynamic group {name} ({preview.count} matching things now)")
    created = grp.create_dynamic_group(state.aws, name, text, fleet=fleet, description=description)
    created.preview = preview

    def render(console: Console) -> None:
        console.print(f"Created dynamic group {name} ({created.group.arn}); AWS fills its membership shortly.")

    state.output.result(created.as_dict(), render=render)


@groups.command("list")
@click.option("--fleet", "fleet", metavar="NAME", help="Only the groups of this fleet.")
@click.option("--no-counts", is_flag=True, help="Skip member counts (one listing per group).")
@pass_state
def list_command(state: CliState, fleet: str | None, no_counts: bool) -> None:
    """Every thing group, static or dynamic, with its owner fleet and member count.

    \b
    Examples:
      iotfleet groups list
      iotfleet groups list --fleet default --no-counts
    """
    if fleet is not None:
        naming.check_fleet_name(fleet)
    found = grp.list_groups(state.aws, fleet=fleet, members=not no_counts)

    def render(console: Console) -> None:
        rows = [(g.name, g.kind, g.members, g.parent, g.fleet, g.query) for g in found]
        console.print(table(("Name", "Type", "Members", "Parent", "Fleet", "Query"), rows, title=f"{len(found)} group(s)"))

    state.output.result({"groups": [g.as_dict() for g in found]}, render=render)


@groups.command("describe")
@click.argument("name", required=False)
@click.option("--page-size", default=grp.DEFAULT_PAGE_SIZE, show_default=True, type=int, help="Members per page (1-250).")
@click.option("--next-token", metavar="TOKEN", help="Continue from the page this token names.")
@click.option("--all", "all_pages", is_flag=True, help="Every page of members.")
@pass_state
def describe(state: CliState, name: str | None, page_size: int, next_token: str | None, all_pages: bool) -> None:
    """The group and its members with their attributes, one page at a time.

    \b
    Examples:
      iotfleet groups describe US_Fleet
      iotfleet groups describe US_Fleet --page-size 50 --next-token TOKEN
      iotfleet --output json groups describe HighBattery --all
    """
    name = naming.check_group_name(state.prompts.value("NAME", "Group name", current=name), "NAME")
    described = grp.describe_group(state.aws, name, page_size=page_size, next_token=next_token)
    while all_pages and described.next_token:
        more = grp.describe_group(state.aws, name, page_size=page_size, next_token=described.next_token)
        described.members.extend(more.members)
        described.next_token = more.next_token

    def render(console: Console) -> None:
        info = described.group
        console.print(
            key_values(
                [("Group", info.name), ("Type", info.kind), ("Fleet", info.fleet), ("Parent", info.parent),
                 ("Query", info.query), ("Description", info.description)]
            )
        )  # fmt: skip
        keys = sorted({key for m in described.members for key in m.attributes})
        rows = [(m.name, m.thing_type, *(m.attributes.get(k) for k in keys)) for m in described.members]
        console.print(table(("Thing", "Type", *keys), rows, title=f"{len(described.members)} member(s) shown"))
        if described.next_token:
            console.print(
                f"More members: iotfleet groups describe {name} --page-size {page_size} "
                f"--next-token {described.next_token}"
            )

    state.output.result(described.as_dict(), render=render)


@groups.command("delete")
@click.argument("name", required=False)
@click.option("--force", is_flag=True, help="Delete a group that another fleet (or no iotfleet fleet) owns.")
@fleet_option
@pass_state
def delete(state: CliState, name: str | None, force: bool, fleet: str) -> None:
    """Delete group NAME after confirmation; its things stay.

    \b
    Examples:
      iotfleet groups delete HighBattery
      iotfleet --yes groups delete HighBattery
    """
    name = naming.check_group_name(state.prompts.value("NAME", "Group name", current=name), "NAME")
    info = grp.check_deletable(state.aws, name, fleet=command_fleet(state, fleet), force=force)
    state.confirm(f"Delete {info.kind} thing group {name}")
    grp.delete_group(state.aws, info)
    state.output.result(
        {"deleted": info.as_dict()}, render=lambda c: c.print(f"Deleted {info.kind} thing group {name}.")
    )


@groups.command("query")
@click.argument("query")
@click.option("--explain", is_flag=True, help="Print how the query parses, and send nothing.")
@click.option("--limit", default=25, show_default=True, type=click.IntRange(0, 10000), help="Matching things shown.")
@pass_state
def query_command(state: CliState, query: str, explain: bool, limit: int) -> None:
    """Test query Q: how many things match, and which; --explain shows the parsed query instead.

    \b
    Examples:
      iotfleet groups query 'shadow.reported.batteryStatus>50 AND attributes.country:US'
      iotfleet groups query 'a OR b c' --explain
    """
    compiled = grp.check_query(query, param="QUERY")
    if explain:
        tree = compiled.explain()
        state.output.result(
            {"query": query, "normalized": compiled.to_query_string(), "explain": tree, "fields": compiled.fields_used()},
            render=lambda c: c.print(tree, markup=False, highlight=False),
        )
        return
    found = grp.preview(state.aws, query, sample=limit)
    state.output.result(found.as_dict(), render=lambda c: render_preview(c, found, "Matches"))
