"""The docs are tested against the command tree: every command and option has help text and an entry in the
docs, and every ``iotfleet ...`` line the docs show parses as the real command line would parse it.

The tree is walked from :data:`iotfleet.cli.main.cli`, so a new command or option is checked without a change
here. Where the docs are read:

- a command's entry: an example of it in a code block of the README's "Commands" section or of ``docs/*.md``;
- an option's entry: its flag written in one of those places that also shows the command (the README's
  "Commands" section, or a ``docs/*.md`` page) — the global options in the README's "Global flags" table;
- command lines: every line of a shell code block that runs ``iotfleet`` is parsed by Click itself (commands,
  options, values, choices, arguments), and synopsis lines (``[--flag N]``) and inline ``iotfleet ...`` spans
  have their commands and flags looked up in the tree.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import click
import pytest
from click.core import ParameterSource
from click.testing import CliRunner

from iotfleet.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOC_FILES = (README, *sorted((ROOT / "docs").glob("*.md")))
SHELL_BLOCKS = {"", "sh", "bash", "shell", "console"}
FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")
INLINE = re.compile(r"`(iotfleet [^`]+)`")
SYNOPSIS_MARKS = ("[", "...", "(--", " | ")
COMPLETE_VAR = "_IOTFLEET_COMPLETE"  # a shell-completion request, not a command line
HELP_FLAGS = set(cli.context_settings["help_option_names"])
SHELL_OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "&"}


def walk(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from walk(command.commands[name], (*path, name))


COMMANDS = dict(walk(cli))
LEAVES = [path for path, command in COMMANDS.items() if not isinstance(command, click.Group)]


def options(command: click.Command) -> list[click.Option]:
    return [p for p in command.params if isinstance(p, click.Option) and not p.hidden]


def flags(option: click.Option) -> list[str]:
    return [name for name in (*option.opts, *option.secondary_opts) if name.startswith("-")]


def takes_value(option: click.Option) -> bool:
    return not option.is_flag and not option.count


# --- reading the docs ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One ``iotfleet`` command line shown in the docs."""

    where: str
    text: str
    synopsis: bool


@dataclass(frozen=True)
class Page:
    path: Path
    text: str
    blocks: tuple[tuple[int, str, tuple[str, ...]], ...]  # (first line number, language, lines)

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))

    def section(self, title: str) -> str:
        """The text under heading ``title`` up to the next heading of the same or a higher level."""
        lines = self.text.splitlines()
        headings = [(i, len(m.group(1)), m.group(2).strip()) for i, m in self._headings(lines)]
        for index, (start, level, name) in enumerate(headings):
            if name == title:
                end = next((i for i, lv, _ in headings[index + 1 :] if lv <= level), len(lines))
                return "\n".join(lines[start:end])
        raise AssertionError(f"{self.name} has no section {title!r}")

    def _headings(self, lines: list[str]) -> Iterator[tuple[int, re.Match[str]]]:
        fenced = False
        for index, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and (match := re.match(r"(#+)\s+(.*)", line)):
                yield index, match


def read_page(path: Path) -> Page:
    text = path.read_text(encoding="utf-8")
    blocks: list[tuple[int, str, tuple[str, ...]]] = []
    current: list[str] | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if current is None:
                language, start, current = line[3:].strip(), number + 1, []
            else:
                blocks.append((start, language, tuple(current)))
                current = None
        elif current is not None:
            current.append(line)
    return Page(path, text, tuple(blocks))


def command_lines(page: Page, text: str | None = None) -> Iterator[Line]:
    """The ``iotfleet`` lines of ``page``'s shell code blocks (continuations joined) and inline spans."""
    for start, language, lines in page.blocks:
        if language not in SHELL_BLOCKS or (text is not None and "\n".join(lines) not in text):
            continue
        logical: list[tuple[int, str]] = []
        for offset, raw in enumerate(lines):
            line = raw.strip().removeprefix("$ ")
            previous = logical[-1][1] if logical else ""
            if previous.endswith("\\"):
                logical[-1] = (logical[-1][0], previous[:-1] + " " + line)
            elif raw[:1].isspace() and logical and _is_synopsis(previous):
                logical[-1] = (logical[-1][0], previous + " " + line)
            else:
                logical.append((start + offset, line))
        for number, line in logical:
            if re.match(r"([A-Z_]+=\S+\s+)*iotfleet\s", line + " ") and COMPLETE_VAR not in line:
                yield Line(f"{page.name}:{number}", line, _is_synopsis(line))
    for match in INLINE.finditer(page.text if text is None else text):
        number = page.text[: page.text.find(match.group(0))].count("\n") + 1
        yield Line(f"{page.name}:{number} (inline)", match.group(1), True)


