"""Client of the emulator's HTTP control API, for a server in another process.

Same operations as :class:`~iotfleet.emulator.inprocess.LocalEmulator`::

    control = EmulatorControl("http://127.0.0.1:4567")
    control.advance(3600)
    control.set_faults(0.1, seed=7, operations=["iot:CreateThing"])
    assert control.counters()["iot:CreateThing"]["calls"] == 3
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import requests


class EmulatorControlError(RuntimeError):
    """The control API refused a request (bad settings) or the emulator is unreachable."""


class EmulatorControl:
    def __init__(self, endpoint_url: str, *, verify: str | bool = True, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self._session = requests.Session()
        self._session.verify = verify
        self._timeout = timeout

    def _call(self, method: str, route: str, document: Mapping[str, Any] | None = None) -> Any:
        url = f"{self.endpoint_url}/_emulator/{route}"
        try:
            response = self._session.request(method, url, json=document, timeout=self._timeout)
        except requests.RequestException as exc:
            raise EmulatorControlError(f"the emulator at {self.endpoint_url} is not reachable: {exc}") from exc
        if response.status_code != 200:
            try:
                detail = response.json().get("error", response.text)
            except ValueError:
                detail = response.text
            raise EmulatorControlError(f"{method} /_emulator/{route}: HTTP {response.status_code}: {detail}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._call("GET", "health")  # type: ignore[no-any-return]

    def now(self) -> float:
        return float(self._call("GET", "clock")["now"])

    def advance(self, seconds: float) -> float:
        """Move the emulator clock forward; returns the new time."""
        return float(self._call("POST", "clock", {"advance": seconds})["now"])

    def set_time_scale(self, time_scale: float) -> None:
        self._call("POST", "clock", {"time_scale": time_scale})

    def counters(self) -> dict[str, dict[str, int]]:
        return self._call("GET", "counters")  # type: ignore[no-any-return]

    def reset_counters(self) -> None:
        self._call("POST", "counters/reset")

    def quotas(self) -> dict[str, Any]:
        return self._call("GET", "quotas")  # type: ignore[no-any-return]

    def set_quotas(
        self,
        enforce: bool | None = True,
        overrides: Mapping[str, float] | None = None,
        scale: float | None = None,
    ) -> dict[str, Any]:
        document: dict[str, Any] = {"enforce": enforce}
        if overrides is not None:
            document["overrides"] = dict(overrides)
        if scale is not None:
            document["scale"] = scale
        return self._call("POST", "quotas", document)  # type: ignore[no-any-return]

    def faults(self) -> dict[str, Any]:
        return self._call("GET", "faults")  # type: ignore[no-any-return]

    def set_faults(
        self, rate: float, seed: int = 0, operations: Iterable[str] | None = None, after: float = 0.0
    ) -> dict[str, Any]:
        document = {
            "rate": rate, "seed": seed, "operations": None if operations is None else list(operations),
            "after": after,
        }  # fmt: skip
        return self._call("POST", "faults", document)  # type: ignore[no-any-return]

    def search_mode(self) -> str:
        return str(self._call("GET", "search")["mode"])

    def set_search_mode(self, mode: str) -> None:
        """``index`` (fleet-indexing queries use the thing index) or ``scan`` (they read every thing)."""
        self._call("POST", "search", {"mode": mode})

    def reset(self) -> None:
        """Wipe all emulator state."""
        self._call("POST", "reset")
