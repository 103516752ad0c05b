"""The emulator as a background server: start it detached, ask its status, stop it.

``iotfleet local start|status|stop`` and ``--target local`` use this. The server runs as
``python -m iotfleet.emulator`` in its own session, logging to ``~/.iotfleet/emulator.log``, with its
pid, address and settings in ``~/.iotfleet/emulator.json`` (``$IOTFLEET_HOME`` moves both). One
background emulator per home directory.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from iotfleet.emulator.home import iotfleet_home
from iotfleet.emulator.settings import DEFAULT_HOST, EmulatorSettings, default_mqtt_port

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
_LISTENING = "iotfleet emulator listening on "
# Processes started from this process, so stop() can reap them (no zombies in long-lived callers).
_children: dict[int, subprocess.Popen[bytes]] = {}


class BackgroundError(RuntimeError):
    """The background emulator could not be started or stopped; the message says why."""


@dataclass(frozen=True)
class EmulatorStatus:
    running: bool
    endpoint_url: str | None
    pid: int | None
    tls: bool
    log_path: Path
    info_path: Path
    ca_path: str | None = None
    mqtt_endpoint: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "running": self.running,
            "endpoint_url": self.endpoint_url,
            "mqtt_endpoint": self.mqtt_endpoint,
            "pid": self.pid,
            "tls": self.tls,
            "log": str(self.log_path),
            "ca_certificate": self.ca_path,
        }


def info_path() -> Path:
    return iotfleet_home() / "emulator.json"


def log_path() -> Path:
    return iotfleet_home() / "emulator.log"


def _read_info() -> dict[str, Any] | None:
    try:
        document = json.loads(info_path().read_text())
    except FileNotFoundError:
        return None
    except ValueError:
        return None  # a torn or foreign file: treat as no record
    return document if isinstance(document, dict) else None


def _alive(pid: int) -> bool:
    """True if ``pid`` runs and is an iotfleet emulator (not a recycled pid, not a zombie)."""
    child = _children.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    proc = Path(f"/proc/{pid}")
    if proc.exists():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            return False
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return False
        return b"iotfleet.emulator" in cmdline
    return True


def health(endpoint_url: str, ca_path: str | None = None, timeout: float = 1.0) -> dict[str, Any] | None:
    """The emulator's health document at ``endpoint_url``, or None if no emulator answers there."""
    context = ssl.create_default_context(cafile=ca_path) if endpoint_url.startswith("https") else None
    try:
        with urllib.request.urlopen(f"{endpoint_url}/_emulator/health", timeout=timeout, context=context) as reply:
            document = json.loads(reply.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None
    return document if isinstance(document, dict) and document.get("status") == "ok" else None


def status() -> EmulatorStatus:
    """Whether the background emulator of this home directory is running, and where."""
    info = _read_info()
    running = False
    if info is not None and isinstance(info.get("pid"), int) and _alive(info["pid"]):
        running = health(info.get("endpoint_url", ""), info.get("ca_path")) is not None
    return EmulatorStatus(
        running=running,
        endpoint_url=info.get("endpoint_url") if info else None,
        pid=info.get("pid") if info else None,
        tls=bool(info.get("tls")) if info else False,
        log_path=log_path(),
        info_path=info_path(),
        ca_path=info.get("ca_path") if info else None,
        mqtt_endpoint=info.get("mqtt_endpoint") if info else None,
    )


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def start(settings: EmulatorSettings, *, timeout: float = START_TIMEOUT) -> EmulatorStatus:
    """Start the emulator detached and wait until it answers. ``settings.port=0`` lets the system pick one.

    Raises :class:`BackgroundError` if one is already running for this home directory, or if the
    server does not come up (the message includes the end of its log).
    """
    current = status()
    if current.running:
        raise BackgroundError(f"the emulator is already running at {current.endpoint_url} (pid {current.pid})")
    home = iotfleet_home()
    home.mkdir(parents=True, exist_ok=True)
    log = log_path()
    with open(log, "wb") as log_file:
        process = subprocess.Popen(
            settings.command_line(),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    _children[process.pid] = process
    ca_path = None
    if settings.tls or settings.mqtt:
        from iotfleet.emulator.tls import ensure_certificates

        ca_path = str(ensure_certificates().ca_cert)
    deadline = time.monotonic() + timeout
    endpoint_url: str | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _children.pop(process.pid, None)
            raise BackgroundError(
                f"the emulator exited at start (code {process.returncode}); log {log}:\n{_log_tail(log)}"
            )
        if endpoint_url is None:
            for line in _log_tail(log, 50).splitlines():
                if line.startswith(_LISTENING):
                    endpoint_url = line[len(_LISTENING) :].strip()
        answer = health(endpoint_url, ca_path) if endpoint_url is not None else None
        if answer is not None:
            document = {
                "pid": process.pid,
                "endpoint_url": endpoint_url,
                "mqtt_endpoint": answer.get("mqtt"),
                "host": settings.host,
                "tls": settings.tls,
                "ca_path": ca_path,
                "log": str(log),
                "started_at": time.time(),
            }
            tmp = info_path().with_suffix(".tmp")
            tmp.write_text(json.dumps(document, indent=2))
            os.replace(tmp, info_path())
            return status()
        time.sleep(0.05)
    _terminate(process.pid)
    raise BackgroundError(f"the emulator did not answer within {timeout:.0f}s; log {log}:\n{_log_tail(log)}")


def _terminate(pid: int, timeout: float = STOP_TIMEOUT) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    child = _children.pop(pid, None)
    if child is not None:
        child.wait(timeout)


def stop() -> bool:
    """Stop the background emulator of this home directory. False if none was running."""
    info = _read_info()
    if info is None or not isinstance(info.get("pid"), int):
        return False
    pid = info["pid"]
    was_running = _alive(pid)
    if was_running:
        _terminate(pid)
    info_path().unlink(missing_ok=True)
    return was_running


def ensure_running(host: str, port: int) -> tuple[str, bool]:
    """The endpoint URL of an emulator at ``host:port``, starting one in the background if none answers.

    Returns ``(endpoint_url, started_now)``. An emulator already answering there (started by
    ``iotfleet local start`` or in the foreground) is used as it is.
    """
    endpoint_url = f"http://{host}:{port}"
    if health(endpoint_url) is not None:
        return endpoint_url, False
    current = status()
    if current.running and current.endpoint_url:
        raise BackgroundError(
            f"the background emulator runs at {current.endpoint_url}, not {endpoint_url}; "
            "stop it (iotfleet local stop) or use its address"
        )
    started = start(EmulatorSettings(host=host, port=port, mqtt_port=default_mqtt_port(port)))
    return started.endpoint_url or endpoint_url, True


# --- a private emulator process, for tests and benchmarks --------------------------------------------


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@contextmanager
def emulator_process(settings: EmulatorSettings | None = None, *, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """An emulator server in a child process of its own (not the home directory's background one).

    Yields its URL once it answers, and stops it afterwards. It serves plain HTTP, on a free port unless
    ``settings.port`` names one. Tests and benchmarks use it so the server does not share this
    process's CPU time or interpreter lock with the clients that load it.
    """
    settings = settings if settings is not None else EmulatorSettings()
    if settings.tls:
        raise ValueError("a private emulator process serves plain HTTP: settings.tls must be False")
    host = settings.host
    port = settings.port or free_port(host)
    args = replace(settings, port=port).command_line()
    endpoint_url = f"http://{host}:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while health(endpoint_url) is None:
                if process.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    tail = log.read().decode(errors="replace")[-2000:]
                    raise BackgroundError(f"the emulator did not come up at {endpoint_url}:\n{tail}")
                time.sleep(0.05)
            yield endpoint_url
        finally:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
