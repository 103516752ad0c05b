"""Every moto-specific touch point of the emulator, and only here.

moto has no plugin API, so the emulator reaches into its private internals: the per-service Flask
apps, the backend dicts, and a handful of fixes where moto differs from AWS in the operations iotfleet
uses. Keeping all of it in this one module means a moto upgrade breaks in one place, and the contract
tests (tests/emulator/test_core_moto_contract.py) show where at once. moto is pinned exactly in
pyproject.toml.

Feature modules use the typed accessors below (``iot_backend``, ``iter_things``, ``thing``,
``thing_group``, ``group_members``, ``add_thing_to_group``, ``shadows``, ``write_shadow``,
``s3_object``, ...) instead of importing moto themselves. Accessors must be called under the
emulator's global lock (handlers, hooks and event subscribers already are).
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import functools
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import moto.core.responses as _core_responses
import moto.iot.models as _iot_models
import moto.iotdata.models as _iotdata_models
import moto.s3.models as _s3_models
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.core.exceptions import InvalidToken as _MotoInvalidToken
from moto.core.exceptions import JsonRESTError
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY as _PRESERVED_KEY
from moto.core.request import should_preserve_original_header_name as _should_preserve
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores
from moto.iam.access_control import PermissionResult
from moto.iam.models import get_account_id_from
from moto.iot.exceptions import InvalidRequestException as _MotoIotInvalidRequest
from moto.iot.exceptions import ResourceAlreadyExistsException as _MotoIotAlreadyExists
from moto.iot.exceptions import ResourceNotFoundException as _MotoIotNotFound
from moto.iot.exceptions import VersionConflictException as _MotoIotVersionConflict
from moto.iot.models import FakeThing, FakeThingGroup, IoTBackend, iot_backends
from moto.iot.responses import IoTResponse
from moto.iotdata.exceptions import ConflictException as _MotoShadowConflict
from moto.iotdata.exceptions import InvalidRequestException as _MotoShadowInvalid
from moto.iotdata.exceptions import ResourceNotFoundException as _MotoShadowNotFound
from moto.iotdata.models import FakeShadow, IoTDataPlaneBackend, iotdata_backends
from moto.iotdata.responses import IoTDataPlaneResponse
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.s3.models import S3Backend, s3_backends
from moto.utilities.utils import get_partition

from iotfleet.emulator.errors import ResourceNotFoundException, ServiceError
from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_CHANGED

if TYPE_CHECKING:
    from iotfleet.emulator.clock import EmulatorClock
    from iotfleet.emulator.state import EmulatorState

PRESERVED_HEADER_NAMES_ENVIRON_KEY = _PRESERVED_KEY
"""Environ key where moto expects the original spelling of header names it keeps underscores in."""


def keeps_underscore_header(name: str) -> bool:
    """Whether moto wants a header whose name contains ``_`` (S3 user metadata such as ``x-amz-meta-my_key``)."""
    return _should_preserve(name)


# botocore service name -> moto backend name
_MOTO_BACKENDS = {"iot": "iot", "iot-data": "iotdata", "s3": "s3", "iam": "iam", "sts": "sts"}
_RESPONSE_CLASSES: dict[str, type] = {"iot": IoTResponse, "iot-data": IoTDataPlaneResponse}

HttpResult = tuple[int, list[tuple[str, str]], bytes]
# WSGI environ key carrying the (operation, URI labels) the front app already found.
_ROUTE_KEY = "iotfleet.route"


# --------------------------------------------------------------------------------------------------
# Running requests through moto


class MotoGateway:
    """Runs a WSGI request through moto's Flask app for a service (moto's own server machinery)."""

    def __init__(self) -> None:
        self._dispatcher = DomainDispatcherApplication(create_backend_app)
        self._apps: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _app(self, service: str) -> Any:
        app = self._apps.get(service)
        if app is None:
            with self._lock:
                app = self._apps.get(service)
                if app is None:
                    app = self._apps[service] = self._dispatcher.create_app(_MOTO_BACKENDS[service])  # type: ignore[arg-type]
        return app

    def has_service(self, service: str) -> bool:
        return service in _MOTO_BACKENDS

    def implements(self, service: str, operation: str) -> bool:
        """False when moto certainly lacks the operation (its response class has no method for it)."""
        if service not in _MOTO_BACKENDS:
            return False
        response_class = _RESPONSE_CLASSES.get(service)
        if response_class is None:
            return True  # s3/iam/sts dispatch internally; NotImplementedError tells us at call time
        return callable(getattr(response_class, camelcase_to_underscores(operation), None))

    def call(
        self,
        service: str,
        environ: dict[str, Any],
        body: bytes,
        operation: str | None = None,
        labels: dict[str, str] | None = None,
    ) -> HttpResult:
        """Run the request described by ``environ`` (with ``body``) through moto. Not thread-safe: hold the lock.

        ``operation`` and ``labels`` (already found by the front app) spare moto routing the request again.
        Raises ``NotImplementedError`` when moto does not implement the operation.
        """
        environ = dict(environ)
        _transport.secure = bool(environ.get(SECURE_TRANSPORT_KEY))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if operation is not None:
            environ[_ROUTE_KEY] = (operation, labels or {})
        response_class = _RESPONSE_CLASSES.get(service)
        if response_class is not None:
            return self._dispatch(response_class, environ)
        captured: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"] = int(status.split(" ", 1)[0])
            captured["headers"] = headers
            return lambda data: None

        result = self._app(service)(environ, start_response)
        try:
            chunks = b"".join(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured["status"], list(captured["headers"]), chunks

    @staticmethod
    def _dispatch(response_class: Any, environ: dict[str, Any]) -> HttpResult:
        """Call a rest-json service's response class directly, as moto's Flask view would (iot, iot-data).

        These services have one catch-all route, so Flask's routing, CORS and response objects
        add nothing but time.
        """
        request = BackendRequest(environ)
        result = response_class.dispatch(request, request.raw_url, dict(request.headers))
        if len(result) == 3:
            status, headers, content = result
        else:
            status, headers, content = 200, {}, result
        if isinstance(content, str):
            content = content.encode("utf-8")
        pairs = [(str(k), str(v)) for k, v in headers.items() if k.lower() != "status"]
        return int(status), pairs, content or b""


def reset_moto() -> None:
    """Wipe every moto backend (all services, accounts and regions)."""
    BackendDict.reset()


def account_for_access_key(access_key: str) -> str:
    """The account moto attributes to an access key (IAM users and assumed roles; default otherwise)."""
    return get_account_id_from(access_key)


DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID


# --------------------------------------------------------------------------------------------------
# Installation: clock and fixes

_installed_state: EmulatorState | None = None


MOTO_VERSION = "5.2.5"
"""The moto release these patches were written and tested against (pinned in pyproject.toml)."""

# moto functions as shipped, before any fix replaced them: the fixes wrap them and the contract
# check below inspects them.
_ORIGINALS: dict[str, Any] = {
    "IoTBackend.create_thing": IoTBackend.create_thing,
    "IoTBackend.delete_thing": IoTBackend.delete_thing,
    "IoTBackend.update_thing": IoTBackend.update_thing,
    "IoTBackend.describe_thing": IoTBackend.describe_thing,
    "IoTBackend.describe_thing_group": IoTBackend.describe_thing_group,
    "IoTBackend.create_thing_group": IoTBackend.create_thing_group,
    "IoTBackend.update_thing_group": IoTBackend.update_thing_group,
    "IoTBackend.delete_thing_group": IoTBackend.delete_thing_group,
    "IoTBackend.deprecate_thing_type": IoTBackend.deprecate_thing_type,
    "IoTBackend.delete_thing_type": IoTBackend.delete_thing_type,
    "IoTResponse.update_thing": IoTResponse.update_thing,
    "IoTResponse.delete_thing": IoTResponse.delete_thing,
    "IoTResponse.list_thing_types": IoTResponse.list_thing_types,
    "IoTDataPlaneBackend.update_thing_shadow": IoTDataPlaneBackend.update_thing_shadow,
    "IoTDataPlaneBackend.delete_thing_shadow": IoTDataPlaneBackend.delete_thing_shadow,
    "IoTDataPlaneBackend.list_named_shadows_for_thing": IoTDataPlaneBackend.list_named_shadows_for_thing,
    "FakeShadow.create_from_previous_version": FakeShadow.create_from_previous_version,
    "S3Backend.get_object": S3Backend.get_object,
    "FakeBucket.get_permission": _s3_models.FakeBucket.get_permission,
    "BaseResponse._get_action_from_method_and_request_uri": BaseResponse._get_action_from_method_and_request_uri,
}
# Parameters each original must take, in order (after self), for the fixes to call it correctly.
_EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "IoTBackend.create_thing": ("thing_name", "thing_type_name", "attribute_payload", "billing_group_name"),
    "IoTBackend.delete_thing": ("thing_name",),
    "IoTBackend.update_thing": ("thing_name", "thing_type_name", "attribute_payload", "remove_thing_type"),
    "IoTBackend.describe_thing": ("thing_name",),
    "IoTBackend.describe_thing_group": ("thing_group_name",),
    "IoTBackend.create_thing_group": ("thing_group_name", "parent_group_name", "thing_group_properties"),
    "IoTBackend.update_thing_group": ("thing_group_name", "thing_group_properties", "expected_version"),
    "IoTBackend.delete_thing_group": ("thing_group_name",),
    "IoTBackend.deprecate_thing_type": ("thing_type_name", "undo_deprecate"),
    "IoTBackend.delete_thing_type": ("thing_type_name",),
    "IoTResponse.update_thing": (),
    "IoTResponse.delete_thing": (),
    "IoTResponse.list_thing_types": (),
    "IoTDataPlaneBackend.update_thing_shadow": ("thing_name", "payload", "shadow_name"),
    "IoTDataPlaneBackend.delete_thing_shadow": ("thing_name", "shadow_name"),
    "IoTDataPlaneBackend.list_named_shadows_for_thing": ("thing_name",),
    "FakeShadow.create_from_previous_version": ("previous_shadow", "payload"),
    "S3Backend.get_object": ("bucket_name", "key_name", "version_id"),
    "FakeBucket.get_permission": ("action", "resource"),
    "BaseResponse._get_action_from_method_and_request_uri": ("request",),
}


def moto_contract_problems() -> list[str]:
    """What in the installed moto differs from what the patches rely on (empty when all is as expected)."""
    import inspect

    from moto import __version__ as installed_version

    problems: list[str] = []
    if installed_version != MOTO_VERSION:
        problems.append(f"moto {installed_version} is installed; the emulator was built for {MOTO_VERSION}")
    for name, expected in _EXPECTED_PARAMETERS.items():
        parameters = [p for p in inspect.signature(_ORIGINALS[name]).parameters if p not in ("self", "cls")]
        if tuple(parameters[: len(expected)]) != expected:
            problems.append(f"{name} takes {tuple(parameters)}, expected {expected} first")
    for module, attribute in (
        (_iot_models, "utcnow"),
        (_s3_models, "utcnow"),
        (_iotdata_models, "time"),
        (_core_responses, "method_names_from_class"),
    ):
        if not hasattr(module, attribute):
            problems.append(f"{module.__name__} no longer has {attribute} (the clock patch)")
    backend = IoTBackend("us-east-1", DEFAULT_ACCOUNT_ID)
    for attribute in (
        "things",
        "thing_groups",
        "thing_types",
        "billing_groups",
        "policies",
        "role_aliases",
        "rules",
    ):
        if not isinstance(getattr(backend, attribute, None), dict):
            problems.append(f"IoTBackend.{attribute} is not a dict any more")
    thing = FakeThing("contract-probe", None, {}, DEFAULT_ACCOUNT_ID, "us-east-1")  # type: ignore[abstract]
    for attribute in ("thing_shadows", "arn", "version", "thing_id", "attributes"):
        if not hasattr(thing, attribute):
            problems.append(f"FakeThing has no {attribute}")
    if thing.arn != _thing_arn(backend, "contract-probe"):
        problems.append(f"thing ARNs changed form ({thing.arn})")
    for attribute in ("error_type", "message", "code"):
        if not hasattr(_MotoIotNotFound(), attribute):
            problems.append(f"moto's JsonRESTError has no {attribute}")
    if not callable(getattr(DomainDispatcherApplication(create_backend_app), "create_app", None)):
        problems.append("DomainDispatcherApplication has no create_app")
    return problems


def install(state: EmulatorState) -> None:
    """Point moto at this emulator (its clock, its event bus) and apply the fixes. Idempotent.

    Raises RuntimeError when the installed moto differs from what the fixes rely on.
    """
    global _installed_state
    problems = moto_contract_problems() if not _fixes_applied else []
    if problems:
        raise RuntimeError("the emulator's moto patches do not fit this moto: " + "; ".join(problems))
    _installed_state = state
    _use_clock(state.clock)
    _apply_fixes()


def installed_state() -> EmulatorState:
    if _installed_state is None:
        raise RuntimeError("no emulator is running in this process")
    return _installed_state


class _ClockTime:
    """Stands in for the ``time`` module inside moto.iotdata.models: shadows use the emulator clock."""

    def __init__(self, clock: EmulatorClock) -> None:
        self._clock = clock

    def time(self) -> float:
        return self._clock.now()


def _use_clock(clock: EmulatorClock) -> None:
    def utcnow() -> _dt.datetime:
        return _dt.datetime.fromtimestamp(clock.now(), tz=_dt.timezone.utc).replace(tzinfo=None)

    _iot_models.utcnow = utcnow  # type: ignore[attr-defined]
    _s3_models.utcnow = utcnow  # type: ignore[attr-defined]
    _iotdata_models.time = _ClockTime(clock)  # type: ignore[assignment]


def _thing_arn(backend: IoTBackend, thing_name: str) -> str:
    return f"arn:{get_partition(backend.region_name)}:iot:{backend.region_name}:{backend.account_id}:thing/{thing_name}"


def _group_arn(backend: IoTBackend, group_name: str) -> str:
    partition = get_partition(backend.region_name)
    return f"arn:{partition}:iot:{backend.region_name}:{backend.account_id}:thinggroup/{group_name}"


_fixes_applied = False


def _apply_fixes() -> None:
    global _fixes_applied
    if _fixes_applied:
        return
    _fixes_applied = True

    # Speed: moto lists a response class's methods with inspect on every request; they never change.
    method_names = functools.cache(_core_responses.method_names_from_class)
    _core_responses.method_names_from_class = method_names  # type: ignore[assignment]

    # Speed: moto routes each request again from the botocore model; use the front app's answer.
    original_route = _ORIGINALS["BaseResponse._get_action_from_method_and_request_uri"]

    def route_from_front_app(self: BaseResponse, request: Any) -> str:
        found = request.environ.get(_ROUTE_KEY)
        if found is None:
            return original_route(self, request)  # type: ignore[no-any-return]
        operation, labels = found
        self.uri_match = dict(labels)
        return operation  # type: ignore[no-any-return]

    BaseResponse._get_action_from_method_and_request_uri = route_from_front_app  # type: ignore[method-assign]

    # Lookups by name scan every thing/group in moto; the ARN is a function of the name, so index by it.
    def describe_thing(self: IoTBackend, thing_name: str) -> FakeThing:
        thing = self.things.get(_thing_arn(self, thing_name))
        if thing is None:
            raise _MotoIotNotFound(f"Thing {thing_name} cannot be found.")
        return thing

    def describe_thing_group(self: IoTBackend, thing_group_name: str) -> FakeThingGroup:
        group = self.thing_groups.get(_group_arn(self, thing_group_name))
        if group is None:
            raise _MotoIotNotFound(f"Thing group {thing_group_name} cannot be found.")
        return group

    IoTBackend.describe_thing = describe_thing  # type: ignore[method-assign]
    IoTBackend.describe_thing_group = describe_thing_group  # type: ignore[method-assign]

    # AWS: creating an existing thing with the same settings returns it; different settings conflict.
    # moto replaced the thing (new id, shadows and group memberships lost).
    original_create_thing = _ORIGINALS["IoTBackend.create_thing"]

    def create_thing(
        self: IoTBackend,
        thing_name: str,
        thing_type_name: str,
        attribute_payload: dict[str, Any] | None,
        billing_group_name: str | None = None,
    ) -> FakeThing:
        existing = self.things.get(_thing_arn(self, thing_name))
        if existing is not None:
            attributes = (attribute_payload or {}).get("attributes", {}) or {}
            same_type = (existing.thing_type.thing_type_name if existing.thing_type else None) == (
                thing_type_name or None
            )
            if same_type and existing.attributes == attributes:
                return existing
            raise _MotoIotAlreadyExists(
                f"Thing {thing_name} already exists in account with different attributes",
                existing.thing_id,
                existing.arn,
            )
        _check_attribute_count(((attribute_payload or {}).get("attributes") or {}), thing_type_name)
        _refuse_deprecated_type(self, thing_type_name)
        return original_create_thing(self, thing_name, thing_type_name, attribute_payload, billing_group_name)

    IoTBackend.create_thing = create_thing  # type: ignore[method-assign]

    # AWS: a parent group that does not exist is a 404 (moto crashed with a 500).
    original_create_thing_group = _ORIGINALS["IoTBackend.create_thing_group"]

    def create_thing_group(
        self: IoTBackend,
        thing_group_name: str,
        parent_group_name: str,
        thing_group_properties: dict[str, Any],
    ) -> tuple[str, str, str]:
        if parent_group_name and _group_arn(self, parent_group_name) not in self.thing_groups:
            raise _MotoIotNotFound(f"Thing group {parent_group_name} cannot be found.")
        return original_create_thing_group(  # type: ignore[no-any-return]
            self, thing_group_name, parent_group_name, thing_group_properties
        )

    IoTBackend.create_thing_group = create_thing_group  # type: ignore[method-assign]

    # A nextToken moto did not issue is a 400 (moto crashed on int()).
    original_list_thing_types = _ORIGINALS["IoTResponse.list_thing_types"]

    def list_thing_types(self: IoTResponse) -> Any:
        token = self._get_param("nextToken")
        if token is not None and not str(token).isdigit():
            raise _MotoIotInvalidRequest("The nextToken is invalid.")
        return original_list_thing_types(self)

    IoTResponse.list_thing_types = list_thing_types  # type: ignore[method-assign]

    # moto's shared paginator answers a bad token with "InvalidToken", a code IoT does not have.
    for listing in ("list_things", "list_billing_groups"):
        original_listing = getattr(IoTResponse, listing)

        def paged(self: IoTResponse, _original: Any = original_listing) -> Any:
            try:
                return _original(self)
            except _MotoInvalidToken:
                raise _MotoIotInvalidRequest("The nextToken is invalid.") from None

        setattr(IoTResponse, listing, paged)

    # AWS removes a deleted thing from its groups; moto left it listed in them.
    original_delete_thing = _ORIGINALS["IoTBackend.delete_thing"]

    def delete_thing(self: IoTBackend, thing_name: str) -> None:
        thing = self.describe_thing(thing_name)
        original_delete_thing(self, thing_name)
        for group in self.thing_groups.values():
            group.things.pop(thing.arn, None)

    IoTBackend.delete_thing = delete_thing  # type: ignore[method-assign]

    # update_thing: honour expectedVersion and bump the version, as AWS does.
    original_update_thing = _ORIGINALS["IoTBackend.update_thing"]

    def update_thing(
        self: IoTBackend,
        thing_name: str,
        thing_type_name: str,
        attribute_payload: dict[str, Any] | None,
        remove_thing_type: bool,
        expected_version: int | None = None,
    ) -> None:
        thing = self.describe_thing(thing_name)
        if expected_version is not None and int(expected_version) != thing.version:
            raise _MotoIotVersionConflict(thing_name)
        _check_updated_attributes(thing, thing_type_name, attribute_payload, remove_thing_type)
        if thing_type_name and (
            thing.thing_type is None or thing.thing_type.thing_type_name != thing_type_name
        ):
            _refuse_deprecated_type(self, thing_type_name)
        original_update_thing(self, thing_name, thing_type_name, attribute_payload, remove_thing_type)
        thing.version += 1

    IoTBackend.update_thing = update_thing  # type: ignore[method-assign]

    def update_thing_response(self: IoTResponse) -> Any:
        self.iot_backend.update_thing(  # type: ignore[call-arg]
            thing_name=self._get_param("thingName"),
            thing_type_name=self._get_param("thingTypeName"),
            attribute_payload=self._get_param("attributePayload"),
            remove_thing_type=self._get_param("removeThingType"),
            expected_version=self._get_param("expectedVersion"),
        )
        return _empty_result()

    IoTResponse.update_thing = update_thing_response  # type: ignore[method-assign]

    def delete_thing_response(self: IoTResponse) -> Any:
        thing_name = self._get_param("thingName")
        expected = self._get_param("expectedVersion")
        if expected is not None:
            thing = self.iot_backend.describe_thing(thing_name)
            if int(expected) != thing.version:
                raise _MotoIotVersionConflict(thing_name)
        self.iot_backend.delete_thing(thing_name=thing_name)
        return _empty_result()

    IoTResponse.delete_thing = delete_thing_response  # type: ignore[method-assign]

    # Shadows: "version" in an update is optimistic locking against the current version, where a
    # shadow that never existed is at version 0 (moto crashed on it). Deleting a deleted shadow is
    # a 404, and deleted named shadows are not listed.
    def update_thing_shadow(
        self: IoTDataPlaneBackend, thing_name: str, payload: str, shadow_name: str | None
    ) -> FakeShadow:
        thing = self.iot_backend.describe_thing(thing_name)
        try:
            document = json.loads(payload)
        except ValueError:
            raise _MotoShadowInvalid("Invalid JSON") from None
        if not isinstance(document, dict):
            raise _MotoShadowInvalid("Invalid JSON")
        if "state" not in document:
            raise _MotoShadowInvalid("Missing required node: state")
        state_node = document["state"]
        if state_node is not None:
            if not isinstance(state_node, dict):
                raise _MotoShadowInvalid("State node must be an object")
            for node in state_node:
                if node not in ("desired", "reported"):
                    raise _MotoShadowInvalid("State contains an invalid node")
                if state_node[node] is not None and not isinstance(state_node[node], dict):
                    raise _MotoShadowInvalid(f"{node.capitalize()} node must be an object")
        current = thing.thing_shadows.get(shadow_name)
        if "version" in document:
            version = document["version"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise _MotoShadowInvalid("Invalid version")
            if version != (current.version if current is not None else 0):
                raise _MotoShadowConflict("Version conflict")
        if current is not None and current.deleted:
            # A deleted shadow's document is gone; only its version number carries on.
            new_shadow = FakeShadow.create_from_previous_version(None, document)
            new_shadow.version = current.version + 1
        else:
            new_shadow = FakeShadow.create_from_previous_version(current, document)
        thing.thing_shadows[shadow_name] = new_shadow
        return new_shadow

    def delete_thing_shadow(
        self: IoTDataPlaneBackend, thing_name: str, shadow_name: str | None
    ) -> FakeShadow:
        thing = self.iot_backend.describe_thing(thing_name)
        current = thing.thing_shadows.get(shadow_name)
        if current is None or current.deleted:
            raise _MotoShadowNotFound()
        new_shadow = FakeShadow.create_from_previous_version(current, None)
        thing.thing_shadows[shadow_name] = new_shadow
        return new_shadow

    def list_named_shadows_for_thing(self: IoTDataPlaneBackend, thing_name: str) -> list[str]:
        thing = self.iot_backend.describe_thing(thing_name)
        return [
            name for name, shadow in thing.thing_shadows.items() if name is not None and not shadow.deleted
        ]

    IoTDataPlaneBackend.update_thing_shadow = update_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.delete_thing_shadow = delete_thing_shadow  # type: ignore[method-assign]
    IoTDataPlaneBackend.list_named_shadows_for_thing = list_named_shadows_for_thing  # type: ignore[method-assign]

    # S3 bucket policies: moto ignores conditions when it checks a bucket policy, so a statement that
    # denies requests without TLS (aws:SecureTransport false) denied every request. Evaluate the
    # statements with the request's transport, and skip a statement whose condition does not hold.
    def get_permission(self: _s3_models.FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        return bucket_policy_permission(json.loads(self.policy), action, resource, _transport.secure)

    _s3_models.FakeBucket.get_permission = get_permission  # type: ignore[method-assign]

    # Thing types: AWS deletes a type only once it has been deprecated for 5 minutes and no thing uses
    # it, and refuses new things of a deprecated type; moto deleted at once and recorded no date.
    def deprecate_thing_type(self: IoTBackend, thing_type_name: str, undo_deprecate: bool) -> Any:
        thing_type = original_deprecate_thing_type(self, thing_type_name, undo_deprecate)
        if undo_deprecate:
            thing_type.metadata.pop("deprecationDate", None)
        elif "deprecationDate" not in thing_type.metadata:
            thing_type.metadata["deprecationDate"] = _iot_models.utcnow()
        return thing_type

    def delete_thing_type(self: IoTBackend, thing_type_name: str) -> None:
        thing_type = self.describe_thing_type(thing_type_name)
        deprecated_at = thing_type.metadata.get("deprecationDate")
        if not thing_type.metadata.get("deprecated") or deprecated_at is None:
            raise _MotoIotInvalidRequest(
                f"Thing type {thing_type_name} must be deprecated before it is deleted"
            )
        waited = (_iot_models.utcnow() - deprecated_at).total_seconds()
        if waited < THING_TYPE_DELETION_DELAY:
            raise _MotoIotInvalidRequest(
                f"Thing type {thing_type_name} was deprecated {int(waited)} seconds ago; it can be deleted "
                f"{THING_TYPE_DELETION_DELAY // 60} minutes after deprecation"
            )
        if any(
            t.thing_type is not None and t.thing_type.thing_type_name == thing_type_name
            for t in self.things.values()
        ):
            raise _MotoIotInvalidRequest(
                f"Thing type {thing_type_name} cannot be deleted while things use it"
            )
        original_delete_thing_type(self, thing_type_name)

    original_deprecate_thing_type = _ORIGINALS["IoTBackend.deprecate_thing_type"]
    original_delete_thing_type = _ORIGINALS["IoTBackend.delete_thing_type"]
    IoTBackend.deprecate_thing_type = deprecate_thing_type  # type: ignore[method-assign]
    IoTBackend.delete_thing_type = delete_thing_type  # type: ignore[method-assign]


THING_TYPE_DELETION_DELAY = 300
"""Seconds a thing type must have been deprecated before AWS deletes it."""

MAX_ATTRIBUTES_UNTYPED = 3
MAX_ATTRIBUTES_TYPED = 50


def _refuse_deprecated_type(backend: IoTBackend, thing_type_name: str | None) -> None:
    """AWS: no thing may take a deprecated thing type."""
    if not thing_type_name:
        return
    for thing_type in backend.thing_types.values():
        if thing_type.thing_type_name == thing_type_name and thing_type.metadata.get("deprecated"):
            raise _MotoIotInvalidRequest(
                f"Can not create new thing with deprecated thing type:{thing_type_name}"
            )


def _check_attribute_count(attributes: dict[str, Any], thing_type_name: str | None) -> None:
    """AWS: a thing without a thing type has at most 3 attributes, with one at most 50."""
    limit = MAX_ATTRIBUTES_TYPED if thing_type_name else MAX_ATTRIBUTES_UNTYPED
    count = sum(1 for value in attributes.values() if value)
    if count > limit:
        kind = "with" if thing_type_name else "without"
        raise _MotoIotInvalidRequest(
            f"A thing {kind} a thing type can have at most {limit} attributes; this one would have {count}"
        )


def _check_updated_attributes(
    thing: FakeThing, thing_type_name: str | None, payload: dict[str, Any] | None, remove_thing_type: bool
) -> None:
    attributes = dict(thing.attributes)
    if payload is not None and "attributes" in payload:
        if payload.get("merge"):
            attributes.update(payload["attributes"])
        else:
            attributes = dict(payload["attributes"])
    if remove_thing_type:
        type_name = None
    else:
        type_name = thing_type_name or (thing.thing_type.thing_type_name if thing.thing_type else None)
    _check_attribute_count(attributes, type_name)


def _empty_result() -> Any:
    from moto.core.responses import EmptyResult

    return EmptyResult()


# --------------------------------------------------------------------------------------------------
# Typed accessors for feature modules (call under the emulator's global lock)


@dataclass(frozen=True)
class ThingRecord:
    """A thing as the registry sees it. ``thing_group_names`` lists every moto group holding it
    (dynamic groups are kept as real moto groups too)."""

    name: str
    thing_id: str
    arn: str
    thing_type_name: str | None
    attributes: dict[str, str]
    version: int
    thing_group_names: tuple[str, ...]


@dataclass(frozen=True)
class ThingGroupRecord:
    name: str
    group_id: str
    arn: str
    parent_name: str | None
    description: str | None
    attributes: dict[str, str]
    version: int
    creation_date: _dt.datetime


@dataclass(frozen=True)
class S3ObjectRecord:
    bucket: str
    key: str
    version_id: str | None
    body: bytes
    etag: str
    size: int
    last_modified: _dt.datetime


def iot_backend(account_id: str, region: str) -> IoTBackend:
    return iot_backends[account_id][region]


def iotdata_backend(account_id: str, region: str) -> IoTDataPlaneBackend:
    return iotdata_backends[account_id][region]


def s3_backend(account_id: str) -> S3Backend:
    return s3_backends[account_id][get_partition("us-east-1")]


def _groups_by_thing_arn(backend: IoTBackend) -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for group in backend.thing_groups.values():
        for arn in group.things:
            index.setdefault(arn, []).append(group.thing_group_name)
    return index


def _thing_record(thing: FakeThing, group_names: list[str]) -> ThingRecord:
    return ThingRecord(
        name=thing.thing_name,
        thing_id=thing.thing_id,
        arn=thing.arn,
        thing_type_name=thing.thing_type.thing_type_name if thing.thing_type else None,
        attributes=dict(thing.attributes),
        version=thing.version,
        thing_group_names=tuple(group_names),
    )


def iter_things(account_id: str, region: str) -> Iterator[ThingRecord]:
    """Every thing of (account, region), in creation order."""
    backend = iot_backend(account_id, region)
    groups = _groups_by_thing_arn(backend)
    for thing in list(backend.things.values()):
        yield _thing_record(thing, groups.get(thing.arn, []))


def thing(account_id: str, region: str, thing_name: str) -> ThingRecord | None:
    backend = iot_backend(account_id, region)
    found = backend.things.get(_thing_arn(backend, thing_name))
    if found is None:
        return None
    names = [g.thing_group_name for g in backend.thing_groups.values() if found.arn in g.things]
    return _thing_record(found, names)


def thing_group(account_id: str, region: str, group_name: str) -> ThingGroupRecord | None:
    backend = iot_backend(account_id, region)
    group = backend.thing_groups.get(_group_arn(backend, group_name))
    if group is None:
        return None
    properties: dict[str, Any] = dict(group.thing_group_properties or {})
    return ThingGroupRecord(
        name=group.thing_group_name,
        group_id=group.thing_group_id,
        arn=group.arn,
        parent_name=group.parent_group_name or None,
        description=properties.get("thingGroupDescription"),
        attributes=dict((properties.get("attributePayload") or {}).get("attributes") or {}),
        version=group.version,
        creation_date=group.metadata["creationDate"],
    )


def create_thing_group(
    account_id: str, region: str, group_name: str, properties: dict[str, Any], parent_name: str | None = None
) -> ThingGroupRecord:
    """Create a moto thing group (dynamic groups are kept as real moto groups). Same rules as CreateThingGroup."""
    backend = iot_backend(account_id, region)
    try:
        backend.create_thing_group(group_name, parent_name, properties)  # type: ignore[arg-type]
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    record = thing_group(account_id, region, group_name)
    assert record is not None
    return record


def update_thing_group(
    account_id: str,
    region: str,
    group_name: str,
    properties: dict[str, Any],
    expected_version: int | None = None,
) -> int:
    """Update a moto thing group's properties as UpdateThingGroup does; returns the new version."""
    try:
        return iot_backend(account_id, region).update_thing_group(
            group_name,
            properties,
            expected_version,  # type: ignore[arg-type]
        )
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc


