"""The iotfleet group: help, global options, exit codes, and no prompts without a terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from botocore.exceptions import NoCredentialsError

from iotfleet import __version__
from iotfleet.aws.errors import Interrupted, OperationFailed, ResourceFailure, UsageError
from iotfleet.cli.state import CliState, pass_state


def test_help_lists_global_options_and_commands(invoke) -> None:
    ran = invoke("--help")
    assert ran.exit_code == 0
    for option in ("--target", "--profile", "--region", "--endpoint-url", "--debug", "--yes", "--output",
                   "--concurrency", "--quota"):
        assert option in ran.stdout
    assert "whoami" in ran.stdout


def test_version(invoke) -> None:
    ran = invoke("--version")
    assert (ran.exit_code, ran.stdout.strip()) == (0, f"iotfleet, version {__version__}")


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("iotfleet")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0
    assert "Usage: iotfleet" in done.stdout
    bad = subprocess.run([str(script), "--output", "yaml", "whoami"], capture_output=True, text=True, timeout=60,
                         check=False)
    assert bad.returncode == 2
    assert "--output" in bad.stderr


@pytest.mark.parametrize(
    ("args", "env", "mentions"),
    [
        (["--target", "gcp", "whoami"], {}, "--target"),
        (["--concurrency", "0", "whoami"], {}, "--concurrency"),
        (["--quota", "iot:CreateThing=fast", "whoami"], {}, "--quota"),
        (["--quota", "iot:NoSuchCall=5", "whoami"], {}, "--quota"),
        (["--endpoint-url", "localhost", "whoami"], {}, "--endpoint-url"),
        (["whoami"], {"IOTFLEET_DEBUG": "maybe"}, "IOTFLEET_DEBUG"),
        (["whoami"], {"IOTFLEET_CONCURRENCY": "lots"}, "IOTFLEET_CONCURRENCY"),
        (["no-such-command"], {}, "no-such-command"),
        (["--no-such-flag"], {}, "--no-such-flag"),
    ],
)
def test_bad_usage_exits_2_and_names_the_culprit(invoke, args: list[str], env: dict[str, str], mentions: str) -> None:
    ran = invoke(*args, env=env)
    assert ran.exit_code == 2
    assert mentions in ran.stderr
    assert ran.stdout == ""


def test_a_bad_config_file_is_a_usage_error(invoke, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("colour = 'blue'\n")
    ran = invoke("whoami", env={"IOTFLEET_CONFIG": str(config)})
    assert ran.exit_code == 2
    assert "unknown setting(s) colour" in ran.stderr


def test_aws_errors_exit_1_with_service_operation_code_and_request_id(invoke, extra_command, moto_url) -> None:
    @click.command("describe-missing")
    @pass_state
    def describe_missing(state: CliState) -> None:
        state.aws.iot.describe_thing(thingName="does-not-exist")

    extra_command(describe_missing)
    ran = invoke("--target", "local", "--endpoint-url", moto_url, "describe-missing")
    assert ran.exit_code == 1
    assert "Error: iot DescribeThing failed: ResourceNotFoundException" in ran.stderr
    for line in ("service: iot", "operation: DescribeThing", "code: ResourceNotFoundException", "request id: "):
        assert line in ran.stderr
    assert "Traceback" not in ran.stderr


@pytest.mark.parametrize(
    ("error", "code", "text"),
    [
        (UsageError("name must be short", "--name"), 2, "Error: --name: name must be short"),
        (OperationFailed("create things: 2 of 5 failed", [ResourceFailure("thing", "a", "boom", "InvalidRequest"),
                                                            ResourceFailure("thing", "b", "bang")]),
         1, "  thing a: boom [InvalidRequest]\n  thing b: bang"),
        (Interrupted("stopped after 3 things"), 130, "Interrupted: stopped after 3 things"),
        (KeyboardInterrupt(), 130, "Interrupted."),
        (NoCredentialsError(), 2, "Unable to locate credentials"),
    ],
)
def test_errors_map_to_exit_codes(invoke, extra_command, error: BaseException, code: int, text: str) -> None:
    @click.command("fail")
    def fail() -> None:
        raise error

    extra_command(fail)
    ran = invoke("fail")
    assert ran.exit_code == code
    assert text in ran.stderr


def test_no_prompt_without_a_terminal(invoke, extra_command) -> None:
    @click.command("ask")
    @pass_state
    def ask(state: CliState) -> None:
        debug = state.offer_debug_mode()
        name = state.prompts.value("--name", "Thing name")
        click.echo(f"{debug} {name}")

    extra_command(ask)
    ran = invoke("ask", stdin="yes\nsensor\n")
    assert ran.exit_code == 2
    assert "missing --name" in ran.stderr
    assert "Enable debug mode" not in ran.stderr + ran.stdout
    assert "Thing name" not in ran.stderr + ran.stdout


def test_destructive_commands_need_yes_without_a_terminal(invoke, extra_command) -> None:
    @click.command("wipe")
    @pass_state
    def wipe(state: CliState) -> None:
        state.confirm("Delete 3 things", typed_word="DELETE")
        click.echo("deleted")

    extra_command(wipe)
    refused = invoke("wipe")
    assert refused.exit_code == 2
    assert "--yes" in refused.stderr
    assert refused.stdout == ""
    confirmed = invoke("--yes", "wipe")
    assert (confirmed.exit_code, confirmed.stdout) == (0, "deleted\n")


def test_json_output_is_one_document_on_stdout(invoke, extra_command) -> None:
    import json

    @click.command("report")
    @pass_state
    def report(state: CliState) -> None:
        state.output.info("working...")
        state.output.result({"things": 3, "names": ["a", "b"]})

    extra_command(report)
    ran = invoke("--output", "json", "report")
    assert ran.exit_code == 0
    assert json.loads(ran.stdout) == {"things": 3, "names": ["a", "b"]}
    assert "working..." in ran.stderr
