"""moto's notion of now, taken from the emulator clock.

moto stamps things, thing groups, thing types and S3 objects with ``utcnow()`` and shadows with
``time.time()``; pointing those at the emulator clock makes every timestamp follow a scaled or
advanced clock, as AWS would after that much time.
"""

from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING

import moto.iot.models as _iot_models
import moto.iotdata.models as _iotdata_models
import moto.s3.models as _s3_models

if TYPE_CHECKING:
    from iotfleet.emulator.clock import EmulatorClock

PATCHED_ATTRIBUTES = ((_iot_models, "utcnow"), (_s3_models, "utcnow"), (_iotdata_models, "time"))
"""The (module, attribute) pairs :func:`use_clock` replaces."""


class _ClockTime:
    """Stands in for the ``time`` module inside moto.iotdata.models: shadows use the emulator clock."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now()


def use_clock(clock: EmulatorClock) -> None:
    def utcnow() -> _dt.datetime:
        return _dt.datetime.fromtimestamp(clock.now(), tz=_dt.timezone.utc).replace(tzinfo=None)

    _iot_models.utcnow = utcnow  # type: ignore[attr-defined]
    _s3_models.utcnow = utcnow  # type: ignore[attr-defined]
    _iotdata_models.time = _ClockTime(clock)  # type: ignore[assignment]
