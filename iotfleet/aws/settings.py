"""Where iotfleet talks to and how: the target settings, merged from defaults, config file, env and flags.

Priority, lowest first: built-in defaults < config file < environment < explicit arguments (CLI flags).

The config file is ``$IOTFLEET_CONFIG`` if set, else ``$XDG_CONFIG_HOME/iotfleet/config.toml`` (by default
``~/.config/iotfleet/config.toml``)::

    target = "aws"            # or "local"
    profile = "fleet-admin"
    region = "eu-west-1"
    endpoint_url = "http://127.0.0.1:4567"
    concurrency = 16
    debug = false

    [quotas]                  # TPS per operation, or per service with "service:*"
    "iot:CreateThing" = 50

    [retry]
    max_attempts = 8          # attempts per call, first one included
    budget = 100              # retries shared by all calls of one context
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from botocore.session import get_session

from iotfleet.aws import quotas
from iotfleet.aws.errors import UsageError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TARGETS = ("aws", "local")
LOCAL_ENDPOINT = "http://127.0.0.1:4567"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = ("testing", "testing")
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 512
DEFAULT_MAX_ATTEMPTS = 8
DEFAULT_RETRY_BUDGET = 100

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_CONFIG_KEYS = {"target", "profile", "region", "endpoint_url", "concurrency", "debug", "quotas", "retry"}
_RETRY_KEYS = {"max_attempts", "budget"}


@dataclass(frozen=True)
class TargetSettings:
    """Everything needed to build an :class:`~iotfleet.aws.context.AwsContext`."""

    target: str = "aws"
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    # True when endpoint_url is the local target's default rather than something configured.
    endpoint_default: bool = False
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    quota_overrides: dict[str, float] = field(default_factory=dict)
    debug: bool = False
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    retry_budget: int = DEFAULT_RETRY_BUDGET
    config_path: Path | None = None

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def quotas(self) -> dict[str, float]:
        """The quota table in force: the defaults with the overrides applied."""
        return quotas.merged(self.quota_overrides)

    def with_debug(self, debug: bool = True) -> TargetSettings:
        return replace(self, debug=debug)

    @classmethod
    def resolve(
        cls,
        *,
        target: str | None = None,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        concurrency: int | None = None,
        debug: bool | None = None,
        quota_overrides: Iterable[str] | Mapping[str, float] | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        max_attempts: int | None = None,
        retry_budget: int | None = None,
        config_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> TargetSettings:
        """Merge defaults < config file < ``env`` (default ``os.environ``) < the arguments given here.

        Raises :class:`UsageError` naming the flag, variable or file at fault.
        """
        env = os.environ if env is None else env
        path = _config_path(config_path, env)
        config = _read_config(path) if path is not None else {}
        where = str(path)

        chosen_target = _first(target, env.get("IOTFLEET_TARGET"), config.get("target"), "aws")
        chosen_target = str(chosen_target).strip().lower()
        if chosen_target not in TARGETS:
            raise UsageError(f"target must be one of {', '.join(TARGETS)}, not {chosen_target!r}", "--target")
        local = chosen_target == "local"

        # On the local target a profile from the environment is ignored: a stale SSO login must not stop
        # the emulator from working. A profile given on purpose (flag or config file) is used.
        env_profile = None if local else env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE")
        chosen_profile = _first(profile, env_profile, config.get("profile"))
        chosen_region: str | None = None
        for value, source in (
            (region, "--region"),
            (env.get("AWS_REGION"), "AWS_REGION"),
            (env.get("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"),
            (config.get("region"), where),
        ):
            if value:
                chosen_region = check_region(str(value), source)
                break
        if chosen_region is None and local:
            chosen_region = LOCAL_REGION

        chosen_endpoint: str | None = None
        for value, source in (
            (endpoint_url, "--endpoint-url"),
            (env.get("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"),
            (config.get("endpoint_url"), where),
        ):
            if value:
                chosen_endpoint = _check_endpoint(str(value), source)
                break
        endpoint_default = chosen_endpoint is None and local
        if endpoint_default:
            chosen_endpoint = LOCAL_ENDPOINT

        chosen_concurrency = _concurrency(concurrency, env, config, where)
        chosen_debug = _debug(debug, env, config, where)

        overrides: dict[str, float] = {}
        overrides.update(_overrides(config.get("quotas", {}), f"{where} [quotas]"))
        overrides.update(_overrides(env.get("IOTFLEET_QUOTAS", ""), "IOTFLEET_QUOTAS"))
        overrides.update(_overrides(quota_overrides or (), "--quota"))

        retry = config.get("retry", {})
        chosen_attempts = _positive_int(_first(max_attempts, retry.get("max_attempts")), f"{where} [retry]")
        chosen_budget = _non_negative_int(_first(retry_budget, retry.get("budget")), f"{where} [retry]")

        if (access_key is None) != (secret_key is None):
            raise UsageError("an access key needs its secret key, and the other way round", "credentials")

        return cls(
            target=chosen_target,
            profile=chosen_profile,
            region=chosen_region,
            endpoint_url=chosen_endpoint,
            endpoint_default=endpoint_default,
            access_key=access_key,
            secret_key=secret_key,
            session_token=session_token,
            concurrency=chosen_concurrency,
            quota_overrides=overrides,
            debug=chosen_debug,
            max_attempts=DEFAULT_MAX_ATTEMPTS if chosen_attempts is None else chosen_attempts,
            retry_budget=DEFAULT_RETRY_BUDGET if chosen_budget is None else chosen_budget,
            config_path=path,
        )


def _first(*values: Any) -> Any:
    """The first value that is set (not None and not an empty string)."""
    for value in values:
        if value is not None and value != "":
            return value
    return None


def _config_path(explicit: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UsageError(f"config file {path} does not exist", "config file")
        return path
    if env.get("IOTFLEET_CONFIG"):
        path = Path(env["IOTFLEET_CONFIG"]).expanduser()
        if not path.is_file():
            raise UsageError(f"config file {path} (from IOTFLEET_CONFIG) does not exist", "IOTFLEET_CONFIG")
        return path
    base = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else Path.home() / ".config"
    path = base / "iotfleet" / "config.toml"
    return path if path.is_file() else None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"config file {path} is not valid TOML: {exc}", str(path)) from None
    unknown = sorted(set(data) - _CONFIG_KEYS)
    if unknown:
        raise UsageError(f"config file {path}: unknown setting(s) {', '.join(unknown)}", str(path))
    for table in ("quotas", "retry"):
        if table in data and not isinstance(data[table], dict):
            raise UsageError(f"config file {path}: [{table}] must be a table", str(path))
    unknown_retry = sorted(set(data.get("retry", {})) - _RETRY_KEYS)
    if unknown_retry:
        raise UsageError(f"config file {path}: unknown [retry] setting(s) {', '.join(unknown_retry)}", str(path))
    return data


def _check_endpoint(url: str, source: str) -> str:
    """``url`` when it is an http(s) URL with a host and, if given, a port in 1-65535; else a usage error."""
    shape = f"endpoint URL {url!r} must look like http://host:port or https://host"
    try:
        parsed = urlparse(url)
        port = parsed.port
    except ValueError as exc:  # a broken IPv6 literal, a port that is not a number or out of range
        raise UsageError(f"{shape} ({exc})", source) from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(shape, source)
    if port == 0:
        raise UsageError(f"{shape} (port 0 is not a port a server listens on)", source)
    return url.rstrip("/")


# The shape botocore accepts for a region name (it refuses others with InvalidRegionError at client creation).
_REGION = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9\-]{0,61}[a-zA-Z0-9])?$")


def check_region(region: str, source: str = "--region") -> str:
    """``region`` when it has the shape of an AWS region name; else a usage error naming ``source``."""
    if not _REGION.match(region):
        raise UsageError(f"{region!r} is not a region name (for example eu-west-1)", source)
    return region


def _concurrency(flag: int | None, env: Mapping[str, str], config: Mapping[str, Any], where: str) -> int:
    for value, source in (
        (flag, "--concurrency"),
        (env.get("IOTFLEET_CONCURRENCY") or None, "IOTFLEET_CONCURRENCY"),
        (config.get("concurrency"), where),
    ):
        if value is None:
            continue
        number = _positive_int(value, source)
        assert number is not None
        if number > MAX_CONCURRENCY:
            raise UsageError(f"concurrency must be at most {MAX_CONCURRENCY}, not {number}", source)
        return number
    return DEFAULT_CONCURRENCY


def _debug(flag: bool | None, env: Mapping[str, str], config: Mapping[str, Any], where: str) -> bool:
    if flag is not None:
        return bool(flag)
    raw = env.get("IOTFLEET_DEBUG")
    if raw is not None:
        text = raw.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise UsageError(f"IOTFLEET_DEBUG must be 1 or 0, not {raw!r}", "IOTFLEET_DEBUG")
    value = config.get("debug", False)
    if not isinstance(value, bool):
        raise UsageError(f"config file {where}: debug must be true or false", where)
    return value


def _positive_int(value: Any, source: str) -> int | None:
    number = _non_negative_int(value, source)
    if number is not None and number < 1:
        raise UsageError(f"{source}: expected a whole number of at least 1, not {value!r}", source)
    return number


def _non_negative_int(value: Any, source: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise UsageError(f"{source}: expected a whole number, not {value!r}", source)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise UsageError(f"{source}: expected a whole number, not {value!r}", source) from None
    if number < 0:
        raise UsageError(f"{source}: expected a whole number of at least 0, not {value!r}", source)
    return number


def _overrides(raw: str | Iterable[str] | Mapping[str, Any], source: str) -> dict[str, float]:
    """Parse quota overrides from a comma-separated string, a list of items or a TOML table."""
    if isinstance(raw, str):
        items: list[str] = [part for part in raw.split(",") if part.strip()]
    elif isinstance(raw, Mapping):
        items = [f"{key}={value}" for key, value in raw.items()]
    else:
        items = list(raw)
        if any(not item.strip() for item in items):
            raise UsageError("a quota override is empty: give service:Operation=TPS", source)
    try:
        parsed = quotas.parse_overrides(items)
    except ValueError as exc:
        raise UsageError(str(exc), source) from None
    for key in parsed:
        _check_quota_key(key, source)
    return parsed


def _check_quota_key(key: str, source: str) -> None:
    """Reject keys that would silently match nothing: unknown services or operations."""
    service, _, operation = key.partition(":")
    if service not in quotas.SERVICE_DEFAULTS:
        known = ", ".join(sorted(quotas.SERVICE_DEFAULTS))
        raise UsageError(f"quota override {key!r}: unknown service {service!r} (known: {known})", source)
    if operation == "*":
        return
    if operation not in _operation_names(service):
        raise UsageError(f"quota override {key!r}: {service} has no operation {operation!r}", source)


_OPERATION_NAMES: dict[str, frozenset[str]] = {}


def _operation_names(service: str) -> frozenset[str]:
    if service == "mqtt":  # the message broker's quotas, not an API (see quotas.MQTT_QUOTAS)
        return frozenset(key.split(":", 1)[1] for key in quotas.MQTT_QUOTAS)
    if service not in _OPERATION_NAMES:
        _OPERATION_NAMES[service] = frozenset(get_session().get_service_model(service).operation_names)
    return _OPERATION_NAMES[service]
