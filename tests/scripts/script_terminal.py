"""A program on a pseudo-terminal, driven like a person would: wait for a prompt, type an answer.

The child gets the terminal as stdin, stdout and stderr, so it takes the interactive paths (prompts,
confirmations) exactly as on a real terminal. Everything it writes is kept, with the terminal's escape
sequences removed, so a failed wait can show the whole session::

    with Terminal.spawn([sys.executable, "scripts/explore_jobs.py"], env=env) as term:
        term.answer(r"Enable debug mode .*\\[y/N\\] ", "n")
        term.answer(r"Choose: ", "10")
        assert term.wait() == 0
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

# CSI sequences (colours, cursor moves, erase line), OSC sequences (window titles), and lone ESC codes.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
COLUMNS = 200
ROWS = 50


def _take_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pseudo-terminal, so Ctrl-C is SIGINT."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class TerminalTimeout(AssertionError):
    """A prompt did not come in time; the message holds the session so far."""


def plain(raw: str) -> str:
    """Terminal output as text: escape sequences gone, carriage returns turned into line ends."""
    return _ESCAPES.sub("", raw).replace("\r\n", "\n").replace("\r", "\n")


class Terminal:
    """One child process on a pseudo-terminal, with a transcript and a read position for ``expect``."""

    def __init__(self, process: subprocess.Popen[bytes], master: int, *, timeout: float) -> None:
        self.process = process
        self.timeout = timeout
        self._master = master
        self._raw = bytearray()
        self._position = 0

    @classmethod
    def spawn(
        cls, command: Sequence[str], *, env: Mapping[str, str], cwd: str | None = None, timeout: float = 30.0
    ) -> Terminal:
        """Start ``command`` with a new pseudo-terminal as its controlling terminal and standard streams."""
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        process = subprocess.Popen(
            list(command),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=dict(env),
            cwd=cwd,
            preexec_fn=_take_terminal,
            close_fds=True,
        )
        os.close(slave)
        return cls(process, master, timeout=timeout)

    @property
    def transcript(self) -> str:
        return plain(self._raw.decode("utf-8", errors="replace"))

    def _read(self, wait: float) -> bool:
        """Read what the child wrote within ``wait`` seconds; False once the terminal is closed."""
        ready, _, _ = select.select([self._master], [], [], wait)
        if not ready:
            return True
        try:
            chunk = os.read(self._master, 65536)
        except OSError:  # EIO: the child closed its side of the terminal
            return False
        if not chunk:
            return False
        self._raw.extend(chunk)
        return True

    def expect(self, pattern: str, timeout: float | None = None) -> re.Match[str]:
        """Wait for ``pattern`` in the output after the previous match; fails with the transcript."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            text = self.transcript
            found = regex.search(text, self._position)
            if found:
                self._position = found.end()
                return found
            remaining = deadline - time.monotonic()
            open_ = remaining > 0 and self._read(min(remaining, 0.5))
            if not open_:
                self._position = min(self._position, len(text))
                why = "timed out" if remaining <= 0 else f"the program ended (exit {self.process.poll()})"
                raise TerminalTimeout(
                    f"waiting for {pattern!r}: {why}\n--- session ---\n{self.transcript}\n--- end ---"
                )

    def answer(self, pattern: str, line: str) -> None:
        """Wait for the prompt ``pattern``, then type ``line`` and Enter."""
        self.expect(pattern)
        self.send(line)

    def send(self, line: str) -> None:
        """Type ``line`` and Enter."""
        os.write(self._master, line.encode() + b"\r")

    def send_eof(self) -> None:
        """Ctrl-D at the start of a line: end of input for the program's prompt."""
        os.write(self._master, b"\x04")

    def interrupt(self) -> None:
        """Ctrl-C, once the program waits for input: the terminal sends SIGINT to the program.

        Python only notices a SIGINT that lands between a prompt's output and the read it then starts at its next
        read, so a Ctrl-C typed the instant the prompt appears could go unseen; a person is never that quick.
        """
        self._wait_until_asleep()
        os.write(self._master, b"\x03")

    def _wait_until_asleep(self, timeout: float = 5.0) -> None:
        """Wait until the program sleeps (blocked in its read of the terminal), as Linux's /proc reports it."""
        deadline = time.monotonic() + timeout
        stat = f"/proc/{self.process.pid}/stat"
        while time.monotonic() < deadline:
            with open(stat) as status:
                # pid (comm) state ...: the state follows the last parenthesis (comm may hold spaces).
                if status.read().rsplit(")", 1)[1].split()[0] == "S":
                    return
            time.sleep(0.01)

    def wait(self, timeout: float | None = None) -> int:
        """Read the rest of the output and return the exit code; fails with the transcript on a timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while self._read(min(max(deadline - time.monotonic(), 0.0), 0.5)):
            if time.monotonic() > deadline:
                raise TerminalTimeout(
                    f"the program did not end\n--- session ---\n{self.transcript}\n--- end ---"
                )
        try:
            return self.process.wait(max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            raise TerminalTimeout(
                f"the program closed its terminal but did not exit\n--- session ---\n{self.transcript}\n--- end ---"
            ) from None

    def close(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        os.close(self._master)

    def __enter__(self) -> Terminal:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


# --- iotfleet's prompts ---------------------------------------------------------------------------------------

DEBUG_PROMPT = re.escape("Enable debug mode (show all API calls and responses)? [y/N] ")

# ``run_script(NAME, *ARGS, timeout=...)``: ``python scripts/NAME ARGS`` started on a pseudo-terminal.
RunScript = Callable[..., Terminal]


def pick(term: Terminal, label: str, prompt: str = r"Number(?: or name)?: ") -> None:
    """Answer one of iotfleet's numbered lists with the number shown in front of ``label``."""
    number = term.expect(rf"(\d+)\. {re.escape(label)}").group(1)
    term.answer(prompt, number)
