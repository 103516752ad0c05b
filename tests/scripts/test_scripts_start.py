"""Every script starts, asks its first question, and stops cleanly when the person leaves; arguments find their place.

On a terminal each script first asks the debug-mode question (before any AWS call), and Ctrl-D or Ctrl-C there
ends it with exit 130. Without a terminal the interactive ones stop with a usage error (exit 2) that says what
to use instead. The scripts take iotfleet's global options and their command's own options in any order.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from script_terminal import DEBUG_PROMPT, RunScript, pick

from iotfleet.emulator.control import EmulatorControl

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from _entry import command_for, split_arguments

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"

ENTRY_POINTS = {
    "provision_script.py": ("provision",),
    "manage_dynamic_groups.py": ("groups", "menu"),
    "manage_packages.py": ("packages", "menu"),
    "create_job.py": ("jobs", "create"),
    "simulate_job_execution.py": ("simulate",),
    "explore_jobs.py": ("jobs", "explore"),
    "cleanup_script.py": ("cleanup",),
}
# What each interactive script says without a terminal. Provision has a default for every value, so without a
# terminal it provisions the default fleet, like ``iotfleet provision``; it is left out here.
WITHOUT_TERMINAL = {
    "manage_dynamic_groups.py": "the groups menu needs a terminal",
    "manage_packages.py": "the package menu needs a terminal",
    "create_job.py": "give one of --package P --version V, --document FILE or --template NAME",
    "simulate_job_execution.py": "missing --job JOB or --fleet NAME (there is no terminal to ask on)",
    "explore_jobs.py": "jobs explore is interactive: run it on a terminal",
    "cleanup_script.py": "missing --fleet (there is no terminal to ask on)",
}


def test_every_script_is_listed() -> None:
    assert sorted(path.name for path in SCRIPTS.glob("[!_]*.py")) == sorted(ENTRY_POINTS)
    for name, path in ENTRY_POINTS.items():
        assert f"run_script({list(path)!r})".replace("'", '"') in (SCRIPTS / name).read_text()


@pytest.mark.parametrize("leave", ["ctrl-d", "ctrl-c"])
@pytest.mark.parametrize("script", sorted(ENTRY_POINTS))
def test_the_script_asks_for_debug_mode_first_and_exits_130_when_left(
    script: str, leave: str, run_script: RunScript, control: EmulatorControl
) -> None:
    control.reset_counters()
    term = run_script(script, timeout=15)
    term.expect(DEBUG_PROMPT)
    if leave == "ctrl-d":
        term.send_eof()
    else:
        term.interrupt()
    term.expect("Interrupted")
    assert term.wait() == 130
    assert "Traceback" not in term.transcript
    assert control.counters() == {}, "no AWS call may come before the debug-mode question"


@pytest.mark.parametrize("script", sorted(WITHOUT_TERMINAL))
def test_without_a_terminal_the_script_is_a_usage_error(script: str, script_env: dict[str, str]) -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPTS / script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=script_env,
        timeout=30,
    )
    assert ran.returncode == 2, ran.stderr
    assert WITHOUT_TERMINAL[script] in ran.stderr


def test_global_options_choose_the_target_and_debug_mode_logs_every_call(
    fresh_emulator: str, run_script: RunScript, script_env: dict[str, str]
) -> None:
    """No target in the environment: ``--target local --endpoint-url`` choose the emulator, as with iotfleet."""
    del script_env["IOTFLEET_TARGET"], script_env["AWS_ENDPOINT_URL"]
    term = run_script(
        "explore_jobs.py", "--target", "local", "--endpoint-url", fresh_emulator, "--region", "eu-west-1"
    )
    term.answer(DEBUG_PROMPT, "y")
    menu = "Choose: "
    pick(term, "List jobs", menu)
    term.answer(r"Status \(.*; empty for all\): ", "")
    term.expect(r"api iot:ListJobs -> HTTP 200")
    term.expect(r"No jobs|0 job\(s\)")
    pick(term, "Quit", menu)
    assert term.wait() == 0


def test_help_shows_the_command_of_the_script() -> None:
    ran = subprocess.run(
        [sys.executable, str(SCRIPTS / "create_job.py"), "--help"], capture_output=True, text=True, timeout=30
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("Usage: iotfleet jobs create [OPTIONS]")


@pytest.mark.parametrize(
    ("path", "argv", "before", "after"),
    [
        (("provision",), ["--target", "local"], ["--target", "local"], []),
        (
            ("provision",),
            ["--devices", "12", "--target=local", "--profile", "lab", "--fleet", "lab"],
            ["--target=local", "--profile", "lab"],
            ["--devices", "12", "--fleet", "lab"],
        ),
        (
            ("simulate",),
            ["-ojson", "--debug", "--success-rate", "90"],
            ["-ojson", "--debug"],
            ["--success-rate", "90"],
        ),
        (
            ("simulate",),
            ["-o", "json", "--quota", "iot:*=5", "-h"],
            ["-o", "json", "--quota", "iot:*=5"],
            ["-h"],
        ),
        # Options both define go to the command: cleanup's own --yes, and the version jobs create deploys.
        (("cleanup",), ["--yes", "--region", "eu-west-1"], ["--region", "eu-west-1"], ["--yes"]),
        (("jobs", "create"), ["--version", "1.1.0", "--no-debug"], ["--no-debug"], ["--version", "1.1.0"]),
        (("jobs", "create"), ["--", "--target"], [], ["--", "--target"]),
    ],
)
def test_arguments_are_split_between_iotfleet_and_the_command(
    path: tuple[str, ...], argv: list[str], before: list[str], after: list[str]
) -> None:
    assert split_arguments(path, argv) == (before, after)


def test_an_unknown_command_path_is_refused() -> None:
    with pytest.raises(LookupError, match="no command 'jobs launch'"):
        command_for(("jobs", "launch"))
