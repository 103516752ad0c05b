"""Rate limiting and retries, attached to botocore clients through their event system.

Once :meth:`Pacer.attach` has run on a client, a plain ``client.create_thing(...)`` is paced and retried;
call sites need no wrapper.

Retry design. There is exactly one retry policy, this one. Clients are built with botocore's retries
reduced to a single attempt (``retries={"mode": "standard", "total_max_attempts": 1}``), so botocore's
handler never asks for a retry, and this module's ``needs-retry`` handler decides every retry:

* what: throttling (the codes in :data:`THROTTLING_CODES`, HTTP 429) and transient faults (the codes in
  :data:`TRANSIENT_CODES`, HTTP 500/502/503/504, connection errors and read timeouts). Nothing else.
* how long: full-jitter exponential backoff, ``uniform(0, min(max_delay, base_delay * 2**(attempt-1)))``,
  slept on the injected clock, so tests run on fake time.
* how often: at most ``max_attempts`` attempts per call (fewer, ``max_transient_attempts``, for faults
  and connection errors), and every retry spends one unit of a
  :class:`RetryBudget` shared by all calls of a context. Successes refill the budget slowly, so a
  healthy service never runs out while a failing one stops being hammered. When either bound is
  reached the ``ClientError`` (or connection error) surfaces to the caller.
* throttling also lowers the operation's rate in the :class:`RateLimiter`, which then recovers.

We chose our own handler over botocore's standard or adaptive mode because those sleep on the real
clock and pace per client rather than per operation; our token buckets must see every attempt,
including retries, on one shared, injectable clock.

Pacing happens on ``before-sign``, which botocore emits once per attempt right before it signs and
sends the request, so a long wait never leaves a stale signature. Presigning (``generate_presigned_url``)
also signs, but sends nothing and is not paced.
"""

from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from functools import partial
from typing import Any

from botocore.client import BaseClient
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import HTTPClientError, SSLError

from iotfleet.aws.errors import THROTTLING_CODES, THROTTLING_STATUSES, TRANSIENT_CODES, TRANSIENT_STATUSES
from iotfleet.aws.quotas import operation_key
from iotfleet.aws.ratelimit import RateLimiter
from iotfleet.clock import Clock

API_LOGGER = logging.getLogger("iotfleet.api")

THROTTLED = "throttled"
TRANSIENT = "transient"

# Where a call's retry reasons are kept in botocore's per-call context (read by the debug log).
RETRY_REASONS_KEY = "iotfleet_retry_reasons"


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a call gets and how long to back off between them."""

    max_attempts: int = 8
    # Faults and connection errors get fewer attempts than throttling: they rarely pass within seconds.
    max_transient_attempts: int = 5
    base_delay: float = 0.1
    max_delay: float = 5.0

    def attempts_for(self, kind: str) -> int:
        """The attempt limit for a :data:`THROTTLED` or :data:`TRANSIENT` failure."""
        if kind == TRANSIENT:
            return min(self.max_attempts, self.max_transient_attempts)
        return self.max_attempts

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The delay before the attempt after ``attempt`` (1-based): full jitter, capped."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Retries shared by every call of one context: each retry spends one, each success refunds a little."""

    def __init__(self, capacity: int, refund: float = 0.1) -> None:
        self.capacity = float(capacity)
        self._refund = refund
        self._available = float(capacity)
        self._lock = threading.Lock()

    @property
    def available(self) -> float:
        with self._lock:
            return self._available

    def try_spend(self) -> bool:
        """Take one retry from the budget; False when it is empty."""
        with self._lock:
            if self._available < 1.0:
                return False
            self._available -= 1.0
            return True

    def on_success(self) -> None:
        with self._lock:
            self._available = min(self.capacity, self._available + self._refund)


def classify(response: tuple[Any, dict[str, Any]] | None, caught_exception: BaseException | None) -> str | None:
    """Whether an attempt was :data:`THROTTLED`, :data:`TRANSIENT` or neither (None)."""
    if caught_exception is not None:
        if isinstance(caught_exception, SSLError):
            return None
        if isinstance(caught_exception, (BotoConnectionError, HTTPClientError)):
            return TRANSIENT
        return None
    if response is None:
        return None
    http_response, parsed = response
    status = getattr(http_response, "status_code", 0)
    code = (parsed or {}).get("Error", {}).get("Code")
    if code in THROTTLING_CODES or status in THROTTLING_STATUSES:
        return THROTTLED
    if code in TRANSIENT_CODES or status in TRANSIENT_STATUSES:
        return TRANSIENT
    return None


def _reason(response: tuple[Any, dict[str, Any]] | None, caught_exception: BaseException | None) -> str:
    if caught_exception is not None:
        return type(caught_exception).__name__
    assert response is not None
    http_response, parsed = response
    code = (parsed or {}).get("Error", {}).get("Code")
    return str(code or f"HTTP {getattr(http_response, 'status_code', '?')}")


class Pacer:
    """Attaches one limiter, retry policy and retry budget to any number of clients."""

    def __init__(
        self,
        limiter: RateLimiter,
        policy: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        logger: logging.Logger = API_LOGGER,
    ) -> None:
        self.limiter = limiter
        self.policy = policy or RetryPolicy()
        self.budget = budget or RetryBudget(100)
        self._clock = clock or limiter.clock
        self._rng = rng or random.Random()
        self._logger = logger

    def attach(self, client: BaseClient) -> None:
        """Register the pacing and retry handlers on ``client``'s own event emitter."""
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register("before-sign", partial(self._before_sign, service), unique_id="iotfleet-pace")
        events.register("needs-retry", partial(self._needs_retry, service), unique_id="iotfleet-retry")
        events.register("after-call", partial(self._after_call, service), unique_id="iotfleet-service-name")

    def _before_sign(self, service: str, *, operation_name: str, request: Any, **_: Any) -> None:
        if getattr(request, "context", {}).get("is_presign_request"):
            return
        self.limiter.acquire(operation_key(service, operation_name))

    def _needs_retry(
        self,
        service: str,
        *,
        response: tuple[Any, dict[str, Any]] | None,
        operation: Any,
        attempts: int,
        caught_exception: BaseException | None,
        request_dict: dict[str, Any],
        **_: Any,
    ) -> float | None:
        key = operation_key(service, operation.name)
        kind = classify(response, caught_exception)
        if kind is None:
            if caught_exception is None:
                self.limiter.on_success(key)
                self.budget.on_success()
            return None
        if kind == THROTTLED:
            self.limiter.on_throttle(key)
        reason = _reason(response, caught_exception)
        limit = self.policy.attempts_for(kind)
        if attempts >= limit:
            self._logger.debug("%s: %s on attempt %d; no attempts left", key, reason, attempts)
            return None
        if not self.budget.try_spend():
            self._logger.debug("%s: %s on attempt %d; retry budget exhausted", key, reason, attempts)
            return None
        delay = self.policy.backoff(attempts, self._rng)
        request_dict.get("context", {}).setdefault(RETRY_REASONS_KEY, []).append(reason)
        self._logger.debug(
            "%s: %s on attempt %d of %d; retrying in %.3fs", key, reason, attempts, limit, delay
        )
        self._clock.sleep(delay)
        # We slept on our own clock; botocore then sleeps for the returned 0 seconds and retries.
        return 0.0

    def _after_call(self, service: str, *, http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        # A ClientError does not know its service; record it where AwsOperationError looks for it.
        if getattr(http_response, "status_code", 0) >= 300 and isinstance(parsed, dict):
            parsed.setdefault("ResponseMetadata", {})["ServiceName"] = service
