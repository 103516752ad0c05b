"""The helpers every interactive flow shares: the fleet a flow acts for, and the menu loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from iotfleet.aws.errors import Interrupted, UsageError
from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.fleet_choice import choose_fleet
from iotfleet.cli.interactive.asking import run_menu
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.state import CliState
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.ownership import tag_list


@pytest.fixture
def state(emulator: LocalEmulator, clean_env: dict[str, str]) -> Iterator[CliState]:
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    cli_state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    yield cli_state
    cli_state.close()


def fleet_bucket(state: CliState, fleet: str) -> None:
    name = f"iotfleet-{fleet}-bucket"
    state.aws.s3.create_bucket(Bucket=name)
    state.aws.s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(fleet)})


def answering(lines: list[str], action):  # type: ignore[no-untyped-def]
    with CliRunner().isolation(input="\n".join(lines) + "\n") as (_, err, _):
        result = action()
    return result, err.getvalue().decode()


def test_a_given_fleet_is_used_as_is(state: CliState) -> None:
    fleet_bucket(state, "lab")
    chosen, shown = answering([], lambda: choose_fleet(state, "field", given=True))
    assert chosen == "field" and "Fleet: field" in shown


def test_without_a_fleet_the_only_one_is_used_and_several_are_offered(state: CliState) -> None:
    assert answering([], lambda: choose_fleet(state, "default", given=False))[0] == "default"
    fleet_bucket(state, "lab")
    assert answering([], lambda: choose_fleet(state, "default", given=False))[0] == "lab"
    fleet_bucket(state, "field")
    chosen, shown = answering(["2"], lambda: choose_fleet(state, "default", given=False))
    assert chosen == "lab" and "1. field" in shown


def test_the_menu_reports_failures_and_comes_back_until_quit(state: CliState) -> None:
    ran: list[str] = []

    def fails() -> None:
        ran.append("fails")
        raise UsageError("that did not work", "--thing")

    def declined() -> None:
        ran.append("declined")
        raise Interrupted("not confirmed; nothing was changed")

    items = [("Fail", fails), ("Decline", declined), ("Quit", None)]
    _, shown = answering(["1", "7", "2", "3"], lambda: run_menu(state, "Test menu", items))
    assert ran == ["fails", "declined"]
    assert "that did not work" in shown and "not confirmed" in shown
    assert "7 is not in the range 1<=x<=3" in shown
