"""How many executions a job's rollout releases each minute.

The rules, from AWS's description of job rollout rates and chosen where AWS leaves room:

* The rollout works in one-minute steps. A step starts when the rollout opens (the job starts, its
  scheduled ``startTime`` arrives, or a maintenance window opens) and every 60 seconds after that while
  it stays open. At the start of each step, up to ``rate`` targets are released: each gets a QUEUED
  execution, which is the moment a device can see it (AWS's "notified"). So after ``n`` whole minutes
  ``rate * (n + 1)`` executions exist, and the first ``rate`` appear at once.
* ``maximumPerMinute`` is a constant rate. Without any rollout configuration AWS applies its maximum,
  1000 per minute, and so does the emulator.
* ``exponentialRate`` starts at ``baseRatePerMinute``. Each time the criterion count grows by another
  ``numberOfNotifiedThings`` (things released) or ``numberOfSucceededThings`` (things whose execution
  SUCCEEDED), the rate is multiplied by ``incrementFactor``: with a count ``c`` and a threshold ``N`` the
  rate is ``floor(base * factor ** floor(c / N))``, capped at 1000. This reproduces AWS's own example
  (base 50, factor 2, N 1000: 50/min until 1000 things, 100 until 2000, 200 until 3000, 400 ...). The
  rate is read at the start of each step, so an increase earned during a minute applies from the
  next one.
* ``rateIncreaseCriteria`` may set both thresholds, as AWS's developer guide example does; the rate then
  increases when either is met. The k-th increase is earned as soon as ``k * numberOfNotifiedThings``
  things were notified or ``k * numberOfSucceededThings`` succeeded, whichever comes first, so the
  number of increases is the larger of the two counts: ``max(floor(n / Nn), floor(s / Ns))``. With one
  threshold this is the rule above.
* Things that join a continuous job's target groups after the rollout started are released at once,
  outside the rate: AWS documents that the rollout rate only governs the things targeted when the
  job was created.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from iotfleet.emulator.errors import InvalidRequestException

MAX_RATE_PER_MINUTE = 1000
STEP_SECONDS = 60.0


@dataclass(frozen=True)
class RolloutRate:
    """A job's rollout rate: constant, or exponential with its increase criteria (one or both)."""

    base: int
    factor: float = 1.0
    notified_threshold: int | None = None
    succeeded_threshold: int | None = None

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> RolloutRate:
        """Validate a ``jobExecutionsRolloutConfig`` and build the rate it describes."""
        if not config:
            return cls(MAX_RATE_PER_MINUTE)
        maximum = config.get("maximumPerMinute")
        exponential = config.get("exponentialRate")
        if maximum is not None and exponential is not None:
            raise InvalidRequestException(
                "jobExecutionsRolloutConfig takes either maximumPerMinute or exponentialRate, not both"
            )
        if exponential is not None:
            return cls._exponential(exponential)
        if maximum is None:
            return cls(MAX_RATE_PER_MINUTE)
        if isinstance(maximum, bool) or not isinstance(maximum, int):
            raise InvalidRequestException("maximumPerMinute must be an integer")
        if not 1 <= maximum <= MAX_RATE_PER_MINUTE:
            raise InvalidRequestException(
                f"maximumPerMinute must be between 1 and {MAX_RATE_PER_MINUTE}, got {maximum}"
            )
        return cls(maximum)

    @classmethod
    def _exponential(cls, config: dict[str, Any]) -> RolloutRate:
        base = config.get("baseRatePerMinute")
        factor = config.get("incrementFactor")
        criteria = config.get("rateIncreaseCriteria") or {}
        if isinstance(base, bool) or not isinstance(base, int) or not 1 <= base <= MAX_RATE_PER_MINUTE:
            raise InvalidRequestException(
                f"exponentialRate.baseRatePerMinute must be an integer between 1 and {MAX_RATE_PER_MINUTE}"
            )
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not 1.1 <= factor <= 5:
            raise InvalidRequestException("exponentialRate.incrementFactor must be between 1.1 and 5")
        if round(factor, 1) != factor:
            raise InvalidRequestException(
                "exponentialRate.incrementFactor supports one digit after the decimal point (1.5, not 1.55)"
            )
        notified = criteria.get("numberOfNotifiedThings")
        succeeded = criteria.get("numberOfSucceededThings")
        if notified is None and succeeded is None:
            raise InvalidRequestException(
                "exponentialRate.rateIncreaseCriteria needs numberOfNotifiedThings, numberOfSucceededThings "
                "or both"
            )
        for threshold in (notified, succeeded):
            if threshold is not None and (
                isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 1
            ):
                raise InvalidRequestException("rateIncreaseCriteria thresholds must be integers of at least 1")
        return cls(base, float(factor), notified, succeeded)

    @property
    def is_exponential(self) -> bool:
        return self.notified_threshold is not None or self.succeeded_threshold is not None

    def per_minute(self, notified: int, succeeded: int) -> int:
        """The number of releases allowed in the minute that starts now."""
        if not self.is_exponential:
            return self.base
        increases = max(
            notified // self.notified_threshold if self.notified_threshold is not None else 0,
            succeeded // self.succeeded_threshold if self.succeeded_threshold is not None else 0,
        )
        # Past ~60 increases any factor >= 1.1 has reached the cap; stop before floats overflow.
        if increases > 200:
            return MAX_RATE_PER_MINUTE
        # The epsilon keeps float noise (100 * 1.1 = 110.00000000000001, or just under) from moving floor().
        rate = math.floor(self.base * self.factor**increases + 1e-9)
        return min(MAX_RATE_PER_MINUTE, max(self.base, rate))
