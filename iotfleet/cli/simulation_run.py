"""Running a planned simulation with a progress bar, and what a person reads of its result.

Shared by ``iotfleet simulate`` and the interactive simulator menu, so both show a run alike.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.text import Text

from iotfleet.aws.errors import Interrupted, OperationFailed, UsageError
from iotfleet.cli.output import key_values, table
from iotfleet.cli.state import CliState
from iotfleet.fleet.simulate.behaviour import BehaviourModel
from iotfleet.fleet.simulate.device import EXECUTION_OUTCOMES
from iotfleet.fleet.simulate.mqtt_network import MqttEndpoint
from iotfleet.fleet.simulate.plan import SimulationPlan
from iotfleet.fleet.simulate.run import SimulationOptions, SimulationResult, run_simulation
from iotfleet.fleet.simulate.transport import HTTPS, MqttSettings

OUTCOME_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "rejected": "yellow",
    "hung": "magenta",
    "ended by the service": "bright_black",
}


def parse_devices(value: str | int | None) -> int | None:
    """``N`` or ``all`` (None); anything else is a usage error naming --devices."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text == "all":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--devices takes a positive number or 'all', not {value!r}", "--devices")
    return int(text)


def mqtt_settings(
    state: CliState, transport: str, endpoint: str | None, ca_file: str | None, keys_dir: str | None
) -> MqttSettings | None:
    """Where MQTT devices connect: ``--mqtt-endpoint`` (with ``--mqtt-ca``), else on the local target the MQTT
    endpoint of the emulator it talks to, else the account's own (``iot:Data-ATS``, Amazon's CAs)."""
    if transport == HTTPS:
        return None
    settings = state.settings
    if ca_file is not None and not Path(ca_file).is_file():
        raise UsageError(f"--mqtt-ca {ca_file}: no such file", "--mqtt-ca")
    parsed = None
    if endpoint is not None:
        try:
            parsed = MqttEndpoint.parse(endpoint, ca_file)
        except ValueError as exc:
            raise UsageError(str(exc), "--mqtt-endpoint") from None
    elif settings.is_local:
        parsed = emulator_mqtt_endpoint(state)
        if parsed is None:
            raise UsageError(
                f"the emulator at {state.aws.endpoint_url} runs without its MQTT endpoint: give --mqtt-endpoint",
                "--mqtt-endpoint",
            )
        parsed = parsed if ca_file is None else replace(parsed, ca_file=ca_file)
    elif settings.endpoint_url and not settings.endpoint_default:
        raise UsageError(
            f"devices over MQTT need the MQTT endpoint that goes with {settings.endpoint_url}: give --mqtt-endpoint",
            "--mqtt-endpoint",
        )
    return MqttSettings(endpoint=parsed, keys_dir=keys_dir)


def emulator_mqtt_endpoint(state: CliState) -> MqttEndpoint | None:
    """The MQTT endpoint of the emulator the local target talks to (the background one is started if need be),
    from its health document, with the CA that signs its certificate; None when it runs without one."""
    from iotfleet.emulator.background import health

    endpoint_url = state.aws.endpoint_url
    answer = health(endpoint_url, os.environ.get("AWS_CA_BUNDLE")) or {}
    address, ca_file = answer.get("mqtt"), answer.get("mqtt_ca")
    if not address:
        return None
    if ca_file and not Path(ca_file).is_file():
        raise UsageError(
            f"the CA of the emulator's MQTT endpoint ({ca_file}) is not on this machine: give --mqtt-ca", "--mqtt-ca"
        )
    return MqttEndpoint.parse(str(address), ca_file or None)


def run_and_report(
    state: CliState, plan: SimulationPlan, model: BehaviourModel, options: SimulationOptions
) -> SimulationResult:
    """Run the plan with a progress bar, then print the summary (or the JSON document)."""
    if not state.output.json:
        state.output.info(
            f"Simulating {len(plan.things):,} device(s) of {plan.scope} over {options.transport.upper()} "
            f"(seed {model.seed}, success rate {model.success_rate:g}%)"
        )
    try:
        result = run_simulation(state.aws, plan, model, options, progress=state.progress())
    except Interrupted as exc:
        if isinstance(exc.partial, SimulationResult):
            show_result(state, exc.partial)
        raise
    show_result(state, result)
    if result.failures:
        raise OperationFailed(
            f"{len(result.failures)} device(s) stopped on an API error they could not handle", result.failures
        )
    return result


def show_result(state: CliState, result: SimulationResult) -> None:
    state.output.result(result.as_dict(), render=lambda console: render_result(console, result))


def render_result(console: Console, result: SimulationResult) -> None:
    plan, model = result.plan, result.model
    executions = len(result.executions)
    heading = Text(f"Simulation of {plan.scope}", style="bold")
    if result.interrupted:
        heading.append("  (interrupted)", style="yellow")
    console.print(heading)
    console.print(
        key_values(
            [
                ("Devices", f"{len(plan.things):,} of {plan.in_scope:,} in scope"),
                ("Transport", result.options.transport.upper()),
                ("Executions", f"{executions:,} in {result.duration:.1f} s ({result.executions_per_second:.1f}/s)"),
                ("Seed", model.seed),
                ("Success rate", f"{model.success_rate:g}%"),
                ("Failure weights", model.failure_weights.describe()),
                ("Latency", model.latency.describe()),
            ]
        )
    )
    counts = result.outcome_counts()
    rows = [
        (Text(outcome, style=OUTCOME_STYLES.get(outcome, "")), f"{counts[outcome]:,}", _share(counts[outcome], executions))
        for outcome in EXECUTION_OUTCOMES
    ]
    outcomes = table(["Outcome", "Executions", "Share"], [], title=None)
    for outcome, count, share in rows:
        outcomes.add_row(outcome, count, share)
    console.print()
    console.print(outcomes)
    failure_types = result.failure_type_counts()
    if failure_types:
        examples = result.failure_examples()
        console.print()
        console.print(
            table(
                ["Failure type", "Executions", "Example reason"],
                [(name, f"{count:,}", examples.get(name, "-")) for name, count in failure_types.items()],
            )
        )
    if result.idle:
        console.print()
        console.print(table(["Devices that ran nothing", "Devices"], [(k, f"{v:,}") for k, v in result.idle.items()]))
    if result.unfinished:
        console.print(f"\n{len(result.unfinished):,} device(s) did not finish (interrupted).", style="yellow")


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "-"
