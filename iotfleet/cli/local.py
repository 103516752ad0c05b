"""``iotfleet local start|status|stop``: the local emulator as a background server (or in the foreground)."""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from iotfleet.aws.errors import OperationFailed, UsageError
from iotfleet.cli.output import Output, key_values
from iotfleet.cli.state import CliState, pass_state
from iotfleet.emulator.clock import MAX_TIME_SCALE

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4567
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _background() -> Any:
    """iotfleet.emulator.background, or a usage error naming the missing dependency."""
    try:
        from iotfleet.emulator import background
    except ModuleNotFoundError as exc:
        raise UsageError(
            f"the local emulator needs its dependencies ({exc.name} is missing): pip install 'iotfleet[local]'"
        ) from None
    return background


@click.group()
def local() -> None:
    """Run the local emulator: an AWS-compatible endpoint for iot, iot-data, iot-jobs-data, s3, iam and sts.

    \b
    Examples:
      iotfleet local start
      iotfleet local start --port 4600 --tls
      iotfleet local status
      iotfleet local stop
    """


@local.command()
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to listen on (0 picks a free one).")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to bind. The default accepts connections from this machine only.")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a locally generated CA (printed, for AWS_CA_BUNDLE).")
@click.option("--mqtt-port", type=click.IntRange(0, 65535), default=None, metavar="PORT",
              help="Port of the MQTT endpoint (mutual TLS, device certificates).  [default: 8883; a free one with --port 0]")
@click.option("--no-mqtt", is_flag=True, help="Run without the MQTT endpoint.")
@click.option("--enforce-quotas", is_flag=True, help="Throttle calls above the AWS rate quotas.")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True, max=MAX_TIME_SCALE), default=1.0, show_default=True,
              metavar="N", help="Run the emulator clock N times faster than real time (demos).")
@click.option("--fault-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True, metavar="RATE",
              help="Share of AWS calls that fail with a 500, 503 or throttle, to try how clients survive faults.")
@click.option("--fault-after", type=click.FloatRange(0, 1), default=0.0, show_default=True, metavar="SHARE",
              help="Share of those faults that come after the call took effect: a 500, a 503 or a dropped connection.")
@click.option("--fault-seed", type=int, default=0, show_default=True, metavar="N",
              help="Seed of the fault draws (the same calls in the same order meet the same faults).")
@click.option("--foreground", is_flag=True, help="Run in this terminal until Ctrl-C instead of in the background.")
@pass_state
def start(
    state: CliState, port: int, host: str, tls: bool, mqtt_port: int | None, no_mqtt: bool, enforce_quotas: bool,
    time_scale: float, fault_rate: float, fault_after: float, fault_seed: int, foreground: bool,
) -> None:
    """Start the emulator (in the background unless --foreground), with its MQTT endpoint for devices.

    \b
    Examples:
      iotfleet local start
      iotfleet local start --enforce-quotas --time-scale 60
      iotfleet local start --foreground --tls
      iotfleet local start --port 0 --mqtt-port 0
      iotfleet local start --no-mqtt
      iotfleet local start --fault-rate 0.05 --fault-after 0.5
    """  # fmt: skip
    output = state.output
    if host not in LOOPBACK:
        output.warn(f"binding to {host}: other machines can reach the emulator, which has no authentication")
    from iotfleet.emulator.settings import EmulatorSettings, default_mqtt_port

    settings = EmulatorSettings(
        host=host, port=port, tls=tls, enforce_quotas=enforce_quotas, time_scale=time_scale, mqtt=not no_mqtt,
        mqtt_port=default_mqtt_port(port) if mqtt_port is None else mqtt_port, fault_rate=fault_rate,
        fault_after=fault_after, fault_seed=fault_seed,
    )
    if foreground:
        from iotfleet.emulator.server import serve

        try:
            serve(settings)
        except OSError as exc:
            raise OperationFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}", []) from exc
        return
    background = _background()
    try:
        status = background.start(settings)
    except background.BackgroundError as exc:
        raise OperationFailed(str(exc), []) from exc
    _show(output, status, "Started the local emulator")
    if status.tls:
        output.info(f"Trust its certificate with: export AWS_CA_BUNDLE={status.ca_path}")
    if status.mqtt_endpoint:
        output.info(f"Devices connect over MQTT to {status.mqtt_endpoint} (server certificate signed by {status.ca_path})")


@local.command()
@pass_state
def status(state: CliState) -> None:
    """Show whether the background emulator runs, where, and its log file. Exits 1 when it is not running."""
    output = state.output
    current = _background().status()
    _show(output, current, "The local emulator is running" if current.running else "The local emulator is not running")
    if not current.running:
        raise click.exceptions.Exit(1)


@local.command()
@pass_state
def stop(state: CliState) -> None:
    """Stop the background emulator (all its state is lost)."""
    output = state.output
    if _background().stop():
        output.info("Stopped the local emulator")
    else:
        output.info("The local emulator was not running")


def _show(output: Output, status: Any, headline: str) -> None:
    data = status.as_dict()

    def render(console: Console) -> None:
        console.print(headline)
        rows = [("Endpoint", data["endpoint_url"]), ("MQTT endpoint", data["mqtt_endpoint"] or "off"),
                ("PID", data["pid"]), ("Log", data["log"])]  # fmt: skip
        if data["ca_certificate"]:
            rows.append(("CA certificate", data["ca_certificate"]))
        console.print(key_values(rows))

    output.result(data, render=render)
