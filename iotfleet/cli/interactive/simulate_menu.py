"""The interactive simulator: pick a job, choose how many devices and how they behave, confirm, run.

Started by ``iotfleet simulate`` on a terminal without ``--job`` or ``--fleet``, and by
``scripts/simulate_job_execution.py``. Every answer is checked as it is given and asked again when wrong;
the flags given on the command line are the defaults offered, and the transport (``--transport``, shown in
the summary before the run) is the command line's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from iotfleet.aws.errors import Interrupted, UsageError
from iotfleet.cli.interactive.asking import ask_until_valid, choose, prompt
from iotfleet.cli.output import key_values
from iotfleet.cli.simulation_run import parse_devices, run_and_report
from iotfleet.cli.state import CliState
from iotfleet.fleet.explore.jobs import list_jobs
from iotfleet.fleet.explore.times import iso_time, to_epoch
from iotfleet.fleet.simulate.behaviour import BehaviourModel, FailureWeights, LatencyModel
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions

T = TypeVar("T")


def simulate_menu(
    state: CliState, *, model: BehaviourModel, options: SimulationOptions, devices: int | None
) -> None:
    """Ask, confirm and run one simulation; declining the confirmation is exit 130 with nothing changed."""
    state.offer_debug_mode()
    ctx = state.aws
    active = list_jobs(ctx, "IN_PROGRESS") + list_jobs(ctx, "SCHEDULED")
    if active:
        labels = [f"{job['jobId']}  ({job.get('status')}, created {iso_time(to_epoch(job.get('createdAt')))})"
                  for job in active]  # fmt: skip
        picked = choose(state, "Jobs that can still run", labels, allow_other=True)
        job_id = active[labels.index(picked)]["jobId"] if picked in labels else picked
    else:
        state.output.info("No job is IN_PROGRESS or SCHEDULED.")
        job_id = ask_until_valid(state, lambda: str(prompt("Job ID to simulate")).strip())
    plan = plan_simulation(ctx, job_id=job_id)
    state.output.info(f"Job {job_id} targets {plan.in_scope:,} device(s).")
    default_scope = "ALL" if devices is None else str(devices)
    limit = ask_until_valid(
        state,
        lambda: parse_devices(prompt("Process ALL devices or a number? [ALL/number]", default=default_scope)),
    )
    chosen = _ask_model(state, model)
    if limit is not None:
        plan = replace(plan, things=plan.things[:limit])
    state.output.info("")
    state.output.err.print(
        key_values(
            [
                ("Job", job_id),
                ("Devices", f"{len(plan.things):,}"),
                ("Success rate", f"{chosen.success_rate:g}%"),
                ("Failure weights", chosen.failure_weights.describe()),
                ("Latency", chosen.latency.describe()),
                ("Seed", chosen.seed),
                ("Step timeout", f"{options.step_timeout_minutes} min"),
                ("Transport", options.transport.upper()),
            ]
        )
    )
    if not state.prompts.yes_no("Ready to simulate these job executions. Proceed?", default=True):
        raise Interrupted("simulation not started; nothing was changed")
    run_and_report(state, plan, chosen, options)


def _ask_model(state: CliState, model: BehaviourModel) -> BehaviourModel:
    """Each behaviour setting, asked again until it is valid."""

    def checked(flag: str, parse: Callable[[str], T]) -> Callable[[str], T]:
        def run(text: str) -> T:
            try:
                return parse(text)
            except ValueError as exc:
                raise UsageError(str(exc), flag) from None

        return run

    def rate() -> float:
        value = float(
            prompt("Success percentage (0-100)", default=f"{model.success_rate:g}", value_type=float)
        )
        if not 0.0 <= value <= 100.0:
            raise UsageError(f"the success rate must be between 0 and 100, not {value:g}", "--success-rate")
        return value

    success_rate = ask_until_valid(state, rate)
    weights = ask_until_valid(
        state,
        lambda: checked("--failure-weights", FailureWeights.parse)(
            prompt(
                "Failure weights (download, checksum, install, reject, hang)",
                default=model.failure_weights.describe(),
            )
        ),
    )
    latency = ask_until_valid(
        state,
        lambda: checked("--latency", LatencyModel.parse)(
            prompt(
                "Step latency (0, 200ms, 50ms..500ms, lognormal:median=200ms,p95=2s)",
                default=model.latency.describe(),
            )
        ),
    )
    seed = int(prompt("Seed (the same seed replays the same run)", default=model.seed, value_type=int))
    return BehaviourModel(success_rate, weights, latency, seed)
