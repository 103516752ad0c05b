"""``iotfleet demo``: the whole OTA life cycle on one fleet, shown step by step: a faulty release caught by its
canary and rolled back by itself, then the fixed release rolled out wave after wave.

By default it runs on an emulator started inside this process, with its clock running faster so that
rollout minutes and job timeouts pass in seconds. ``--target aws`` (given on the command line) runs the same
steps on a real account after a confirmation that names the account, the region and an estimated cost;
``--target local`` or an endpoint URL runs them on that emulator.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console
from rich.rule import Rule
from rich.text import Text

from iotfleet.aws.settings import TargetSettings
from iotfleet.cli import cleanup as cleanup_cli
from iotfleet.cli import provision as provision_cli
from iotfleet.cli import simulation_run
from iotfleet.cli.groups import render_preview
from iotfleet.cli.output import key_values
from iotfleet.cli.packages import bar_chart
from iotfleet.cli.rollout_views import STATE_STYLES, step_line, waves_table
from iotfleet.cli.state import CliState, pass_state
from iotfleet.emulator.clock import MAX_TIME_SCALE
from iotfleet.fleet import demo as fleet_demo
from iotfleet.fleet import groups
from iotfleet.fleet.cleanup.apply import CleanupResult
from iotfleet.fleet.packages.reported import Distribution
from iotfleet.fleet.packages.upload import VersionUpload
from iotfleet.fleet.provision.result import ProvisionResult
from iotfleet.fleet.rollout import report as rollout_report
from iotfleet.fleet.rollout.controller import Step
from iotfleet.fleet.rollout.plan import RolloutPlan
from iotfleet.fleet.rollout.spec import format_duration
from iotfleet.fleet.rollout.watch import RolloutSnapshot
from iotfleet.fleet.runner import Progress
from iotfleet.fleet.simulate.mqtt_network import MqttEndpoint
from iotfleet.fleet.simulate.transport import MqttSettings

# Emulator seconds per real second on the in-process emulator: a rollout minute passes in one second.
DEFAULT_TIME_SCALE = 60.0
STEP_STYLES = {"gate-passed": "green", "gate-failed": "bold red", "rollback-started": "magenta",
               "rolled-back": "magenta", "completed": "bold green"}  # fmt: skip


class ConsoleReporter:
    """Shows each step of the demo as it happens (text output); stays quiet with ``--output json``."""

    def __init__(self, state: CliState) -> None:
        self.state = state
        self.quiet = state.output.json
        # Set when the demo runs on an emulator inside this process, which ends with the command.
        self.in_process = False
        self.console: Console = state.output.console

    def _print(self, *renderables: Any) -> None:
        if not self.quiet:
            for renderable in renderables:
                self.console.print(renderable)

    def step(self, number: int, title: str) -> None:
        self._print(Text(""), Rule(Text.assemble((f"Step {number}/10  ", "bold cyan"), (title, "bold"))))

    def progress(self) -> Progress:
        return self.state.progress()

    def provisioned(self, result: ProvisionResult) -> None:
        if not self.quiet:
            provision_cli.render_result(self.console, result)

    def distribution(self, label: str, dist: Distribution) -> None:
        self._print(Text(label, style="bold"), bar_chart(dist))

    def group_created(self, query: str, preview: groups.Preview, created: groups.CreatedGroup) -> None:
        if self.quiet:
            return
        render_preview(self.console, preview, f"{preview.count} devices match")
        verb = "Created" if created.created else "Found"
        self._print(f"{verb} dynamic group {created.group.name}.")

    def firmware_published(self, upload: VersionUpload) -> None:
        self._print(
            key_values(
                [
                    ("Package version", f"{upload.package} {upload.version} ({upload.status})"),
                    ("Artifact", f"s3://{upload.bucket}/{upload.key} (version {upload.s3_version_id})"),
                    ("SHA-256", upload.sha256),
                    ("Size", f"{upload.size:,} bytes"),
                ]
            )
        )

    def rollout_planned(self, plan: RolloutPlan) -> None:
        gate = plan.spec.gate
        request = plan.wave_request
        rollout = request.get("jobExecutionsRolloutConfig", {}).get("exponentialRate", {})
        aborts = request.get("abortConfig", {}).get("criteriaList", [])
        self._print(
            key_values(
                [
                    ("Rollout", plan.rollout_id),
                    ("Waves", ", ".join(f"{w.percent:g}% ({len(w.devices)} device(s))" for w in plan.waves)),
                    ("Gate", f"{', '.join(c.text for c in gate.conditions)} once the whole wave executed, "
                             f"then a {format_duration(gate.bake_seconds)} bake"),
                    ("Each wave's job",
                     f"{rollout.get('baseRatePerMinute')}/min, x{rollout.get('incrementFactor')} after every "
                     f"{rollout.get('rateIncreaseCriteria', {}).get('numberOfNotifiedThings')} notified; abort "
                     + "; ".join(f"{c['failureType']} over {c['thresholdPercentage']}% after "
                                 f"{c['minNumberOfExecutedThings']}" for c in aborts)),
                    ("On a failed gate", f"cancel, then roll back to {plan.rollback_version}"),
                ]
            )
        )  # fmt: skip

    def rollout_step(self, step: Step) -> None:
        self._print(Text(step_line(step), style=STEP_STYLES.get(step.kind, "")))

    def rollout_ended(self, current: RolloutSnapshot) -> None:
        if not self.quiet:
            self.console.print(waves_table(current))
            self.console.print(Text(f"Rollout {current.record.rollout_id} ended {current.record.state}.",
                                    style=STATE_STYLES.get(current.record.state, "")))  # fmt: skip

    def report_written(self, path: Path, report: rollout_report.RolloutReport) -> None:
        self._print(f"Report of rollout {report.record.rollout_id} written to {path}")

    def cleaned(self, result: CleanupResult | None) -> None:
        if result is None and self.in_process:
            self._print(
                "The fleet was kept, but the emulator inside this command stops with it. To explore a kept fleet "
                "with the other commands, run the demo on the background emulator: iotfleet local start "
                "--time-scale 60, then iotfleet --target local demo --keep."
            )
        elif result is None:
            self._print(
                "The fleet is kept: explore it with the other commands, and remove it with iotfleet cleanup."
            )
        elif not self.quiet:
            cleanup_cli.render_result(self.console, result)


@contextmanager
def demo_target(
    state: CliState,
    click_ctx: click.Context,
    config: fleet_demo.DemoConfig,
    time_scale: float,
    reporter: ConsoleReporter,
) -> Iterator[tuple[str, MqttSettings | None]]:
    """Point ``state`` at where the demo runs; yields a description of that place, and where its devices
    connect over MQTT (None: over HTTPS, on an emulator that runs without its MQTT endpoint)."""
    root = click_ctx.find_root()
    settings = state.settings
    chose_target = root.get_parameter_source("target") == ParameterSource.COMMANDLINE
    if settings.target == "aws" and chose_target:
        confirm_aws(state, config)
        yield f"AWS account {state.aws.account_id}, region {state.aws.region}", MqttSettings()
        return
    scaled = "rollout minutes and job timeouts pass in its own time (see iotfleet local start --time-scale)"
    if (settings.endpoint_url and not settings.endpoint_default) or chose_target:
        # An emulator given by its URL, or the background one (started if needed): its devices connect to its
        # MQTT endpoint, which its health document names.
        endpoint = simulation_run.emulator_mqtt_endpoint(state)
        devices = (
            f"devices over MQTT at {endpoint.address}" if endpoint is not None
            else "devices over HTTPS: it runs without its MQTT endpoint"
        )  # fmt: skip
        kind = "emulator" if settings.endpoint_url and not settings.endpoint_default else "local emulator"
        where = f"the {kind} at {state.aws.endpoint_url}"
        yield f"{where} ({devices}); {scaled}", None if endpoint is None else MqttSettings(endpoint=endpoint)
        return
    from iotfleet.emulator.inprocess import LocalEmulator
    from iotfleet.emulator.settings import EmulatorSettings

    with LocalEmulator(EmulatorSettings(time_scale=time_scale)) as emulator:
        reporter.in_process = True
        state.settings = TargetSettings.resolve(
            target="local",
            endpoint_url=emulator.endpoint_url,
            concurrency=settings.concurrency,
            debug=settings.debug,
            quota_overrides=settings.quota_overrides,
        )
        endpoint = MqttEndpoint.parse(emulator.mqtt_endpoint or "", emulator.ca_path)
        where = f"an emulator inside this process (time x{time_scale:g}: a rollout minute takes {60 / time_scale:g} s)"
        yield f"{where}, devices over MQTT at {endpoint.address}", MqttSettings(endpoint=endpoint)


def confirm_aws(state: CliState, config: fleet_demo.DemoConfig) -> None:
    """Name the account, the region and the estimated cost, and ask before anything is created."""
    ctx = state.aws
    estimate = fleet_demo.estimate_cost(replace(config, mqtt=MqttSettings()))  # its devices use MQTT on AWS
    state.output.info(
        f"The demo creates {config.devices} things (each with its own certificate, connecting over MQTT), a fleet "
        f"CA and IoT policy, a firmware bucket, two IAM roles, a package, two rollouts and their jobs in\n"
        f"  account {ctx.account_id}, region {ctx.region},\n"
        f"  then {'keeps them (--keep)' if config.keep else 'deletes them again'}.\n"
        f"  Estimated cost: about US${estimate.dollars:.2f} ({estimate.remote_actions} job executions, "
        f"{estimate.index_updates} index updates, {estimate.registry_and_shadow_operations} registry and shadow "
        f"operations, {estimate.mqtt_messages} MQTT messages, {estimate.connection_minutes} connection-minutes; "
        f"see {fleet_demo.PRICING_URL} and {fleet_demo.IOT_CORE_PRICING_URL})."
    )
    state.confirm(f"run the demo in AWS account {ctx.account_id} ({ctx.region})")


@click.command()
@click.option(
    "--devices", type=int, default=100, show_default=True, metavar="N", help="Devices in the demo fleet."
)
@click.option(
    "--fleet", default=fleet_demo.DEMO_FLEET, show_default=True, metavar="NAME", help="The demo fleet's name."
)
@click.option(
    "--success-rate",
    type=float,
    default=fleet_demo.DemoConfig.success_rate,
    show_default=True,
    metavar="PCT",
    help=f"Share of devices whose update to the fixed {fleet_demo.FIXED_VERSION} succeeds.",
)
@click.option(
    "--faulty-success-rate",
    type=float,
    default=fleet_demo.DemoConfig.faulty_success_rate,
    show_default=True,
    metavar="PCT",
    help=f"Share of devices whose update to the faulty {fleet_demo.FAULTY_VERSION} succeeds.",
)
@click.option(
    "--failure-weights",
    default=fleet_demo.DemoConfig.failure_weights,
    show_default=True,
    metavar="MODE=W,...",
    help="Weights of the failure modes of the devices that fail: download, checksum, install, reject, hang.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Seed of the devices' behaviour.")
@click.option("--keep", is_flag=True, help="Keep the fleet at the end instead of cleaning it up.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=fleet_demo.DemoConfig.report_path,
    show_default=True,
    help="Where to write the HTML report of the fixed release's rollout.",
)
@click.option(
    "--time-scale",
    type=click.FloatRange(min=1.0, max=MAX_TIME_SCALE),
    default=DEFAULT_TIME_SCALE,
    show_default=True,
    metavar="N",
    help="Emulator seconds per real second (the in-process emulator only).",
)
@click.option(
    "--interval",
    type=float,
    default=1.0,
    show_default=True,
    metavar="SECONDS",
    help="Time between looks at the rollouts (the controller passes twice as often).",
)
@pass_state
@click.pass_context
def demo(
    click_ctx: click.Context, state: CliState, devices: int, fleet: str, success_rate: float,
    faulty_success_rate: float, failure_weights: str, seed: int, keep: bool, report_path: Path, time_scale: float,
    interval: float,
) -> None:  # fmt: skip
    """Take a fleet through the whole OTA life cycle, step by step, with no AWS account needed.

    Provisions the fleet and builds a dynamic group of the devices to update. Rolls out a faulty 1.1.0 in
    waves, each gated on its success rate after a bake: its canary fails the gate, its job is canceled and
    the devices that took it are rolled back by a real OTA job, and the later waves never start. Then rolls out
    the fixed 1.1.1, which passes every gate to 100%. Writes the rollout's HTML report, shows the version
    distribution before, after the failure and at the end, and cleans up.

    \b
    Examples:
      iotfleet demo
      iotfleet demo --devices 500 --keep
      iotfleet --target aws --profile sandbox --region eu-west-1 demo
    """
    config = fleet_demo.DemoConfig(
        fleet=fleet, devices=devices, success_rate=success_rate, faulty_success_rate=faulty_success_rate,
        failure_weights=failure_weights, seed=seed, keep=keep, report_path=report_path, watch_interval=interval,
    ).validated()  # fmt: skip
    reporter = ConsoleReporter(state)
    with demo_target(state, click_ctx, config, time_scale, reporter) as (where, mqtt):
        state.output.info(f"Running the demo on {where}.")
        result = fleet_demo.run_demo(state.aws, replace(config, mqtt=mqtt), reporter)
    state.output.result(
        result.as_dict(),
        render=lambda console: console.print(Text("\nThe demo is done.", style="bold green")),
    )
