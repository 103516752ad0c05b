"""A job's targets against the registry: which things and groups they name, and which things they stand for.

Targets are thing and thing group ARNs of the engine's account and region. A group stands for its
members and those of its child groups, in name order; a thing stands for itself; each thing counts once.
"""

from __future__ import annotations

from collections.abc import Iterator

from iotfleet.emulator.errors import ResourceNotFoundException
from iotfleet.emulator.jobs.registry import RegistryView, Target, parse_target


class JobTargets:
    """Target ARNs resolved through one :class:`RegistryView`."""

    def __init__(self, registry: RegistryView) -> None:
        self.registry = registry

    def _parsed(self, targets: list[str]) -> Iterator[Target]:
        return (parse_target(a, self.registry.account_id, self.registry.region) for a in targets)

    def _exists(self, target: Target) -> bool:
        exists = self.registry.group_exists if target.is_group else self.registry.thing_exists
        return exists(target.name)

    def check(self, targets: list[str]) -> None:
        """Check that every target ARN is well formed and names an existing thing or group."""
        for target in self._parsed(targets):
            if not self._exists(target):
                raise ResourceNotFoundException(f"Target {target.arn} does not exist")

    def resolve(self, targets: list[str]) -> list[str]:
        """The things the targets stand for, in target order, each once."""
        things: dict[str, None] = {}
        for target in self._parsed(targets):
            if target.is_group:
                things.update(dict.fromkeys(sorted(self.registry.group_members(target.name))))
            else:
                things[target.name] = None
        return list(things)

    def resolve_existing(self, targets: list[str]) -> list[str]:
        """Like :meth:`resolve`, skipping targets that no longer exist."""
        return self.resolve([target.arn for target in self._parsed(targets) if self._exists(target)])

    def names_thing(self, targets: list[str], thing: str, groups: set[str]) -> bool:
        """Whether the targets name ``thing`` itself or one of ``groups`` (the groups it belongs to)."""
        for target in self._parsed(targets):
            if (target.is_group and target.name in groups) or (not target.is_group and target.name == thing):
                return True
        return False

    def group_names(self, targets: list[str]) -> set[str]:
        """The names of the thing groups among the targets."""
        return {target.name for target in self._parsed(targets) if target.is_group}
