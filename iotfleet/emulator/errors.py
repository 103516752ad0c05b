"""AWS-shaped errors that extension handlers raise; the front app serialises them per protocol.

A handler raises ``ServiceError(code, message, status)`` or one of the named subclasses
(``ResourceNotFoundException("no such package")``), and the client sees what AWS would send: for
rest-json an ``x-amzn-ErrorType`` header and a JSON body with ``message``, which botocore turns into
``ClientError`` with that code.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS API error: ``code`` (the botocore error code), ``message`` and HTTP ``status``.

    ``fields`` become extra members of the error body (for example ``resourceId`` and
    ``resourceArn`` of ``ResourceAlreadyExistsException``).
    """

    code: str = "ServiceError"
    status: int = 400

    def __init__(self, code: str, message: str = "", status: int | None = None, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        if status is not None:
            self.status = status
        self.message = message
        self.fields = fields

    def __str__(self) -> str:
        return f"{self.code} ({self.status}): {self.message}"


class NamedServiceError(ServiceError):
    """Base of the errors whose class name is the code: ``ResourceNotFoundException("message")``."""

    def __init__(self, message: str = "", status: int | None = None, **fields: Any) -> None:
        super().__init__(type(self).code, message, status, **fields)


class ResourceNotFoundException(NamedServiceError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidRequestException(NamedServiceError):
    code = "InvalidRequestException"
    status = 400


class ResourceAlreadyExistsException(NamedServiceError):
    code = "ResourceAlreadyExistsException"
    status = 409


class ConflictException(NamedServiceError):
    code = "ConflictException"
    status = 409


class VersionConflictException(NamedServiceError):
    code = "VersionConflictException"
    status = 409


class InvalidStateTransitionException(NamedServiceError):
    code = "InvalidStateTransitionException"
    status = 409


class TerminalStateException(NamedServiceError):
    code = "TerminalStateException"
    status = 410


class NotConfiguredException(NamedServiceError):
    """An account setting read before it was ever set (GetV2LoggingOptions)."""

    code = "NotConfiguredException"
    status = 404


class ThrottlingException(NamedServiceError):
    code = "ThrottlingException"
    status = 429


class LimitExceededException(NamedServiceError):
    code = "LimitExceededException"
    status = 410


class InvalidQueryException(NamedServiceError):
    code = "InvalidQueryException"
    status = 400


class IndexNotReadyException(NamedServiceError):
    code = "IndexNotReadyException"
    status = 400


class ValidationException(NamedServiceError):
    code = "ValidationException"
    status = 400


class InternalFailureException(NamedServiceError):
    code = "InternalFailureException"
    status = 500


class ServiceUnavailableException(NamedServiceError):
    code = "ServiceUnavailableException"
    status = 503


class NotImplementedException(NamedServiceError):
    """The emulator recognises the operation but does not implement it."""

    code = "NotImplementedException"
    status = 501


class UnknownOperationException(NamedServiceError):
    """No operation of the service matches the request's method and path."""

    code = "UnknownOperationException"
    status = 404


def constraint_error(
    value: Any, member: str, rule: str, error: type[ServiceError] = ValidationException
) -> ServiceError:
    """AWS's wording for one input that fails one constraint, e.g. a name that does not match its pattern."""
    return error(
        f"1 validation error detected: Value {value!r} at '{member}' failed to satisfy constraint: {rule}"
    )
