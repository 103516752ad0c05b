"""The error types of iotfleet and the exit codes they map to.

Exit codes: 0 ok, 1 an operation failed, 2 bad input or usage, 130 interrupted.

Call sites that expect a particular AWS error handle exactly that code and re-raise the rest::

    try:
        ctx.iot.create_thing_type(thingTypeName=name)
    except ClientError as err:
        if not is_error(err, "ResourceAlreadyExistsException"):
            raise
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

# Error codes AWS services use to say "slow down". The access layer lowers its rate and retries them.
# LimitExceededException is deliberately absent: IoT uses it for hard limits (for example the number of
# dynamic groups), which no retry can fix.
THROTTLING_CODES: frozenset[str] = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestThrottled",
        "RequestThrottledException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "BandwidthLimitExceeded",
        "SlowDown",
        "EC2ThrottledException",
        "PriorRequestNotComplete",
    }
)

# Error codes of faults on the service side that usually pass. They are retried with backoff.
TRANSIENT_CODES: frozenset[str] = frozenset(
    {
        "InternalFailure",
        "InternalFailureException",
        "InternalError",
        "InternalServerError",
        "InternalServiceError",
        "InternalException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "ServiceFailureException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

# HTTP statuses that mean the same as the codes above when a response carries no usable code.
THROTTLING_STATUSES: frozenset[int] = frozenset({429})
TRANSIENT_STATUSES: frozenset[int] = frozenset({500, 502, 503, 504})


def error_code(err: ClientError) -> str:
    """The AWS error code of a ``ClientError`` (empty when the response carried none)."""
    return str(err.response.get("Error", {}).get("Code") or "")


def is_error(exc: BaseException, *codes: str) -> bool:
    """True when ``exc`` is an AWS error whose code is one of ``codes``."""
    if isinstance(exc, ClientError):
        return error_code(exc) in codes
    if isinstance(exc, AwsOperationError):
        return exc.code in codes
    return False


class IotFleetError(Exception):
    """Base of every error iotfleet raises on purpose; ``exit_code`` is what the CLI exits with."""

    exit_code: int = EXIT_FAILED


class UsageError(IotFleetError):
    """Bad input or usage: nothing was changed. ``param`` names the flag (or setting) at fault."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class AwsOperationError(IotFleetError):
    """An AWS call failed; it keeps what is needed to understand and report the failure."""

    exit_code = EXIT_FAILED

    def __init__(
        self,
        *,
        service: str,
        operation: str,
        code: str,
        message: str,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.service = service
        self.operation = operation
        self.code = code
        self.message = message
        self.request_id = request_id
        self.http_status = http_status
        super().__init__(self._describe())

    def _describe(self) -> str:
        details = [f"HTTP {self.http_status}" if self.http_status else None]
        if self.request_id:
            details.append(f"request id {self.request_id}")
        suffix = ", ".join(d for d in details if d)
        text = f"{self.service} {self.operation} failed: {self.code or 'error'}: {self.message or '(no message)'}"
        return f"{text} ({suffix})" if suffix else text

    @classmethod
    def from_client_error(
        cls, err: ClientError, service: str | None = None, *, message: str | None = None
    ) -> AwsOperationError:
        """Build one from botocore's ``ClientError``; ``message`` replaces AWS's when iotfleet knows better.

        The service name comes from ``service`` or, for calls made through an :class:`AwsContext` client,
        from the response metadata the access layer records.
        """
        response: dict[str, Any] = err.response or {}
        error = response.get("Error", {})
        metadata = response.get("ResponseMetadata", {})
        return cls(
            service=service or str(metadata.get("ServiceName") or "aws"),
            operation=str(err.operation_name or "unknown"),
            code=str(error.get("Code") or ""),
            message=str(error.get("Message") or "") if message is None else message,
            request_id=metadata.get("RequestId") or None,
            http_status=metadata.get("HTTPStatusCode"),
        )


@dataclass(frozen=True)
class ResourceFailure:
    """One resource that could not be handled, and why."""

    kind: str
    name: str
    error: str
    code: str | None = None

    @classmethod
    def from_exception(cls, kind: str, name: str, exc: BaseException) -> ResourceFailure:
        """Describe ``exc`` for the resource ``kind``/``name``, keeping the AWS error code when there is one."""
        if isinstance(exc, ClientError):
            wrapped = AwsOperationError.from_client_error(exc)
            return cls(kind, name, str(wrapped), wrapped.code or None)
        if isinstance(exc, AwsOperationError):
            return cls(kind, name, str(exc), exc.code or None)
        return cls(kind, name, str(exc) or type(exc).__name__, None)


class OperationFailed(IotFleetError):
    """An operation over many resources finished with some of them failed; every failure is listed."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, failures: list[ResourceFailure]) -> None:
        super().__init__(message)
        self.message = message
        self.failures = list(failures)


class Interrupted(IotFleetError):
    """The user interrupted the work (Ctrl-C). ``partial`` holds what was done so far, when known."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted", partial: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.partial = partial
