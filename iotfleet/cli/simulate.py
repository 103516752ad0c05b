"""``iotfleet simulate``: simulated devices run a job's executions through the jobs API, over HTTPS or MQTT.

All flags are checked before the first AWS call (bad values are exit 2). On a terminal, without ``--job``
or ``--fleet``, the interactive simulator menu starts. Simulated failures are results, not errors: the
command exits 0 when every device ran to its end, 1 when some device hit an API error it could not
handle (each is listed), 130 on Ctrl-C (after a summary of what ran).
"""

from __future__ import annotations

import random

import click

from iotfleet.aws.errors import UsageError
from iotfleet.cli.interactive.simulate_menu import simulate_menu
from iotfleet.cli.simulation_run import mqtt_settings, parse_devices, run_and_report
from iotfleet.cli.state import CliState, pass_state
from iotfleet.fleet.naming import check_fleet_name
from iotfleet.fleet.simulate.behaviour import (
    DEFAULT_FAILURE_WEIGHTS,
    DEFAULT_LATENCY,
    BehaviourModel,
    parse_duration,
)
from iotfleet.fleet.simulate.plan import plan_simulation
from iotfleet.fleet.simulate.run import SimulationOptions
from iotfleet.fleet.simulate.transport import HTTPS, TRANSPORTS


def new_seed() -> int:
    """A seed for runs that were not given one (printed, so the run can be repeated)."""
    return random.SystemRandom().randrange(1, 1_000_000)


@click.command()
@click.option("--job", "job_id", metavar="JOB", help="Run the executions of this job.")
@click.option("--fleet", metavar="NAME", help="Run every pending execution of the fleet's things, whatever the job.")
@click.option("--devices", default="all", show_default=True, metavar="N|all", help="Simulate the first N devices in scope.")
@click.option("--success-rate", type=float, default=100.0, show_default=True, metavar="PCT",
              help="Chance that an execution succeeds, 0-100, drawn per execution.")
@click.option("--failure-weights", default=DEFAULT_FAILURE_WEIGHTS, show_default=True, metavar="MODE=W,...",
              help="How failures split: download, checksum, install, reject, hang (left out = 0).")
@click.option("--seed", type=int, metavar="S", help="Seed of every random draw; the same seed replays the same run.  "
              "[default: random, printed]")
@click.option("--until", "until", metavar="SECONDS", help="Stop waiting for new executions after this long "
              "(e.g. 600, 10m); started ones finish.")
@click.option("--latency", default=DEFAULT_LATENCY, show_default=True, metavar="DIST",
              help="Time of each download and install step: 0, 200ms, 50ms..500ms, lognormal:median=200ms,p95=2s.")
@click.option("--step-timeout", type=int, default=10, show_default=True, metavar="MINUTES",
              help="stepTimeoutInMinutes devices set when they start an execution (a hung device times out then).")
@click.option("--poll-max", type=float, default=30.0, show_default=True, metavar="SECONDS",
              help="Longest wait between two polls of a device waiting for the rollout.")
@click.option("--write-package-shadow", is_flag=True,
              help="Devices also write the $package shadow (AWS does it itself when the package configuration says so).")
@click.option("--transport", type=click.Choice(TRANSPORTS), default=HTTPS, show_default=True,
              help="https: the jobs data plane with the run's credentials; mqtt: each device's own certificate and MQTT connection.")
@click.option("--mqtt-endpoint", metavar="HOST[:PORT]", help="Where MQTT devices connect.  [default: the account's "
              "iot:Data-ATS endpoint, port 8883; on --target local, the emulator's own]")
@click.option("--mqtt-ca", type=click.Path(dir_okay=False), metavar="FILE",
              help="The CA that signs the MQTT endpoint's certificate.  [default: Amazon's root CAs]")
@click.option("--keys-dir", type=click.Path(file_okay=False), metavar="DIR",
              help="The fleet's key store, for --transport mqtt.  [default: ~/.iotfleet/keys/<fleet>]")
@pass_state
def simulate(
    state: CliState,
    job_id: str | None,
    fleet: str | None,
    devices: str,
    success_rate: float,
    failure_weights: str,
    seed: int | None,
    until: str | None,
    latency: str,
    step_timeout: int,
    poll_max: float,
    write_package_shadow: bool,
    transport: str,
    mqtt_endpoint: str | None,
    mqtt_ca: str | None,
    keys_dir: str | None,
) -> None:
    """Simulate devices running job executions: download, checksum, install, report.

    Each device uses the jobs data plane as a real one does: it starts its execution with a step timeout,
    reports IN_PROGRESS, downloads each artifact through its presigned URL, checks its SHA-256 against
    the package version, installs, reports SUCCEEDED, FAILED or REJECTED with statusDetails, and writes
    its new firmware version to its shadow. Over HTTPS devices keep polling while the rollout releases
    executions; over MQTT (--transport mqtt) each device connects with its own certificate from the fleet's
    key store, waits for notify-next and reports through the jobs and shadow topics.

    \b
    Examples:
      iotfleet simulate --job ota-fw-main-1-2-0 --success-rate 90 --seed 7
      iotfleet simulate --fleet demo --devices 500 --latency 0
      iotfleet simulate --job J --success-rate 80 --failure-weights checksum=3,hang=1 --until 10m
      iotfleet --output json simulate --job J --latency lognormal:median=200ms,p95=2s
      iotfleet --target local simulate --fleet demo --transport mqtt
    """
    chosen_seed = new_seed() if seed is None else seed
    model = BehaviourModel.from_options(
        success_rate=success_rate, failure_weights=failure_weights, latency=latency, seed=chosen_seed
    )
    until_seconds = _until_seconds(until)
    limit = parse_devices(devices)
    if fleet is not None:
        fleet = check_fleet_name(fleet, "--fleet")
    if job_id is not None and fleet is not None:
        raise UsageError("give --job or --fleet, not both", "--job")
    if job_id is None and fleet is None and not state.prompts.interactive:
        raise UsageError("missing --job JOB or --fleet NAME (there is no terminal to ask on)", "--job")
    options = SimulationOptions(
        step_timeout_minutes=step_timeout,
        until=until_seconds,
        poll_max=poll_max,
        poll_initial=min(1.0, poll_max) if poll_max > 0 else 1.0,
        write_package_shadow=write_package_shadow,
        transport=transport,
        mqtt=mqtt_settings(state, transport, mqtt_endpoint, mqtt_ca, keys_dir),
    )
    if job_id is None and fleet is None:
        simulate_menu(state, model=model, options=options, devices=limit)
        return
    plan = plan_simulation(state.aws, job_id=job_id, fleet=fleet, devices=limit)
    run_and_report(state, plan, model, options)


def _until_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = parse_duration(value, "--until")
    except ValueError as exc:
        raise UsageError(str(exc), "--until") from None
    if seconds <= 0:
        raise UsageError("--until must be a positive duration", "--until")
    return seconds


