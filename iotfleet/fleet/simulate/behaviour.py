"""How simulated devices behave: which executions succeed, how the others fail, and how long each step takes.

Everything is drawn from a random generator seeded with ``(seed, job, thing, attempt)``, where the attempt
counts the executions of that job the device ran (0 for the first, 1 for its first retry, ...). An
execution's fate therefore depends neither on the order in which threads happen to run it nor on the
execution numbers the service hands out, and a re-run with the same seed gives every device the same
outcomes and the same latencies.

* **Success rate** (0-100): each execution succeeds with that probability, independently. It is not "the
  first N succeed": with 2,000 devices at 80 % about 1,600 succeed, spread over the whole fleet.
* **Failure modes**, chosen by weight among the executions that do not succeed:

  ==========  ==========================================================================
  download    the artifact download breaks off: FAILED
  checksum    the downloaded bytes do not match the published SHA-256: FAILED
  install     the new firmware does not install: FAILED
  reject      the device refuses the job before downloading anything: REJECTED
  hang        the device reports IN_PROGRESS and then never again, so the job's step or
              in-progress timeout moves the execution to TIMED_OUT
  ==========  ==========================================================================

* **Latency** of each step (download, install), from a distribution written as text:

  ====================================  ===========================================================
  ``0``                                 no latency
  ``200ms``, ``1.5s``                   always that long
  ``50ms..500ms``                       uniform between the two
  ``lognormal:median=200ms,p95=2s``     log-normal with that median and 95th percentile
  ====================================  ===========================================================
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from iotfleet.aws.errors import UsageError

SUCCESS = "success"
DOWNLOAD = "download"
CHECKSUM = "checksum"
INSTALL = "install"
REJECT = "reject"
HANG = "hang"

FAILURE_MODES = (DOWNLOAD, CHECKSUM, INSTALL, REJECT, HANG)
DEFAULT_FAILURE_WEIGHTS = "download=1,checksum=1,install=1,reject=1,hang=0"
DEFAULT_LATENCY = "50ms..500ms"

# The 95th percentile of the standard normal distribution.
_Z95 = 1.6448536269514722
_DURATION = re.compile(r"^\s*(?P<value>\d+(?:\.\d*)?|\.\d+)\s*(?P<unit>ms|s|m)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``250ms``, ``1.5s``, ``2m`` or a bare number of seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{what} {text!r} is not a duration such as 250ms, 1.5s or 2m")
    return float(match["value"]) * _UNITS[match["unit"]]


@dataclass(frozen=True)
class LatencyModel:
    """A distribution of step latencies in seconds (see the module docstring for the notation)."""

    kind: str = "fixed"  # fixed | uniform | lognormal
    low: float = 0.0  # fixed value, or the uniform lower bound
    high: float = 0.0  # uniform upper bound
    median: float = 0.0
    p95: float = 0.0
    text: str = "0"

    @classmethod
    def parse(cls, text: str) -> LatencyModel:
        """Parse ``0``, ``200ms``, ``50ms..500ms`` or ``lognormal:median=200ms,p95=2s``; ValueError if bad."""
        spec = text.strip()
        if spec.startswith("lognormal:"):
            params: dict[str, float] = {}
            for part in spec[len("lognormal:") :].split(","):
                name, sep, value = part.partition("=")
                if not sep or name.strip() not in ("median", "p95"):
                    raise ValueError(f"latency {text!r}: expected lognormal:median=DURATION,p95=DURATION")
                params[name.strip()] = parse_duration(value, "latency")
            if set(params) != {"median", "p95"}:
                raise ValueError(f"latency {text!r}: give both median and p95")
            if not 0 < params["median"] <= params["p95"]:
                raise ValueError(f"latency {text!r}: need 0 < median <= p95")
            return cls("lognormal", median=params["median"], p95=params["p95"], text=spec)
        if ".." in spec:
            low_text, _, high_text = spec.partition("..")
            low, high = parse_duration(low_text, "latency"), parse_duration(high_text, "latency")
            if low > high:
                raise ValueError(f"latency {text!r}: the lower bound is above the upper bound")
            return cls("uniform", low=low, high=high, text=spec)
        return cls("fixed", low=parse_duration(spec, "latency"), text=spec)

    def sample(self, rng: random.Random) -> float:
        if self.kind == "uniform":
            return rng.uniform(self.low, self.high)
        if self.kind == "lognormal":
            mu = math.log(self.median)
            sigma = (math.log(self.p95) - mu) / _Z95
            return rng.lognormvariate(mu, sigma)
        return self.low

    def describe(self) -> str:
        return self.text


@dataclass(frozen=True)
class FailureWeights:
    """Relative weights of the failure modes; a mode left out has weight 0."""

    weights: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> FailureWeights:
        """Parse ``download=1,checksum=2,...``; ValueError on unknown modes, bad numbers or a zero sum."""
        weights = dict.fromkeys(FAILURE_MODES, 0.0)
        for raw in text.split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name = name.strip().lower()
            if not sep or name not in weights:
                raise ValueError(
                    f"failure weight {item!r}: expected MODE=WEIGHT with MODE one of {', '.join(FAILURE_MODES)}"
                )
            try:
                weight = float(value)
            except ValueError:
                raise ValueError(f"failure weight {item!r}: {value.strip()!r} is not a number") from None
            if weight < 0 or math.isnan(weight) or math.isinf(weight):
                raise ValueError(f"failure weight {item!r}: weights must be finite and not negative")
            weights[name] = weight
        if not sum(weights.values()) > 0:
            raise ValueError(f"failure weights {text!r} must sum to a positive number")
        return cls(weights)

    def choose(self, rng: random.Random) -> str:
        pick = rng.random() * sum(self.weights.values())
        for mode in FAILURE_MODES:
            weight = self.weights.get(mode, 0.0)
            if weight <= 0:
                continue
            pick -= weight
            if pick < 0:
                return mode
        return next(mode for mode in reversed(FAILURE_MODES) if self.weights.get(mode, 0.0) > 0)

    def describe(self) -> str:
        return ",".join(f"{mode}={self.weights.get(mode, 0.0):g}" for mode in FAILURE_MODES)


@dataclass(frozen=True)
class PlannedExecution:
    """What one device will do with one execution, decided before it starts."""

    outcome: str  # SUCCESS or one of FAILURE_MODES
    download_latency: float
    install_latency: float


@dataclass(frozen=True)
class BehaviourModel:
    """Success rate, failure weights, latency and seed: everything that decides what a device does."""

    success_rate: float = 100.0
    failure_weights: FailureWeights = field(default_factory=lambda: FailureWeights.parse(DEFAULT_FAILURE_WEIGHTS))
    latency: LatencyModel = field(default_factory=lambda: LatencyModel.parse(DEFAULT_LATENCY))
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.success_rate <= 100.0:
            raise ValueError(f"the success rate must be between 0 and 100, not {self.success_rate:g}")

    @classmethod
    def from_options(
        cls, *, success_rate: float, failure_weights: str, latency: str, seed: int
    ) -> BehaviourModel:
        """Build one from command-line text, turning bad values into usage errors that name the flag."""
        if not 0.0 <= success_rate <= 100.0:
            raise UsageError(f"the success rate must be between 0 and 100, not {success_rate:g}", "--success-rate")
        try:
            weights = FailureWeights.parse(failure_weights)
        except ValueError as exc:
            raise UsageError(str(exc), "--failure-weights") from None
        try:
            latency_model = LatencyModel.parse(latency)
        except ValueError as exc:
            raise UsageError(str(exc), "--latency") from None
        return cls(success_rate, weights, latency_model, seed)

    def rng_for(self, job_id: str, thing_name: str, attempt: int) -> random.Random:
        """The generator of one execution: the same for the same seed, whatever the run order."""
        return random.Random(f"{self.seed}/{job_id}/{thing_name}/{attempt}")

    def plan(self, job_id: str, thing_name: str, attempt: int = 0) -> PlannedExecution:
        """What the device does with its ``attempt``-th execution of the job (0: the first)."""
        rng = self.rng_for(job_id, thing_name, attempt)
        succeeds = rng.random() * 100.0 < self.success_rate
        outcome = SUCCESS if succeeds else self.failure_weights.choose(rng)
        return PlannedExecution(outcome, self.latency.sample(rng), self.latency.sample(rng))

    def describe(self) -> dict[str, object]:
        return {
            "successRate": self.success_rate,
            "failureWeights": self.failure_weights.describe(),
            "latency": self.latency.describe(),
            "seed": self.seed,
        }
