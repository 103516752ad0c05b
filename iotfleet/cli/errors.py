"""How a failed command reads on stderr: one place, so the command line and the interactive menus agree."""

from __future__ import annotations

import click

from iotfleet.aws.errors import AwsOperationError, Interrupted, IotFleetError, OperationFailed, UsageError

# Failures listed one per line after an OperationFailed; the rest are counted.
MAX_LISTED_FAILURES = 25


def report_error(exc: BaseException) -> int:
    """Print ``exc`` to stderr the way a person should read it; returns the exit code."""
    if isinstance(exc, UsageError):
        where = f"{exc.param}: " if exc.param and exc.param not in exc.message else ""
        click.echo(f"Error: {where}{exc.message}", err=True)
        return exc.exit_code
    if isinstance(exc, AwsOperationError):
        click.echo(f"Error: {exc}", err=True)
        for label, value in (
            ("service", exc.service),
            ("operation", exc.operation),
            ("code", exc.code),
            ("message", exc.message),
            ("request id", exc.request_id),
        ):
            if value:
                click.echo(f"  {label}: {value}", err=True)
        return exc.exit_code
    if isinstance(exc, OperationFailed):
        click.echo(f"Error: {exc.message}", err=True)
        for failure in exc.failures[:MAX_LISTED_FAILURES]:
            code = f" [{failure.code}]" if failure.code else ""
            click.echo(f"  {failure.kind} {failure.name}: {failure.error}{code}", err=True)
        if len(exc.failures) > MAX_LISTED_FAILURES:
            click.echo(f"  ... and {len(exc.failures) - MAX_LISTED_FAILURES} more", err=True)
        return exc.exit_code
    if isinstance(exc, Interrupted):
        click.echo(f"Interrupted: {exc.message}", err=True)
        return exc.exit_code
    if isinstance(exc, IotFleetError):
        click.echo(f"Error: {exc}", err=True)
        return exc.exit_code
    raise TypeError(f"not an iotfleet error: {exc!r}")