def _is_synopsis(line: str) -> bool:
    return any(mark in line for mark in SYNOPSIS_MARKS)


@cache
def pages() -> tuple[Page, ...]:
    return tuple(read_page(path) for path in DOC_FILES)


@cache
def reference_regions() -> tuple[tuple[str, str], ...]:
    """Where commands are documented: (name, text) of the README's Commands section and each docs page."""
    readme, *others = pages()
    return (("README.md#Commands", readme.section("Commands")), *((p.name, p.text) for p in others))


@cache
def all_lines() -> tuple[Line, ...]:
    return tuple(line for page in pages() for line in command_lines(page))


# --- parsing a command line against the tree ------------------------------------------------------------------


def shell_commands(line: str) -> Iterator[list[str]]:
    """The ``iotfleet`` argument lists of one shell line (pipes, ``&&``, redirections and comments split off)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    words: list[str] = []
    for token in [*lexer, ";"]:
        if token in SHELL_OPERATORS or set(token) <= set("|&;<>"):
            while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
                words.pop(0)
            if words and words[0] == "iotfleet":
                yield words[1:]
            words = []
        else:
            words.append(token)


def parse(arguments: list[str]) -> list[tuple[tuple[str, ...], set[str]]]:
    """Parse with Click, as ``iotfleet ARGUMENTS`` would be, without running anything: each command on the way
    with the flags given to it. A usage error (unknown command or option, bad value) fails the test."""
    found: list[tuple[tuple[str, ...], set[str]]] = []
    command: click.Command = cli
    path: tuple[str, ...] = ()
    ctx: click.Context | None = None
    try:
        ctx = cli.make_context("iotfleet", list(arguments))
        while True:
            given = {
                flags(p)[0] for p in options(command) if ctx.get_parameter_source(p.name or "") == ParameterSource.COMMANDLINE
            }
            found.append((path, given))
            if not isinstance(command, click.Group):
                return found
            name, sub, rest = command.resolve_command(ctx, _remaining(ctx))
            assert name is not None and sub is not None
            command, path = sub, (*path, name)
            ctx = sub.make_context(name, rest, parent=ctx)
    except (click.exceptions.Exit, click.exceptions.NoArgsIsHelpError):  # --help, --version, a bare group
        found.append((path, set()))
        return found
    except click.UsageError as error:
        pytest.fail(f"iotfleet {shlex.join(arguments)}: {error.format_message()}")


def _remaining(ctx: click.Context) -> list[str]:
    """What a group left for its subcommand (Click 8.2 renamed ``protected_args`` to ``_protected_args``)."""
    protected = ctx.__dict__.get("_protected_args", ctx.__dict__.get("protected_args", []))
    return [*protected, *ctx.args]


def look_up(line: str) -> list[tuple[tuple[str, ...], set[str]]]:
    """A synopsis or inline reference: its command path and flags, each looked up in the tree."""
    words = [w for w in re.split(r"[\s\[\]()|]+|\.\.\.", line.removeprefix("iotfleet")) if w]
    found: list[tuple[tuple[str, ...], set[str]]] = []
    command: click.Command = cli
    path: tuple[str, ...] = ()
    given: set[str] = set()
    index = 0
    while index < len(words):
        word = words[index].split("=", 1)[0]
        index += 1
        if word in HELP_FLAGS:
            continue
        if word.startswith("-"):
            option = next((o for o in options(command) if word in flags(o)), None)
            assert option is not None, f"{line!r}: iotfleet {' '.join(path)} has no option {word}"
            given.add(flags(option)[0])
            if takes_value(option) and "=" not in words[index - 1] and index < len(words):
                index += 1
        elif isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z0-9-]*", word):
            assert word in command.commands, f"{line!r}: iotfleet {' '.join(path)} has no command {word!r}"
            found.append((path, given))
            command, path, given = command.commands[word], (*path, word), set()
        elif isinstance(command, click.Group):
            break  # a placeholder such as COMMAND
    found.append((path, given))
    return found


def used(line: Line) -> list[tuple[tuple[str, ...], set[str]]]:
    if line.synopsis:
        return look_up(line.text)
    return [item for arguments in shell_commands(line.text) for item in parse(arguments)]


# --- the tests -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", list(COMMANDS), ids=lambda path: " ".join(path) or "iotfleet")
def test_every_command_and_option_has_help(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    assert (command.help or "").strip(), f"iotfleet {' '.join(path)} has no help text (its docstring)"
    missing = [flags(o)[0] for o in options(command) if not (o.help or "").strip()]
    assert not missing, f"iotfleet {' '.join(path)}: options without help text: {', '.join(missing)}"
    shown = CliRunner().invoke(cli, [*path, "--help"], prog_name="iotfleet", terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for option in options(command):
        assert flags(option)[0] in shown.output, f"{flags(option)[0]} missing from iotfleet {' '.join(path)} --help"


@pytest.mark.parametrize("line", all_lines(), ids=lambda line: line.where)
def test_command_lines_in_the_docs_parse(line: Line) -> None:
    assert used(line), f"{line.where}: {line.text!r} names no command"


def doc_problems(path: tuple[str, ...], command: click.Command) -> list[str]:
    """Why ``command`` (at ``path``) is not documented: no example, or options nowhere near one."""
    shown_in = {
        name: text
        for name, text in reference_regions()
        for line in command_lines(_page_of(name), text)
        if not line.synopsis and any(p == path for p, _ in used(line))
    }
    if not shown_in:
        return [f"iotfleet {' '.join(path)} has no example in a code block of the README's Commands section or docs/*.md"]
    documented = " ".join(shown_in.values())
    undocumented = [
        flags(o)[0]
        for o in options(command)
        if not any(re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", documented) for flag in flags(o))
    ]
    return [f"iotfleet {' '.join(path)}: {flag} is not in {', '.join(shown_in)}" for flag in undocumented]


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_has_an_example_and_every_option_an_entry(path: tuple[str, ...]) -> None:
    assert doc_problems(path, COMMANDS[path]) == []


def test_every_global_option_is_in_the_global_flags_table() -> None:
    table = pages()[0].section("Global flags")
    missing = [flags(o)[0] for o in options(cli) if not any(f"`{flag}" in table for flag in flags(o))]
    assert not missing, f"README.md 'Global flags' does not list {', '.join(missing)}"


def test_a_wrong_command_line_is_caught() -> None:
    """The checks above can fail: unknown options and commands, bad values, missing examples and entries."""
    for wrong in ("iotfleet jobs list --no-such-flag", "iotfleet --output yaml whoami", "iotfleet jobs nothing"):
        with pytest.raises(pytest.fail.Exception):
            used(Line("test", wrong, synopsis=False))
    with pytest.raises(AssertionError, match="has no option --fleet"):
        look_up("iotfleet jobs list [--fleet NAME]")
    undocumented = click.Command("jobs", params=[click.Option(["--not-in-the-docs"], help="x")])
    assert doc_problems(("jobs", "list"), undocumented) == [
        "iotfleet jobs list: --not-in-the-docs is not in README.md#Commands"
    ]
    assert "has no example" in doc_problems(("jobs", "nothing"), undocumented)[0]


def _page_of(region: str) -> Page:
    return next(p for p in pages() if p.name == region.split("#", 1)[0])


def modules_missing_from_the_code_map(text: str, package: Path) -> list[str]:
    """Modules of ``package`` whose name appears in no backtick span of ``text`` (``a.py``, ``a``, ``x/a``)."""
    named = {word.removesuffix(".py") for span in re.findall(r"`([^`]+)`", text) for word in re.split(r"[\s/,()]+", span)}
    return sorted(str(p.relative_to(package.parent)) for p in package.rglob("*.py")
                  if p.stem != "__init__" and p.stem not in named)  # fmt: skip


def test_the_code_map_names_every_module() -> None:
    code_map = ROOT / "docs" / "code-map.md"
    missing = modules_missing_from_the_code_map(code_map.read_text(), ROOT / "iotfleet")
    assert not missing, f"docs/code-map.md does not name {', '.join(missing)}"
    jobs = ROOT / "iotfleet" / "fleet" / "jobs"
    assert "jobs/create.py" in modules_missing_from_the_code_map("`runner.py`, `jobs/`", jobs)
    assert "jobs/create.py" not in modules_missing_from_the_code_map("`jobs/` (`create`, `retry`)", jobs)
