"""``iotfleet jobs``: create OTA and custom jobs, then explore, watch, cancel and report on them.

The group is defined here; its subcommands live in one module per concern and are added below, one line each:
job creation and templates in :mod:`iotfleet.cli.jobs_create`, exploration and monitoring in
:mod:`iotfleet.cli.jobs_explore`, retrying what failed in :mod:`iotfleet.cli.jobs_retry`.
"""

from __future__ import annotations

import click

from iotfleet.cli import jobs_explore
from iotfleet.cli.jobs_create import create, template
from iotfleet.cli.jobs_retry import retry_failed_command


@click.group()
def jobs() -> None:
    """Create OTA jobs and explore, watch, cancel and report on them."""


jobs.add_command(create)
jobs.add_command(template)
jobs.add_command(jobs_explore.list_command)
jobs.add_command(jobs_explore.show_command)
jobs.add_command(jobs_explore.executions_command)
jobs.add_command(jobs_explore.execution_command)
jobs.add_command(jobs_explore.stats_command)
jobs.add_command(jobs_explore.cancel_command)
jobs.add_command(jobs_explore.delete_command)
jobs.add_command(jobs_explore.watch_command)
jobs.add_command(jobs_explore.report_command)
jobs.add_command(jobs_explore.explore_command)
jobs.add_command(retry_failed_command)
