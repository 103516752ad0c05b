"""The way into moto: a request runs through moto's own per-service apps, routed by the front app.

The front app (:mod:`iotfleet.emulator.app`) has already found the operation and the URI labels of a
request; :class:`MotoGateway` hands both to moto so it does not route the request again. Here too are
the other ways the emulator reaches moto's machinery as a whole: wiping every backend, the regions moto
keeps state for, the account moto attributes an access key to (moto serves IAM and STS as shipped), and
how moto wants underscored header names passed.
"""

from __future__ import annotations

import functools
import io
import secrets
import threading
from typing import Any

import moto.core.responses as _core_responses
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY as _PRESERVED_KEY
from moto.core.request import should_preserve_original_header_name as _should_preserve
from moto.core.responses import BaseResponse
from moto.core.utils import camelcase_to_underscores
from moto.iam.models import get_account_id_from
from moto.iot.models import iot_backends
from moto.iot.responses import IoTResponse
from moto.iotdata.responses import IoTDataPlaneResponse
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    create_backend_app,
)

from iotfleet.emulator.moto_patches.s3 import SECURE_TRANSPORT_KEY, transport

PRESERVED_HEADER_NAMES_ENVIRON_KEY = _PRESERVED_KEY
"""Environ key where moto expects the original spelling of header names it keeps underscores in."""

DEFAULT_ACCOUNT = DEFAULT_ACCOUNT_ID


def keeps_underscore_header(name: str) -> bool:
    """Whether moto wants a header whose name contains ``_`` (S3 user metadata such as ``x-amz-meta-my_key``)."""
    return _should_preserve(name)


# botocore service name -> moto backend name
_MOTO_BACKENDS = {"iot": "iot", "iot-data": "iotdata", "s3": "s3", "iam": "iam", "sts": "sts"}
_RESPONSE_CLASSES: dict[str, type] = {"iot": IoTResponse, "iot-data": IoTDataPlaneResponse}

HttpResult = tuple[int, list[tuple[str, str]], bytes]
# WSGI environ key carrying the (operation, URI labels) the front app already found.
_ROUTE_KEY = "iotfleet.route"

ORIGINALS: dict[str, Any] = {
    "BaseResponse._get_action_from_method_and_request_uri": BaseResponse._get_action_from_method_and_request_uri,
}
EXPECTED_PARAMETERS: dict[str, tuple[str, ...]] = {
    "BaseResponse._get_action_from_method_and_request_uri": ("request",),
}


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
        transport.secure = bool(environ.get(SECURE_TRANSPORT_KEY))
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


_REGIONAL_SERVICES = ("iot", "iot-data", "iot-jobs-data")
"""Services whose state moto keeps per region (the jobs data plane shares IoT's regions)."""


def serves_region(service: str, region: str) -> bool:
    """Whether moto keeps state for ``service`` in ``region`` (IoT's regions; S3, IAM and STS take any)."""
    if service not in _REGIONAL_SERVICES:
        return True
    return region in iot_backends[DEFAULT_ACCOUNT_ID]


def account_for_access_key(access_key: str) -> str:
    """The account moto attributes to an access key (IAM users and assumed roles; default otherwise)."""
    return get_account_id_from(access_key)


def apply() -> None:
    """Speed up moto's request handling; behaviour stays moto's."""
    # moto lists a response class's methods with inspect on every request; they never change.
    method_names = functools.cache(_core_responses.method_names_from_class)
    _core_responses.method_names_from_class = method_names  # type: ignore[assignment]

    # moto routes each request again from the botocore model; use the front app's answer.
    original_route = ORIGINALS["BaseResponse._get_action_from_method_and_request_uri"]

    def route_from_front_app(self: BaseResponse, request: Any) -> str:
        found = request.environ.get(_ROUTE_KEY)
        if found is None:
            return original_route(self, request)  # type: ignore[no-any-return]
        operation, labels = found
        self.uri_match = dict(labels)
        return operation  # type: ignore[no-any-return]

    BaseResponse._get_action_from_method_and_request_uri = route_from_front_app  # type: ignore[method-assign]

    # moto draws each response's 52-character request id one character at a time from its seeded random
    # source (about a tenth of a CreateThing's time); the same shape from the OS's random bytes costs nothing.
    _core_responses.gen_amzn_requestid_long = fast_request_id  # type: ignore[assignment]


def fast_request_id(headerdict: dict[str, Any] | None = None) -> str:
    """moto's ``gen_amzn_requestid_long``: a new 52-character id, also set as ``x-amzn-requestid``."""
    request_id = secrets.token_hex(26).upper()
    if isinstance(headerdict, dict):
        headerdict["x-amzn-requestid"] = request_id
    return request_id
