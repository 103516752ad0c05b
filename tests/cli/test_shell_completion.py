"""Shell completion is Click's own: ``_IOTFLEET_COMPLETE=<shell>_source iotfleet`` prints the script, and the
script's requests (``<shell>_complete``) complete commands, options and choices from the real command tree."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from iotfleet.cli.main import main

COMPLETE_VAR = "_IOTFLEET_COMPLETE"


def completion(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], instruction: str,
               **env: str) -> str:  # fmt: skip
    monkeypatch.setenv(COMPLETE_VAR, instruction)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o nosort -F _iotfleet_completion iotfleet"), ("zsh", "#compdef iotfleet"),
     ("fish", "complete --no-files --command iotfleet")],  # fmt: skip
)
def test_each_shell_gets_a_completion_script(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], shell: str, marker: str
) -> None:
    script = completion(monkeypatch, capsys, f"{shell}_source")
    assert marker in script and f"{COMPLETE_VAR}={shell}_complete" in script


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("iotfleet pack", {"packages"}),
        ("iotfleet jobs template ", {"create", "delete", "describe", "list"}),
        ("iotfleet packages create-version fw 1.2.0 --pub", {"--publish"}),
        ("iotfleet --target ", {"aws", "local"}),
    ],
)
def test_completions_come_from_the_command_tree(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], words: str, expected: set[str]
) -> None:
    cword = str(len(words.split()) - (0 if words.endswith(" ") else 1))
    answer = completion(monkeypatch, capsys, "bash_complete", COMP_WORDS=words, COMP_CWORD=cword)
    assert {line.split(",", 1)[1] for line in answer.splitlines()} == expected


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_loads_the_script_of_the_installed_command() -> None:
    command = Path(sys.executable).with_name("iotfleet")
    assert command.exists(), "the iotfleet console script is not installed next to this Python"
    loaded = subprocess.run(
        ["bash", "-c", f'eval "$({COMPLETE_VAR}=bash_source {command})" && complete -p iotfleet'],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert loaded.returncode == 0, loaded.stderr
    assert "_iotfleet_completion" in loaded.stdout
