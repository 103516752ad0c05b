"""A few short, independent provisioning steps run at once.

Planning reads five kinds of resource together and applying runs its two setup chains together; both go
through :func:`run_together`, on the shared parallel runner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from iotfleet.aws.context import AwsContext
from iotfleet.fleet.runner import run_parallel


def run_together(ctx: AwsContext, steps: list[Callable[[], Any]]) -> list[Any]:
    """Run a few short, independent steps at once; their results in order, or the first error as raised."""
    result = run_parallel(steps, lambda step: step(), concurrency=max(1, min(len(steps), ctx.concurrency)))
    for outcome in result.outcomes:
        if outcome.error is not None:
            raise outcome.error
    return [outcome.value for outcome in result.outcomes]
