"""The context reads the target's clock from the HTTP Date header, so emulator time counts, not this machine's."""

from __future__ import annotations

import time

from iotfleet.aws.context import AwsContext
from iotfleet.aws.settings import TargetSettings


def test_service_time_follows_the_target_clock(emulator) -> None:
    settings = TargetSettings.resolve(target="local", endpoint_url=emulator.endpoint_url, env={})
    with AwsContext(settings) as ctx:
        assert abs(ctx.service_time().timestamp() - time.time()) < 5
        emulator.advance(3 * 3600)
        assert abs(ctx.service_time().timestamp() - emulator.clock.now()) < 2
