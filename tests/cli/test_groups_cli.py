"""``iotfleet groups`` end to end against the emulator: create with preview and confirmation, list, describe,
delete, the query tester, bad queries refused with nothing sent, and the interactive menu."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.interactive.groups_menu import menu
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.state import CliState
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.provision import inventory
from iotfleet.fleet.provision.apply import provision
from iotfleet.fleet.spec import FleetSpec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from provision_setup import calls, fleet_context, group_members, mutating_calls

SPEC = FleetSpec(fleet="default", devices=30)


@pytest.fixture
def local(emulator: LocalEmulator) -> list[str]:
    with fleet_context(emulator) as ctx:
        assert provision(ctx, SPEC).ok
    emulator.reset_counters()
    return ["--target", "local", "--endpoint-url", emulator.endpoint_url]


def _high_battery() -> set[str]:
    return {d.name for d in inventory.devices(SPEC.validated()) if d.battery > 50}


def test_create_previews_then_needs_confirmation_without_a_terminal(
    invoke, local: list[str], emulator: LocalEmulator
) -> None:  # type: ignore[no-untyped-def]
    refused = invoke(*local, "groups", "create", "HighBattery", "--battery", ">50")
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert f"Matching things  {len(_high_battery())}" in refused.stdout
    assert mutating_calls(emulator) == {}

    created = invoke(
        *local,
        "--yes",
        "--output",
        "json",
        "groups",
        "create",
        "HighBattery",
        "--battery",
        ">50",
        "--sample",
        "3",
    )
    assert created.exit_code == 0, created.stderr
    document = json.loads(created.stdout)
    assert document["created"] is True and document["type"] == "dynamic" and document["fleet"] == "default"
    assert document["query"] == "attributes.iotfleet_fleet:default AND shadow.reported.batteryStatus>50"
    assert document["preview"]["count"] == len(_high_battery()) and len(document["preview"]["sample"]) == 3
    with fleet_context(emulator) as ctx:
        assert group_members(ctx, "HighBattery") == _high_battery()

    again = invoke(*local, "--yes", "groups", "create", "HighBattery", "--battery", ">50")
    assert again.exit_code == 0 and "already exists" in again.stdout
    taken = invoke(*local, "--yes", "groups", "create", "HighBattery", "--battery", ">60")
    assert taken.exit_code == 2 and "already exists" in taken.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["create", "Bad", "--query", "shadow.reported.batteryStatus>50 AND"], "needs a term on its right"),
        (["create", "Bad", "--query", "attributes.country:US OR (thingTypeName:x"], "^"),
        (["create", "Bad", "--query", "shadow.reported.batteryStatus~50"], "invalid query"),
        (["create", "Bad", "--query", "x:1", "--battery", ">5"], "not both"),
        (["create", "Bad", "--battery", ">fifty"], "battery condition"),
        (["create", "Bad", "--country", "XX"], "unknown country code"),
        (["create", "Bad Name", "--battery", ">50"], "invalid thing group name"),
        (["create", "Bad", "--version", "1.0.0"], "--package or --thing-type"),
        (["create", "Bad"], "--query"),
        (["query", "a AND"], "needs a term on its right"),
        (["query", "thingName:/regex/"], "invalid query"),
        (["describe", "no/such"], "invalid thing group name"),
    ],
)
def test_bad_queries_and_names_exit_2_with_nothing_sent(  # type: ignore[no-untyped-def]
    invoke, emulator: LocalEmulator, arguments: list[str], message: str
) -> None:
    ran = invoke(
        "--target", "local", "--endpoint-url", emulator.endpoint_url, "--yes", "groups", *arguments
    )
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.stderr
    assert calls(emulator) == {}


def test_a_query_the_account_does_not_index_is_refused_before_any_change(
    invoke, local: list[str], emulator: LocalEmulator
) -> None:  # type: ignore[no-untyped-def]
    ran = invoke(
        *local, "--yes", "groups", "create", "Cfg", "--query", "shadow.name.config.reported.mode:eco"
    )
    assert ran.exit_code == 2 and "not indexed" in ran.stderr and "^" in ran.stderr
    assert mutating_calls(emulator) == {}


def test_query_tester_counts_and_explains(invoke, local: list[str], emulator: LocalEmulator) -> None:  # type: ignore[no-untyped-def]
    ran = invoke(
        *local, "-o", "json", "groups", "query", "shadow.reported.batteryStatus>50 AND attributes.country:US"
    )
    assert ran.exit_code == 0, ran.stderr
    found = json.loads(ran.stdout)
    wanted = {d.name for d in inventory.devices(SPEC.validated()) if d.battery > 50 and d.country == "US"}
    assert found["count"] == len(wanted) and {t["thingName"] for t in found["sample"]} == wanted

    emulator.reset_counters()
    explained = invoke(*local, "groups", "query", "a OR b c", "--explain")
    assert explained.exit_code == 0
    assert "AND (implicit" in explained.stdout and "OR" in explained.stdout
    assert calls(emulator) == {}


def test_list_describe_and_delete(invoke, local: list[str], emulator: LocalEmulator) -> None:  # type: ignore[no-untyped-def]
    assert invoke(*local, "--yes", "groups", "create", "Low", "--battery", "<=30").exit_code == 0
    listed = invoke(*local, "-o", "json", "groups", "list")
    assert listed.exit_code == 0, listed.stderr
    groups = {g["name"]: g for g in json.loads(listed.stdout)["groups"]}
    assert set(groups) == {"US_Fleet", "CA_Fleet", "MX_Fleet", "NorthAmerica_Fleet", "Low"}
    assert groups["Low"]["type"] == "dynamic" and groups["US_Fleet"]["members"] == 12
    text = invoke(*local, "groups", "list", "--no-counts")
    assert text.exit_code == 0 and "5 group(s)" in text.stdout

    page = invoke(*local, "-o", "json", "groups", "describe", "US_Fleet", "--page-size", "5")
    described = json.loads(page.stdout)
    assert len(described["memberPage"]) == 5 and described["nextToken"]
    assert described["memberPage"][0]["attributes"]["country"] == "US"
    everything = invoke(*local, "-o", "json", "groups", "describe", "US_Fleet", "--page-size", "5", "--all")
    assert len(json.loads(everything.stdout)["memberPage"]) == 12
    more = invoke(*local, "groups", "describe", "US_Fleet", "--page-size", "5")
    assert "--next-token" in more.stdout

    emulator.reset_counters()
    unconfirmed = invoke(*local, "groups", "delete", "Low")
    assert unconfirmed.exit_code == 2 and mutating_calls(emulator) == {}
    deleted = invoke(*local, "--yes", "groups", "delete", "Low")
    assert deleted.exit_code == 0 and "Deleted dynamic thing group Low" in deleted.stdout
    gone = invoke(*local, "--yes", "groups", "delete", "Low")
    assert gone.exit_code == 2 and "does not exist" in gone.stderr


@pytest.fixture
def terminal_state(
    local: list[str], emulator: LocalEmulator, clean_env: dict[str, str]
) -> Iterator[CliState]:
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    yield state
    state.close()


def test_the_menu_builds_previews_and_creates_a_group(
    terminal_state: CliState, emulator: LocalEmulator
) -> None:
    lines = [
        "n",  # debug mode
        "1",  # create with the builder
        "US,CA", "", "", "huge", "",  # a bad battery condition is asked again, from the first question
        "US,CA", "", "", ">50", "y",  # countries, any type, any version, battery, only this fleet
        "UsCaCharged", "",  # name, no description
        "y",  # confirm
        "6",  # test a query
        "thingTypeName:SUVVehicle",
        "8",  # exit
    ]  # fmt: skip
    runner = CliRunner()
    with runner.isolation(input="\n".join(lines) + "\n") as (out, err, _):
        menu.main(args=[], obj=terminal_state, standalone_mode=False)
    assert "battery condition 'huge'" in err.getvalue().decode()
    wanted = {
        d.name for d in inventory.devices(SPEC.validated()) if d.battery > 50 and d.country in ("US", "CA")
    }
    with fleet_context(emulator) as ctx:
        assert group_members(ctx, "UsCaCharged") == wanted
    shown = out.getvalue().decode()
    assert "Created dynamic group UsCaCharged" in shown
    assert (
        f"Matching things  {sum(1 for d in inventory.devices(SPEC.validated()) if d.thing_type == 'SUVVehicle')}"
        in shown
    )
