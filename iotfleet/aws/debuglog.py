"""Debug mode: a log line for every API call, with secrets redacted.

Each call is logged on the ``iotfleet.api`` logger at DEBUG level: service, operation, parameters,
response (shortened), HTTP status, duration and retries. Retry decisions are logged on the same logger
by :mod:`iotfleet.aws.pacing`.

:func:`redact` is the one place that knows what a secret looks like. It is used for the log and by
anything else that shows AWS data to a person. It hides:

* values of fields named like access keys, secret keys, session or security tokens, passwords,
  private keys and ``Authorization`` headers, at any depth (so sts/iam ``Credentials`` dicts, request
  headers and ``keyPair`` answers are covered);
* presigned-URL query values ``X-Amz-Signature``, ``X-Amz-Credential``, ``X-Amz-Security-Token``
  (also the SigV2 ``Signature``/``AWSAccessKeyId``, and URL-encoded forms) anywhere inside strings, such
  as job documents;
* access key ids (``AKIA...``/``ASIA...``), PEM private keys, and secrets in JSON or XML text;
* any known secret value handed to :class:`Redactor`, raw or URL-encoded once or twice (the context
  passes its own credentials).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from functools import partial
from typing import Any
from urllib.parse import quote

from botocore.client import BaseClient

from iotfleet.aws.pacing import API_LOGGER, RETRY_REASONS_KEY

REDACTED = "***"

_SECRET_FIELDS = frozenset(
    {
        "accesskey",
        "accesskeyid",
        "awsaccesskeyid",
        "secretkey",
        "secretaccesskey",
        "awssecretaccesskey",
        "sessiontoken",
        "awssessiontoken",
        "securitytoken",
        "xamzsecuritytoken",
        "xamzsignature",
        "xamzcredential",
        "signature",
        "authorization",
        "password",
        "privatekey",
        "clientsecret",
    }
)
# A field of this name is hidden when it holds a plain value; a dict under it is walked field by field.
_SECRET_CONTAINERS = frozenset({"credentials", "credential"})

_QUERY_SECRET = re.compile(
    r"(?i)(?<![a-z_])(x-amz-signature|x-amz-credential|x-amz-security-token|awsaccesskeyid|signature|credential)"
    r"(=|%3d)((?:(?!%26)[^&\s\"'<>\\,;{}|])*)"
)
_HEADER_SECRET = re.compile(r"(?im)^(\s*(?:authorization|x-amz-security-token)\s*:\s*)(.+)$")
_TEXT_SECRET = re.compile(
    r"(?i)(\"?(?:secret_?access_?key|aws_secret_access_key|session_?token|aws_session_token|security_?token|"
    r"access_?key_?id|aws_access_key_id|private_?key|password)\"?\s*[:=]\s*\"?)([^\"\s,&}<]+)"
)
_XML_SECRET = re.compile(r"(?i)<(secretaccesskey|sessiontoken|securitytoken|accesskeyid|privatekey)>[^<]*</\1>")
_PEM_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S)
_ACCESS_KEY_ID = re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")

MAX_STRING = 1000
MAX_ITEMS = 25
MAX_LINE = 10_000


def _normalise(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


class Redactor:
    """Copies data with every secret replaced by ``***``; see the module docstring for what counts."""

    def __init__(self, known_secrets: Callable[[], Iterable[str | None]] | Iterable[str | None] = ()) -> None:
        self._known = known_secrets

    def __call__(self, obj: Any) -> Any:
        known = self._known() if callable(self._known) else self._known
        forms: set[str] = set()
        for secret in known:
            if secret and len(secret) >= 6:
                once = quote(secret, safe="")
                forms.update({secret, once, quote(once, safe="")})
        return self._walk(obj, sorted(forms, key=len, reverse=True))

    def text(self, value: str) -> str:
        """Redact one string."""
        result = self(value)
        assert isinstance(result, str)
        return result

    def _walk(self, obj: Any, secrets: list[str]) -> Any:
        if isinstance(obj, str):
            return self._scrub(obj, secrets)
        if obj is None or isinstance(obj, (bool, int, float)):
            return obj
        if isinstance(obj, Mapping):
            return {str(key): self._field(str(key), value, secrets) for key, value in obj.items()}
        if isinstance(obj, (list, tuple, set, frozenset)):
            return [self._walk(item, secrets) for item in obj]
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return f"<{len(obj)} bytes>"
        if isinstance(obj, (dt.datetime, dt.date)):
            return obj.isoformat()
        if hasattr(obj, "read"):
            return f"<{type(obj).__name__}>"
        return self._scrub(str(obj), secrets)

    def _field(self, key: str, value: Any, secrets: list[str]) -> Any:
        name = _normalise(key)
        if name in _SECRET_FIELDS and value is not None:
            return REDACTED
        if name in _SECRET_CONTAINERS and not isinstance(value, (Mapping, list, tuple)) and value is not None:
            return REDACTED
        return self._walk(value, secrets)

    @staticmethod
    def _scrub(text: str, secrets: list[str]) -> str:
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        text = _PEM_PRIVATE_KEY.sub(REDACTED, text)
        text = _QUERY_SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
        text = _HEADER_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        text = _XML_SECRET.sub(lambda m: f"<{m.group(1)}>{REDACTED}</{m.group(1)}>", text)
        text = _TEXT_SECRET.sub(lambda m: f"{m.group(1)}{REDACTED}", text)
        return _ACCESS_KEY_ID.sub(REDACTED, text)


_DEFAULT_REDACTOR = Redactor()


def redact(obj: Any) -> Any:
    """A copy of ``obj`` (dicts, lists, strings, ...) that is safe to show: secrets are ``***``."""
    return _DEFAULT_REDACTOR(obj)


def shorten(obj: Any, max_string: int = MAX_STRING, max_items: int = MAX_ITEMS) -> Any:
    """Cut long strings and lists of already redacted data, saying how much was left out."""
    if isinstance(obj, str):
        if len(obj) <= max_string:
            return obj
        return f"{obj[:max_string]}... (+{len(obj) - max_string} chars)"
    if isinstance(obj, dict):
        return {key: shorten(value, max_string, max_items) for key, value in obj.items()}
    if isinstance(obj, list):
        items = [shorten(item, max_string, max_items) for item in obj[:max_items]]
        if len(obj) > max_items:
            items.append(f"... (+{len(obj) - max_items} items)")
        return items
    return obj


class ApiCallLog:
    """Logs every call of the clients it is attached to; attach only in debug mode."""

    def __init__(self, redactor: Redactor | None = None, logger: logging.Logger = API_LOGGER) -> None:
        self._redact = redactor or _DEFAULT_REDACTOR
        self._logger = logger

    def attach(self, client: BaseClient) -> None:
        service = client.meta.service_model.service_name
        events = client.meta.events
        events.register("before-parameter-build", partial(self._started, service), unique_id="iotfleet-log-start")
        events.register("after-call", partial(self._finished, service), unique_id="iotfleet-log-done")
        events.register("after-call-error", partial(self._failed, service), unique_id="iotfleet-log-error")

    def _started(
        self, service: str, *, params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        # Copy (and redact) now: later handlers add generated fields such as client tokens.
        context["iotfleet_log"] = {
            "started": time.perf_counter(),
            "operation": model.name,
            "params": self._redact(params),
        }

    def _finished(
        self,
        service: str,
        *,
        http_response: Any,
        parsed: Mapping[str, Any],
        model: Any,
        context: dict[str, Any],
        **_: Any,
    ) -> None:
        status = getattr(http_response, "status_code", None)
        response = {key: value for key, value in parsed.items() if key != "ResponseMetadata"}
        metadata = parsed.get("ResponseMetadata", {})
        if metadata.get("RequestId"):
            response["RequestId"] = metadata["RequestId"]
        outcome = f"HTTP {status}"
        code = parsed.get("Error", {}).get("Code")
        if code:
            outcome += f" {code}"
        self._log(service, model.name, context, outcome, response)

    def _failed(self, service: str, *, exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        operation = context.get("iotfleet_log", {}).get("operation", "?")
        self._log(service, operation, context, f"{type(exception).__name__}: {exception}", None)

    def _log(
        self, service: str, operation: str, context: dict[str, Any], outcome: str, response: Any
    ) -> None:
        started = context.get("iotfleet_log", {})
        elapsed_ms = (time.perf_counter() - started["started"]) * 1000 if "started" in started else 0.0
        attempts = context.get("retries", {}).get("attempt", 1)
        reasons = context.get(RETRY_REASONS_KEY, [])
        retries = f"retries {attempts - 1}" + (f" ({', '.join(reasons)})" if reasons else "")
        params = json.dumps(shorten(started.get("params", {})), default=str, ensure_ascii=False)
        line = f"{service}:{operation} -> {outcome} in {elapsed_ms:.1f} ms, {retries}; params={params}"
        if response is not None:
            body = json.dumps(shorten(self._redact(response)), default=str, ensure_ascii=False)
            line += f"; response={body}"
        if len(line) > MAX_LINE:
            line = f"{line[:MAX_LINE]}... (+{len(line) - MAX_LINE} chars)"
        self._logger.debug("%s", self._redact(line))
