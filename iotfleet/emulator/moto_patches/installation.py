"""Putting the patches in place: moto follows a running emulator's clock, and every fix is applied once.

The emulator app calls :func:`install` as it starts. The fixes replace moto's functions for the whole
process, so they are applied on the first call only (after the contract check); the clock and the
emulator whose event bus the accessors emit on follow the latest call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from iotfleet.emulator.moto_patches import clock, gateway, iot_registry, s3, shadows
from iotfleet.emulator.moto_patches.contract import moto_contract_problems

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

_installed_state: EmulatorState | None = None
_fixes_applied = False


def install(state: EmulatorState) -> None:
    """Point moto at this emulator (its clock, its event bus) and apply the fixes. Idempotent.

    Raises RuntimeError when the installed moto differs from what the fixes rely on.
    """
    global _installed_state
    problems = moto_contract_problems() if not _fixes_applied else []
    if problems:
        raise RuntimeError("the emulator's moto patches do not fit this moto: " + "; ".join(problems))
    _installed_state = state
    clock.use_clock(state.clock)
    _apply_fixes()


def current_state() -> EmulatorState | None:
    """The emulator moto was last pointed at, or None before any started."""
    return _installed_state


def _apply_fixes() -> None:
    global _fixes_applied
    if _fixes_applied:
        return
    _fixes_applied = True
    gateway.apply()
    iot_registry.apply()
    shadows.apply()
    s3.apply()
