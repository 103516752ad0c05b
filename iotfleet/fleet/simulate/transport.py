"""Which way a run's devices talk to AWS IoT: HTTPS (the jobs data plane, signed calls) or MQTT (each device's
own certificate from the fleet's key store), and everything checked before the first device starts.

With MQTT the devices connect to the account's ``iot:Data-ATS`` endpoint (``describe_endpoint``) on port
8883, unless :class:`MqttSettings` names another endpoint (the local emulator's). Their certificates and
keys are read from the key store that provisioning with ``--certificates`` wrote: ``~/.iotfleet/keys/<fleet>``
unless another folder is given, where the fleet is the run's ``--fleet`` or, in job scope, the fleet the
job's ``iotfleet:fleet`` tag names. The store must belong to that fleet in this account and region; a
device without a usable certificate in it fails on its own (the others run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from iotfleet.aws.context import AwsContext
from iotfleet.aws.errors import UsageError
from iotfleet.fleet.identity.keystore import CERTIFICATE_FILE, KEY_FILE, KeyStore, default_root
from iotfleet.fleet.ownership import FLEET_TAG, tag_dict
from iotfleet.fleet.simulate.channels import DeviceChannel, HttpsChannel
from iotfleet.fleet.simulate.mqtt_channel import MqttChannel
from iotfleet.fleet.simulate.mqtt_network import MqttEndpoint, MqttNetwork
from iotfleet.fleet.simulate.plan import SimulationPlan

HTTPS = "https"
MQTT = "mqtt"
TRANSPORTS = (HTTPS, MQTT)


@dataclass(frozen=True)
class MqttSettings:
    """Where MQTT devices connect (None: the account's ``iot:Data-ATS`` endpoint) and their key store (None:
    the fleet's default one)."""

    endpoint: MqttEndpoint | None = None
    keys_dir: str | None = None


class Transport(Protocol):
    name: str

    def channel(self, thing_name: str, wake: Callable[[], None]) -> DeviceChannel: ...

    def close(self) -> None: ...


class HttpsTransport:
    name = HTTPS

    def __init__(self, ctx: AwsContext) -> None:
        self.ctx = ctx

    def channel(self, thing_name: str, wake: Callable[[], None]) -> DeviceChannel:
        return HttpsChannel(self.ctx, thing_name)

    def close(self) -> None:
        return None


class MqttTransport:
    """Every device's connection on one network (one event loop), with certificates from one key store."""

    name = MQTT

    def __init__(self, ctx: AwsContext, endpoint: MqttEndpoint, store: KeyStore) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.store = store
        self.network = MqttNetwork(endpoint, pace=ctx.limiter.acquire, on_throttle=ctx.limiter.on_throttle).start()
        self._channels: list[MqttChannel] = []

    def credentials(self, thing_name: str) -> tuple[str, str]:
        """The thing's certificate and key files; KeyStoreError-like ValueError when the store has none usable."""
        entry = self.store.read_device(thing_name)
        if not entry.complete:
            reason = entry.problem or f"no certificate and key for {thing_name} in {self.store.root}"
            raise ValueError(f"{thing_name} cannot connect over MQTT: {reason} (provision --certificates)")
        return str(entry.folder / CERTIFICATE_FILE), str(entry.folder / KEY_FILE)

    def channel(self, thing_name: str, wake: Callable[[], None]) -> DeviceChannel:
        channel = MqttChannel(self.network, thing_name, self.credentials, self.ctx.limiter, wake)
        self._channels.append(channel)
        return channel

    def close(self) -> None:
        self.network.close()


def _fleet_of(ctx: AwsContext, plan: SimulationPlan) -> str | None:
    if plan.fleet is not None:
        return plan.fleet
    job_arn = (plan.job or {}).get("jobArn")
    if not job_arn:
        return None
    tags = ctx.iot.list_tags_for_resource(resourceArn=job_arn).get("tags") or []
    return tag_dict(tags).get(FLEET_TAG)


def open_transport(ctx: AwsContext, plan: SimulationPlan, name: str, mqtt: MqttSettings | None) -> Transport:
    """The run's transport, checked (usage errors name the flag) before any device starts."""
    if name == HTTPS:
        return HttpsTransport(ctx)
    if name != MQTT:
        raise UsageError(f"--transport must be one of {', '.join(TRANSPORTS)}, not {name!r}", "--transport")
    settings = mqtt or MqttSettings()
    fleet = _fleet_of(ctx, plan)
    if settings.keys_dir is None and fleet is None:
        raise UsageError(
            f"{plan.scope} has no iotfleet fleet tag, so its key store is unknown: give --keys-dir", "--keys-dir"
        )
    store = KeyStore(settings.keys_dir or default_root(fleet or ""))
    if fleet is not None:
        problem = store.binding_problem(fleet, ctx.account_id, ctx.region)
        if problem is not None:
            raise UsageError(f"the key store cannot be used: {problem}", "--keys-dir")
    if store.binding() is None:
        raise UsageError(
            f"{store.root} holds no device certificates: provision the fleet with --certificates first", "--keys-dir"
        )
    endpoint = settings.endpoint
    if endpoint is None:
        address = ctx.iot.describe_endpoint(endpointType="iot:Data-ATS")["endpointAddress"]
        endpoint = MqttEndpoint.parse(str(address))
    return MqttTransport(ctx, endpoint, store)
