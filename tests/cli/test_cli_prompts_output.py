"""Prompts on a terminal, the progress bar, and the output channel."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from iotfleet.aws.errors import Interrupted, UsageError
from iotfleet.cli.output import Output
from iotfleet.cli.progress import RichProgress, progress_for
from iotfleet.cli.prompts import Prompter
from iotfleet.fleet.runner import NoProgress, run_parallel


def test_debug_question_on_a_terminal() -> None:
    prompter = Prompter(is_tty=lambda: True)
    with CliRunner().isolation(input="y\n") as (_, err, _):
        assert prompter.ask_debug() is True
    assert err.getvalue().decode().startswith("Enable debug mode (show all API calls and responses)? [y/N] ")
    with CliRunner().isolation(input="\n"):
        assert prompter.ask_debug() is False


def test_values_are_asked_on_a_terminal_and_given_flags_win() -> None:
    prompter = Prompter(is_tty=lambda: True)
    with CliRunner().isolation(input="sensor-7\n") as (_, err, _):
        assert prompter.value("--name", "Thing name") == "sensor-7"
    assert "Thing name" in err.getvalue().decode()
    assert prompter.value("--name", "Thing name", current="given") == "given"


def test_without_a_terminal_defaults_apply_and_missing_values_name_the_flag() -> None:
    prompter = Prompter(is_tty=lambda: False)
    assert prompter.value("--count", "How many", default=10) == 10
    assert prompter.yes_no("Continue?", default=True) is True
    assert prompter.ask_debug() is False
    with pytest.raises(UsageError) as caught:
        prompter.value("--count", "How many")
    assert caught.value.param == "--count"


def test_yes_disables_questions_even_on_a_terminal() -> None:
    prompter = Prompter(assume_yes=True, is_tty=lambda: True)
    assert not prompter.interactive
    prompter.confirm("Delete everything", typed_word="DELETE")
    with pytest.raises(UsageError):
        prompter.value("--name", "Name")


def test_typed_confirmation_word() -> None:
    prompter = Prompter(is_tty=lambda: True)
    with CliRunner().isolation(input="DELETE\n") as (_, err, _):
        prompter.confirm("Delete 5 things", typed_word="DELETE")
    assert "Type DELETE to confirm" in err.getvalue().decode()
    with CliRunner().isolation(input="delete\n"), pytest.raises(Interrupted):
        prompter.confirm("Delete 5 things", typed_word="DELETE")
    with CliRunner().isolation(input="n\n"), pytest.raises(Interrupted):
        prompter.confirm("Delete 5 things")


def test_rich_progress_shows_count_rate_and_eta() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=120)
    progress = RichProgress(console)
    result = run_parallel(range(30), lambda i: i, concurrency=4, progress=progress, label="Creating things")
    assert result.ok
    text = buffer.getvalue()
    assert "Creating things" in text
    assert "30/30" in text
    assert "/s" in text


def test_progress_is_silent_for_json_and_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(progress_for(Output("json")), NoProgress)
    monkeypatch.setattr(Output, "stdout_is_tty", staticmethod(lambda: False))
    assert isinstance(progress_for(Output("text")), NoProgress)
    monkeypatch.setattr(Output, "stdout_is_tty", staticmethod(lambda: True))
    assert isinstance(progress_for(Output("text")), RichProgress)


def test_json_output_refuses_a_second_document() -> None:
    output = Output("json")
    with CliRunner().isolation() as (out, _, _):
        output.result({"a": 1})
        with pytest.raises(RuntimeError):
            output.result({"b": 2})
    assert out.getvalue().decode() == '{\n  "a": 1\n}\n'


def test_bad_format_is_rejected() -> None:
    with pytest.raises(ValueError):
        Output("yaml")
