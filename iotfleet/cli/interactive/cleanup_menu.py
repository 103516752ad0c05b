"""The interactive cleanup of ``scripts/cleanup_script.py``: debug mode, fleet, what to delete.

It only gathers the choices; ``iotfleet cleanup`` then plans, prints the plan and asks for DELETE to be typed
before anything is deleted, exactly as with flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from iotfleet.aws.errors import Interrupted
from iotfleet.cli.interactive.asking import choose, choose_many
from iotfleet.cli.state import CliState
from iotfleet.fleet.cleanup.kinds import ALL, ONLY_KINDS
from iotfleet.fleet.resources import fleets_in_account


@dataclass(frozen=True)
class CleanupChoice:
    fleet: str
    only: tuple[str, ...]


def ask_cleanup(state: CliState, only: tuple[str, ...] = ()) -> CleanupChoice:
    """Ask for debug mode (before any AWS call), the fleet, and what to delete (unless ``only`` says)."""
    state.offer_debug_mode()
    fleets = fleets_in_account(state.aws)
    if fleets:
        fleet = choose(state, "iotfleet fleets in this account", fleets, allow_other=True)
    else:
        state.output.info("No fleet bucket found in this account and region; type the fleet's name.")
        fleet = choose(state, "iotfleet fleets in this account", [], allow_other=True)
    if only:
        return CleanupChoice(fleet, only)
    if state.prompts.yes_no(
        "Delete everything of the fleet (and put back the account settings iotfleet changed)?", default=True
    ):
        return CleanupChoice(fleet, (ALL,))
    kinds = choose_many(state, "What to delete", list(ONLY_KINDS))
    if not kinds:
        raise Interrupted("nothing chosen to delete; nothing was changed")
    return CleanupChoice(fleet, tuple(kinds))
