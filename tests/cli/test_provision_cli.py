"""``iotfleet provision`` end to end against the emulator: plan output, JSON, spec files, bad input refused with
nothing sent, conflicts, failures, and the interactive questions."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from iotfleet.aws.settings import TargetSettings
from iotfleet.cli.output import Output
from iotfleet.cli.prompts import Prompter
from iotfleet.cli.provision import provision
from iotfleet.cli.state import CliState
from iotfleet.emulator.inprocess import LocalEmulator
from iotfleet.fleet.spec import FleetSpec, load_spec

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
from provision_setup import (
    assert_inventory,
    calls,
    fleet_context,
    fleet_thing_summaries,
    mutating_calls,
)


def _local(emulator: LocalEmulator) -> list[str]:
    return ["--target", "local", "--endpoint-url", emulator.endpoint_url]


def test_dry_run_prints_one_json_plan_and_changes_nothing(invoke, emulator: LocalEmulator) -> None:  # type: ignore[no-untyped-def]
    ran = invoke(
        *_local(emulator),
        "--output",
        "json",
        "provision",
        "--fleet",
        "demo",
        "--devices",
        "30",
        "--dry-run",
    )
    assert ran.exit_code == 0, ran.stderr
    document = json.loads(ran.stdout)
    assert document["dryRun"] is True
    counts = document["plan"]["counts"]
    assert counts["thing"] == {"create": 30} and counts["shadow"] == {"create": 60}
    assert counts["thing type"] == {"create": 3} and counts["thing group"] == {"create": 4}
    assert document["plan"]["spec"]["countries"] == ["US", "CA", "MX"]
    assert mutating_calls(emulator) == {}


def test_apply_then_rerun_prints_summaries_and_the_rerun_sends_no_change(
    invoke, emulator: LocalEmulator
) -> None:  # type: ignore[no-untyped-def]
    first = invoke(
        *_local(emulator), "provision", "--fleet", "demo", "--devices", "20", "--countries", "2"
    )
    assert first.exit_code == 0, first.stderr
    assert "Plan for fleet demo" in first.stdout and "provisioned in" in first.stdout
    assert "US_Fleet" in first.stdout and "MX_Fleet" not in first.stdout
    with fleet_context(emulator) as ctx:
        assert_inventory(ctx, FleetSpec(fleet="demo", devices=20, countries=("US", "CA")))
    emulator.reset_counters()
    again = invoke(
        *_local(emulator),
        "--output",
        "json",
        "provision",
        "--fleet",
        "demo",
        "--devices",
        "20",
        "--countries",
        "US,CA",
    )
    assert again.exit_code == 0, again.stderr
    result = json.loads(again.stdout)["result"]
    assert result["counts"]["thing"] == {"created": 0, "present": 20, "updated": 0, "failed": 0, "skipped": 0}
    assert "Nothing to change" in again.stderr
    assert mutating_calls(emulator) == {}


def test_a_saved_spec_gives_the_same_fleet_and_flags_override_it(
    invoke,
    emulator: LocalEmulator,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "fleet.toml"
    saved = invoke(
        *_local(emulator), "provision", "--fleet", "lab", "--devices", "9", "--continent", "Europe",
        "--thing-types", "Bike,Scooter", "--versions", "2.0.0", "--prefix", "Bike-", "--group-prefix", "Lab_",
        "--no-continent-group", "--save-spec", str(path), "--dry-run",
    )  # fmt: skip
    assert saved.exit_code == 0, saved.stderr
    spec = load_spec(path)
    assert (spec.fleet, spec.countries, spec.group_prefix, spec.continent_groups) == (
        "lab",
        ("DE", "FR", "GB"),
        "Lab_",
        False,
    )
    ran = invoke(*_local(emulator), "-o", "json", "provision", "--spec", str(path), "--devices", "12")
    assert ran.exit_code == 0, ran.stderr
    with fleet_context(emulator) as ctx:
        assert_inventory(ctx, FleetSpec(**{**spec.__dict__, "devices": 12}))
        assert sorted(fleet_thing_summaries(ctx, "lab"))[:2] == ["Bike-1", "Bike-10"]
        groups = {g["groupName"] for g in ctx.iot.list_thing_groups()["thingGroups"]}
    assert groups == {"Lab_DE_Fleet", "Lab_FR_Fleet", "Lab_GB_Fleet"}


BAD_INPUT = [
    (["--prefix", "Vehicle VIN-"], "invalid thing name"),
    (["--thing-types", "Sedan Vehicle"], "invalid thing type name"),
    (["--group-prefix", "Fleet/"], "invalid thing group name"),
    (["--fleet", "Demo_Fleet"], "fleet name"),
    (["--devices", "0"], "positive integer"),
    (["--devices", "-5"], "positive integer"),
    (["--devices", "ten"], "positive integer"),
    (["--devices", "2.5"], "positive integer"),
    (["--countries", "US,XX"], "unknown country code(s): XX"),
    (["--countries", "40"], "ask for 1 to 17"),
    (["--continent", "Atlantis"], "unknown continent"),
    (
        ["--searchable-attributes", "customerId,country,manufacturingDate,vin"],
        "at most 3 searchable attributes",
    ),
    (["--versions", "1.0.0,1.0.0"], "unique"),
    (["--seed", "x"], "whole number"),
]


@pytest.mark.parametrize(("arguments", "message"), BAD_INPUT)
def test_bad_input_exits_2_naming_the_problem_before_any_call(  # type: ignore[no-untyped-def]
    invoke, emulator: LocalEmulator, arguments: list[str], message: str
) -> None:
    ran = invoke(*_local(emulator), "provision", *arguments)
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.stderr
    assert ran.stdout == ""
    assert calls(emulator) == {}


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("broken.yaml", "devices: [1, 2\n", "is not valid YAML"),
        ("broken.toml", "devices = [1,\n", "is not valid TOML"),
        ("unknown.yaml", "devices: 10\nvehicles: 3\n", "unknown setting(s) vehicles"),
        ("wrong.yaml", "devices: -4\n", "positive integer"),
        ("types.yaml", "thing_types: [Sedan, 'Bad Type']\n", "invalid thing type name"),
        (
            "too-many.toml",
            'searchable_attributes = ["a", "b", "c", "d"]\n',
            "at most 3 searchable attributes",
        ),
    ],
)
def test_a_malformed_spec_file_exits_2_before_any_call(  # type: ignore[no-untyped-def]
    invoke, emulator: LocalEmulator, tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    ran = invoke(*_local(emulator), "provision", "--spec", str(path))
    assert ran.exit_code == 2, ran.stderr
    assert message in ran.stderr
    assert calls(emulator) == {}
    missing = invoke(*_local(emulator), "provision", "--spec", str(tmp_path / "none.yaml"))
    assert missing.exit_code == 2 and "cannot read spec file" in missing.stderr


def test_a_group_owned_by_no_fleet_is_a_conflict_named_in_the_error(
    invoke, emulator: LocalEmulator
) -> None:  # type: ignore[no-untyped-def]
    with fleet_context(emulator) as ctx:
        ctx.iot.create_thing_group(thingGroupName="MX_Fleet")
    emulator.reset_counters()
    ran = invoke(*_local(emulator), "provision", "--fleet", "demo", "--devices", "5")
    assert ran.exit_code == 2
    assert "MX_Fleet" in ran.stderr and "--group-prefix" in ran.stderr
    assert "Conflict:" in ran.stdout
    assert mutating_calls(emulator) == {}


@pytest.mark.emulator(fault_rate=1.0, fault_operations=["iot:CreateThing"])
def test_things_that_fail_are_listed_by_name_with_exit_1(  # type: ignore[no-untyped-def]
    invoke, emulator: LocalEmulator, tmp_path: Path
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[retry]\nmax_attempts = 2\n")  # each thing is still retried, once, quickly
    ran = invoke(
        *_local(emulator), "--output", "json", "provision", "--fleet", "demo", "--devices", "3",
        env={"IOTFLEET_CONFIG": str(config)},
    )  # fmt: skip
    assert ran.exit_code == 1
    result = json.loads(ran.stdout)["result"]
    assert sorted(f["name"] for f in result["failures"]) == [
        "Vehicle-VIN-1",
        "Vehicle-VIN-2",
        "Vehicle-VIN-3",
    ]
    assert result["counts"]["thing"]["failed"] == 3
    assert emulator.counters()["iot:CreateThing"]["calls"] == 6
    for n in (1, 2, 3):
        assert f"thing Vehicle-VIN-{n}:" in ran.stderr


@pytest.fixture
def terminal_state(emulator: LocalEmulator, clean_env: dict[str, str]) -> Iterator[CliState]:
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    state = CliState(settings=settings, output=Output("text"), prompts=Prompter(is_tty=lambda: True))
    yield state
    state.close()


def test_the_questions_take_defaults_and_answers_and_save_a_spec(
    terminal_state: CliState, emulator: LocalEmulator, tmp_path: Path
) -> None:
    spec_path = tmp_path / "answers.yaml"
    lines = [
        "n",  # debug mode
        "",  # thing types: the default three
        "1.0.0,2.0.0",  # versions
        "3",  # continent: Europe
        "DE,XX",  # an unknown country is asked again
        "DE,IT",
        "zero",  # not a number: asked again
        "14",
        "",  # prefix: default
        "wizard",  # fleet name
        "",  # certificates: the default, none
        "y", str(spec_path),  # save the answers
        "y",  # apply
    ]  # fmt: skip
    runner = CliRunner()
    with runner.isolation(input="\n".join(lines) + "\n") as (out, err, _):
        provision.main(args=[], obj=terminal_state, standalone_mode=False)
    shown = err.getvalue().decode()
    assert "unknown country code(s): XX" in shown and "positive integer" in shown
    assert "provisioned in" in out.getvalue().decode()
    saved = load_spec(spec_path)
    assert (saved.fleet, saved.devices, saved.versions, saved.countries) == (
        "wizard",
        14,
        ("1.0.0", "2.0.0"),
        ("DE", "IT"),
    )
    with fleet_context(emulator) as ctx:
        assert_inventory(ctx, saved)
