"""``iotfleet jobs``: create OTA and custom jobs, then explore, watch, cancel and report on them.

The group is defined here; its subcommands live in one module per concern and are added below, one line each:
job creation and templates in :mod:`iotfleet.cli.jobs_create`, exploration and monitoring in
:mod:`iotfleet.cli.jobs_explore`.
"""

from __future__ import annotations

import click


@click.group()
def jobs() -> None:
    """Create OTA jobs and explore, watch, cancel and report on them."""


def _register() -> None:
    """Add the subcommands (imported here, not at the top, because they import this group's module)."""
    from iotfleet.cli.jobs_create import create, template

    jobs.add_command(create)
    jobs.add_command(template)


_register()