def delete_thing_group(account_id: str, region: str, group_name: str) -> None:
    """Delete a moto thing group (no error if it does not exist, as on AWS)."""
    try:
        iot_backend(account_id, region).delete_thing_group(group_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc


def child_groups(account_id: str, region: str, group_name: str) -> list[str]:
    """Names of the direct children of a thing group."""
    backend = iot_backend(account_id, region)
    return [g.thing_group_name for g in backend.thing_groups.values() if g.parent_group_name == group_name]


def group_members(account_id: str, region: str, group_name: str, recursive: bool = True) -> list[str]:
    """Thing names in a group (and, if ``recursive``, its descendants), each once, in order of joining.

    Raises :class:`ResourceNotFoundException` if the group does not exist.
    """
    backend = iot_backend(account_id, region)
    group = backend.thing_groups.get(_group_arn(backend, group_name))
    if group is None:
        raise ResourceNotFoundException(f"Thing group {group_name} cannot be found.")
    seen: dict[str, None] = {}
    pending = [group]
    while pending:
        current = pending.pop(0)
        for member in current.things.values():
            seen.setdefault(member.thing_name, None)
        if recursive:
            pending.extend(
                g for g in backend.thing_groups.values() if g.parent_group_name == current.thing_group_name
            )
    return list(seen)


def add_thing_to_group(account_id: str, region: str, group_name: str, thing_name: str) -> bool:
    """Put a thing in a group (for dynamic groups kept as moto groups). True if it was not there yet.

    Emits ``group_membership_changed`` (not ``thing_changed``, so membership updates made while
    handling ``thing_changed`` do not loop). Raises moto's not-found error for a missing group or thing.
    """
    backend = iot_backend(account_id, region)
    try:
        group = backend.describe_thing_group(group_name)
        found = backend.describe_thing(thing_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    if found.arn in group.things:
        return False
    group.things[found.arn] = found
    _emit_membership(account_id, region, group_name, thing_name, added=True)
    return True


def remove_thing_from_group(account_id: str, region: str, group_name: str, thing_name: str) -> bool:
    """Take a thing out of a group. True if it was there."""
    backend = iot_backend(account_id, region)
    try:
        group = backend.describe_thing_group(group_name)
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    removed = group.things.pop(_thing_arn(backend, thing_name), None) is not None
    if removed:
        _emit_membership(account_id, region, group_name, thing_name, added=False)
    return removed


def _emit_membership(account_id: str, region: str, group_name: str, thing_name: str, *, added: bool) -> None:
    if _installed_state is not None:
        _installed_state.events.emit(
            GROUP_MEMBERSHIP_CHANGED,
            account_id=account_id,
            region=region,
            group_name=group_name,
            thing_name=thing_name,
            added=added,
        )


def shadows(account_id: str, region: str, thing_name: str) -> dict[str | None, dict[str, Any]]:
    """The thing's live shadows: ``{None: classic, "name": named, ...}``, each as GetThingShadow returns it
    (``state`` with desired/reported/delta, ``metadata``, ``version``, ``timestamp``)."""
    backend = iot_backend(account_id, region)
    found = backend.things.get(_thing_arn(backend, thing_name))
    if found is None:
        return {}
    return {name: shadow.to_dict() for name, shadow in found.thing_shadows.items() if not shadow.deleted}


def write_shadow(
    account_id: str, region: str, thing_name: str, shadow_name: str | None, payload: dict[str, Any]
) -> dict[str, Any]:
    """Update a shadow as UpdateThingShadow would (``payload`` like ``{"state": {"reported": {...}}}``),
    then emit ``thing_changed``. Returns the update's response document."""
    try:
        shadow = iotdata_backend(account_id, region).update_thing_shadow(
            thing_name, json.dumps(payload), shadow_name
        )
    except JsonRESTError as exc:
        raise as_service_error(exc) from exc
    if _installed_state is not None:
        _installed_state.events.emit(
            THING_CHANGED, account_id=account_id, region=region, thing_name=thing_name
        )
    return shadow.to_response_dict()


def as_service_error(exc: JsonRESTError) -> ServiceError:
    """A moto IoT/IoT-data error as the emulator's ServiceError (same code, message and status)."""
    return ServiceError(exc.error_type, exc.message, int(exc.code or 400))


def s3_object(account_id: str, bucket: str, key: str, version_id: str | None = None) -> S3ObjectRecord | None:
    """An S3 object (a given version, or the latest), or None if the bucket, key or version is missing."""
    backend = s3_backend(account_id)
    if bucket not in backend.buckets:
        return None
    found = backend.get_object(bucket, key, version_id=version_id)
    if found is None:
        return None
    return S3ObjectRecord(
        bucket=bucket,
        key=key,
        version_id=None if found.version_id in (None, "null") else str(found.version_id),
        body=bytes(found.value),
        etag=found.etag,
        size=found.size,
        last_modified=found.last_modified,
    )


TAGGABLE_KINDS = ("thinggroup", "thingtype", "billinggroup", "policy", "rolealias", "rule")
"""ARN resource kinds kept in moto that AWS lets you tag (things cannot be tagged)."""


def resource_exists(account_id: str, region: str, kind: str, name: str) -> bool:
    """Whether moto holds the resource ``arn:...:<kind>/<name>`` (kinds in :data:`TAGGABLE_KINDS`)."""
    backend = iot_backend(account_id, region)
    arn = f"arn:{get_partition(region)}:iot:{region}:{account_id}:{kind}/{name}"
    if kind == "thinggroup":
        return arn in backend.thing_groups
    if kind == "thingtype":
        return arn in backend.thing_types
    if kind == "billinggroup":
        return name in backend.billing_groups
    if kind == "policy":
        return name in backend.policies
    if kind == "rolealias":
        return name in backend.role_aliases
    if kind == "rule":
        return name in backend.rules
    raise ValueError(f"not a taggable moto resource kind: {kind}")


def thing_names(account_id: str, region: str) -> list[str]:
    return [t.thing_name for t in iot_backend(account_id, region).things.values()]


def is_known_thing_group_name(account_id: str, region: str, group_name: str) -> bool:
    backend = iot_backend(account_id, region)
    return _group_arn(backend, group_name) in backend.thing_groups


__all__ = [
    "DEFAULT_ACCOUNT",
    "PRESERVED_HEADER_NAMES_ENVIRON_KEY",
    "keeps_underscore_header",
    "MotoGateway",
    "S3ObjectRecord",
    "ThingGroupRecord",
    "ThingRecord",
    "account_for_access_key",
    "add_thing_to_group",
    "as_service_error",
    "child_groups",
    "create_thing_group",
    "delete_thing_group",
    "update_thing_group",
    "is_known_thing_group_name",
    "thing_names",
    "group_members",
    "install",
    "iot_backend",
    "iotdata_backend",
    "iter_things",
    "remove_thing_from_group",
    "reset_moto",
    "resource_exists",
    "TAGGABLE_KINDS",
    "s3_backend",
    "s3_object",
    "shadows",
    "thing",
    "thing_group",
    "write_shadow",
]


# --------------------------------------------------------------------------------------------------
# Secure transport, for S3 bucket policies

SECURE_TRANSPORT_KEY = "iotfleet.secure_transport"
"""Environ key the front app sets when a request counts as sent over TLS (``aws:SecureTransport``)."""


class _Transport(threading.local):
    secure = False


# The transport of the request moto is handling (moto runs under the global lock, one request at a time).
_transport = _Transport()


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _glob(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _applies(statement: dict[str, Any], element: str, value: str) -> bool:
    """Whether ``Action``/``Resource`` (or their ``Not`` forms) of a statement cover ``value``."""
    if element in statement:
        return any(_glob(str(p), value) for p in _as_list(statement[element]))
    negated = f"Not{element}"
    if negated in statement:
        return not any(_glob(str(p), value) for p in _as_list(statement[negated]))
    return element == "Resource"


def _condition_holds(condition: dict[str, Any], secure: bool) -> bool:
    """Conditions the emulator can evaluate: ``Bool`` on ``aws:SecureTransport``. Any other condition
    is treated as not holding, so a statement that needs it does not apply."""
    for operator, entries in condition.items():
        if operator != "Bool" or not isinstance(entries, dict):
            return False
        for key, expected in entries.items():
            if key.lower() != "aws:securetransport":
                return False
            wanted = {str(v).lower() for v in _as_list(expected)}
            if ("true" if secure else "false") not in wanted:
                return False
    return True


def bucket_policy_permission(policy: dict[str, Any], action: str, resource: str, secure: bool) -> Any:
    """moto's PermissionResult of a bucket policy for one request: an explicit deny wins, then an allow."""
    permitted = False
    for statement in _as_list(policy.get("Statement", [])):
        if not isinstance(statement, dict):
            continue
        principal = statement.get("Principal", "*")
        if principal not in ("*", {"AWS": "*"}):
            continue  # a named principal: the emulator's callers are the account itself
        if not (_applies(statement, "Action", action) and _applies(statement, "Resource", resource)):
            continue
        if not _condition_holds(statement.get("Condition") or {}, secure):
            continue
        if statement.get("Effect") == "Deny":
            return PermissionResult.DENIED
        permitted = permitted or statement.get("Effect") == "Allow"
    return PermissionResult.PERMITTED if permitted else PermissionResult.NEUTRAL
