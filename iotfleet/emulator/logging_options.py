"""The account's IoT logging options: SetV2LoggingOptions / GetV2LoggingOptions and the v1 pair.

They are account settings of one region and nothing in the emulator logs to CloudWatch; they are kept so
that scripts which turn logging on (as provisioning scripts often do) and tools that put it back run as on
AWS. The two generations are separate settings, as on AWS:

* **v2** (``SetV2LoggingOptions``): ``roleArn``, ``defaultLogLevel``, ``disableAllLogs`` (false when not
  given) and ``eventConfigurations``. Each call replaces the whole setting. Until the first call,
  ``GetV2LoggingOptions`` is ``NotConfiguredException`` (404).
* **v1** (``SetLoggingOptions``): ``loggingOptionsPayload {roleArn, logLevel}``; ``GetLoggingOptions``
  answers with no fields until it is set.

A role ARN must be an IAM role ARN; the role itself is not looked up (AWS checks that it can assume it).
Log levels are checked against the model's enum before a handler runs.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.errors import InvalidRequestException, NotConfiguredException
from iotfleet.emulator.extension import Call, handles

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "logging_options"

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$")


@dataclass
class LoggingOptions:
    """The logging options of one account and region (None: never set)."""

    v2: dict[str, Any] | None = None
    v1: dict[str, Any] | None = None


def logging_options(state: EmulatorState, account_id: str, region: str) -> LoggingOptions:
    return state.store(STORE, account_id, region, LoggingOptions)


def _check_role(role_arn: Any, member: str) -> None:
    if not isinstance(role_arn, str) or _ROLE_ARN.match(role_arn) is None:
        raise InvalidRequestException(
            f"{member} must be the ARN of an IAM role (arn:aws:iam::<account>:role/<name>), got {role_arn!r}"
        )


@handles("iot", "SetV2LoggingOptions")
def set_v2_logging_options(call: Call) -> dict[str, Any]:
    params = call.params
    if "roleArn" in params:
        _check_role(params["roleArn"], "roleArn")
    events = params.get("eventConfigurations") or []
    kinds = [event.get("eventType") for event in events]
    repeated = sorted({kind for kind in kinds if kinds.count(kind) > 1})
    if repeated:
        raise InvalidRequestException(f"eventConfigurations lists event type(s) {', '.join(repeated)} more than once")
    setting: dict[str, Any] = {"disableAllLogs": bool(params.get("disableAllLogs", False))}
    for key in ("roleArn", "defaultLogLevel"):
        if key in params:
            setting[key] = params[key]
    if events:
        setting["eventConfigurations"] = copy.deepcopy(events)
    logging_options(call.state, call.account_id, call.region).v2 = setting
    return {}


@handles("iot", "GetV2LoggingOptions")
def get_v2_logging_options(call: Call) -> dict[str, Any]:
    setting = logging_options(call.state, call.account_id, call.region).v2
    if setting is None:
        raise NotConfiguredException("Logging options are not configured; call SetV2LoggingOptions first")
    return copy.deepcopy(setting)


@handles("iot", "SetLoggingOptions")
def set_logging_options(call: Call) -> dict[str, Any]:
    payload = call.params.get("loggingOptionsPayload") or {}
    if "roleArn" not in payload:
        raise InvalidRequestException("loggingOptionsPayload.roleArn is required")
    _check_role(payload["roleArn"], "loggingOptionsPayload.roleArn")
    setting = {"roleArn": payload["roleArn"]}
    if "logLevel" in payload:
        setting["logLevel"] = payload["logLevel"]
    logging_options(call.state, call.account_id, call.region).v1 = setting
    return {}


@handles("iot", "GetLoggingOptions")
def get_logging_options(call: Call) -> dict[str, Any]:
    return dict(logging_options(call.state, call.account_id, call.region).v1 or {})
