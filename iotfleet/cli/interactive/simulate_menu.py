"""The interactive simulator: pick a job, choose how many devices and how they behave, confirm, run.

Started by ``iotfleet simulate`` on a terminal without ``--job`` or ``--fleet``, and by
``scripts/simulate_job_execution.py``. Every answer is checked as it is given and asked again when wrong;
the flags given on the command line are the defaults offered.
"""

from __future__ import annotations

from dataclasses import replace

from iotfleet.aws.errors import Interrupted
from iotfleet.cli.interactive.job_wizard import ask_until_valid, choose, prompt
from iotfleet.cli.output import key_values
from iotfleet.cli.simulate import parse_devices, run_and_report
from iotfleet.cli.state import CliState
from iotfleet.fleet import explore
from iotfleet.fleet.behaviour import BehaviourModel
from iotfleet.fleet.simulate import SimulationOptions, plan_simulation


def simulate_menu(
    state: CliState, *, model: BehaviourModel, options: SimulationOptions, devices: int | None
) -> None:
    """Ask, confirm and run one simulation; declining the confirmation is exit 130 with nothing changed."""
    state.offer_debug_mode()
    ctx = state.aws
    active = explore.list_jobs(ctx, "IN_PROGRESS") + explore.list_jobs(ctx, "SCHEDULED")
    if active:
        labels = [f"{job['jobId']}  ({job.get('status')}, created {explore.iso_time(explore.to_epoch(job.get('createdAt')))})"
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
        state, lambda: parse_devices(prompt("Process ALL devices or a number? [ALL/number]", default=default_scope))
    )
    chosen = ask_until_valid(state, lambda: _ask_model(model))
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
            ]
        )
    )
    if not state.prompts.yes_no("Ready to simulate these job executions. Proceed?", default=True):
        raise Interrupted("simulation not started; nothing was changed")
    run_and_report(state, plan, chosen, options)


def _ask_model(model: BehaviourModel) -> BehaviourModel:
    rate = prompt("Success percentage (0-100)", default=f"{model.success_rate:g}", value_type=float)
    weights = prompt("Failure weights (download, checksum, install, reject, hang)", default=model.failure_weights.describe())
    latency = prompt("Step latency (0, 200ms, 50ms..500ms, lognormal:median=200ms,p95=2s)", default=model.latency.describe())
    seed = prompt("Seed (the same seed replays the same run)", default=model.seed, value_type=int)
    return BehaviourModel.from_options(success_rate=rate, failure_weights=weights, latency=latency, seed=seed)
