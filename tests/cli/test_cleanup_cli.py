"""``iotfleet cleanup`` on the emulator: bad input is refused with exit 2 and no call, the dry run only reads,
JSON carries the plan and the result, failures exit 1, a second run has nothing left, and the interactive flow
asks for the fleet and for DELETE to be typed."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))  # the shared cleanup set-up

from cleanup_setup import FLEET, SmallFleet, aws_context, build_fleet, calls, mutating_calls

from iotfleet.aws.errors import Interrupted
from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.cleanup import cleanup
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.state import CliState
from iotfleet.emulator.errors import InvalidRequestException
from iotfleet.emulator.extension import Call, temporary_handler
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.cleanup.plan import plan_cleanup

# The CLI waits on the real clock; AWS's 5-minute thing-type wait passes in half a second at this scale.
pytestmark = pytest.mark.emulator(time_scale=600)

Run = Callable[..., Any]


@pytest.fixture
def fleet(emulator: LocalEmulator, tmp_path: Path) -> Iterator[SmallFleet]:
    with aws_context(emulator) as ctx:
        built = build_fleet(ctx, tmp_path)
    emulator.reset_counters()
    yield built


@pytest.fixture
def iotfleet(invoke: Run, emulator: LocalEmulator) -> Run:
    def run(*args: str) -> Any:
        # The emulator enforces no quotas here; high local ones keep the tests quick.
        fast = [f"--quota={service}:*=2000" for service in ("iot", "iot-data", "s3", "iam")]
        return invoke("--target", "local", "--endpoint-url", emulator.endpoint_url, *fast, *args)

    return run


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fleet", "Bad_Name", "--yes"], "invalid fleet name 'Bad_Name'"),
        (["--fleet", "demo", "--only", "things,bogus", "--yes"], "unknown kind 'bogus'"),
        (["--fleet", "demo"], "pass --yes to confirm without a terminal"),
        (["--yes"], "missing --fleet"),
    ],
)
def test_bad_input_exits_2_before_any_call(
    iotfleet: Run, emulator: LocalEmulator, fleet: SmallFleet, args: list[str], message: str
) -> None:
    ran = iotfleet("cleanup", *args)
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.stderr
    assert calls(emulator) == {}


def test_dry_run_prints_the_plan_and_only_reads(
    iotfleet: Run, emulator: LocalEmulator, fleet: SmallFleet
) -> None:
    ran = iotfleet("--output", "json", "cleanup", "--fleet", FLEET, "--dry-run")
    assert ran.exit_code == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert document["dry_run"] is True
    assert document["plan"]["counts"]["thing"] == len(fleet.things)
    assert [step["step"] for step in document["plan"]["order"]][:5] == [
        "jobs", "rollouts", "dynamic-groups", "certificates", "things",
    ]  # fmt: skip
    assert mutating_calls(emulator) == {}

    text = iotfleet("cleanup", "--fleet", FLEET, "--dry-run")
    assert text.exit_code == 0
    assert "dry run: nothing will be deleted" in text.stdout
    assert "fleet indexing configuration" in text.stdout
    assert mutating_calls(emulator) == {}


def test_cleanup_with_yes_reports_then_a_second_run_has_nothing_left(
    iotfleet: Run, emulator: LocalEmulator, fleet: SmallFleet
) -> None:
    ran = iotfleet("--output", "json", "cleanup", "--fleet", FLEET, "--yes")
    assert ran.exit_code == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert document["result"]["ok"] is True
    assert document["result"]["summary"]["thing"] == {"deleted": len(fleet.things), "skipped": 0, "failed": 0}
    assert document["plan"]["counts"]["bucket"] == 1

    again = iotfleet("cleanup", "--fleet", FLEET, "--yes")
    assert again.exit_code == 0, again.stderr
    assert "Nothing left to delete for fleet 'demo'." in again.stdout
    assert (
        json.loads(iotfleet("-o", "json", "cleanup", "--fleet", FLEET, "--yes").stdout)["nothing_to_do"]
        is True
    )


def test_the_global_yes_works_too(iotfleet: Run, fleet: SmallFleet) -> None:
    ran = iotfleet("--yes", "cleanup", "--fleet", FLEET, "--only", "jobs")
    assert ran.exit_code == 0, ran.stderr
    assert "Cleanup report" in ran.stdout


def test_failed_resources_are_listed_and_exit_1(iotfleet: Run, fleet: SmallFleet) -> None:
    def refuse(call: Call) -> dict[str, Any]:
        if call.params["thingName"] == fleet.things[0]:
            raise InvalidRequestException("Thing is busy")
        return call.moto()

    with temporary_handler("iot", "DeleteThing", refuse):
        ran = iotfleet("--output", "json", "cleanup", "--fleet", FLEET, "--yes", "--only", "things")
    assert ran.exit_code == 1
    document = json.loads(ran.stdout)
    assert document["result"]["ok"] is False
    [failed] = [o for o in document["result"]["outcomes"] if o["status"] == "failed"]
    assert failed["name"] == fleet.things[0] and failed["code"] == "InvalidRequestException"
    assert f"thing {fleet.things[0]}: " in ran.stderr and "Thing is busy" in ran.stderr


def on_terminal(emulator: LocalEmulator, answers: list[str], args: list[str]) -> tuple[str, str]:
    """Run ``iotfleet cleanup ARGS`` as if a person typed ``answers`` at a terminal."""
    fast = [f"{service}:*=2000" for service in ("iot", "iot-data", "s3", "iam")]
    settings = TargetSettings.resolve(
        target="local", endpoint_url=emulator.endpoint_url, quota_overrides=fast, env={}
    )
    state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    runner = CliRunner()
    with runner.isolation(input="\n".join(answers) + "\n") as (out, err, _):
        try:
            cleanup.main(args=args, obj=state, standalone_mode=False)
        finally:
            state.close()
    return out.getvalue().decode(), err.getvalue().decode()


def test_the_interactive_flow_asks_and_deletes_after_delete_is_typed(
    emulator: LocalEmulator, fleet: SmallFleet
) -> None:
    out, err = on_terminal(emulator, ["n", "1", "y", "DELETE"], [])
    assert "Enable debug mode" in err
    assert "iotfleet fleets in this account" in err and "1. demo" in err
    assert "Type DELETE to confirm" in err
    assert "Cleanup plan for fleet 'demo'" in out and "Cleanup report" in out
    assert plan_is_empty(emulator)


def test_anything_but_delete_stops_with_nothing_deleted(emulator: LocalEmulator, fleet: SmallFleet) -> None:
    with pytest.raises(Interrupted):
        on_terminal(emulator, ["delete"], ["--fleet", FLEET, "--only", "things"])
    assert mutating_calls(emulator) == {}


def plan_is_empty(emulator: LocalEmulator) -> bool:
    with aws_context(emulator) as ctx:
        return plan_cleanup(ctx, FLEET).empty
