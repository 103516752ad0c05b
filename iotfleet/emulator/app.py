"""The emulator's one WSGI app, in front of moto.

For every request: control routes under ``/_emulator/``; otherwise find the service (SigV4 scope) and
operation (botocore model), count it, apply quotas and fault injection, check presigned S3 URLs, then
answer with a registered extension handler or pass the request to moto, all under one global lock.
After a successful call, the after-hooks run and thing events are emitted. Nothing here is
moto-specific: that lives in :mod:`iotfleet.emulator.moto_patches`.

Before any of that, :mod:`iotfleet.emulator.request_guard` refuses what a web page could send (a Host that
is not the emulator's, a browser Origin on the control API or on a mutating call), and query-string
credentials are accepted for S3 presigned URLs only. Whatever fails inside is an AWS-shaped JSON error, and
the response always carries a Date header: no request can leave the server unanswered, but for a connection
dropped on purpose (an injected fault).

A SigV4 credential that is there but malformed (a region ``0``, no service, four elements) is a 400
``IncompleteSignatureException`` (S3: ``AuthorizationHeaderMalformed`` in XML), and a well-formed region
that IoT is not in is a 403 ``InvalidSignatureException``: bad headers never reach moto.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from email.utils import formatdate
from typing import Any

from botocore.model import OperationModel

from iotfleet.emulator import control_routes, extension, presign, request_guard, thing_events
from iotfleet.emulator.errors import (
    InternalFailureException,
    NotImplementedException,
    ServiceError,
    ThrottlingException,
    UnknownOperationException,
)
from iotfleet.emulator.faults import S3_FAULT_CODES
from iotfleet.emulator.httpserver import DROP_CONNECTION
from iotfleet.emulator.moto_patches.gateway import (
    MotoGateway,
    account_for_access_key,
    reset_moto,
    serves_region,
)
from iotfleet.emulator.moto_patches.installation import install as install_moto_patches
from iotfleet.emulator.moto_patches.s3 import SECURE_TRANSPORT_KEY
from iotfleet.emulator.protocol import (
    HttpResponse,
    WireRequest,
    error_response,
    parse_response,
    serialize_response,
)
from iotfleet.emulator.routing import (
    SERVICES,
    SIGNING_NAMES,
    CredentialScope,
    MalformedCredential,
    credential_from_authorization,
    parse_credential,
    parse_query,
    router,
    service_model,
)
from iotfleet.emulator.state import EmulatorState
from iotfleet.emulator.validation import check_params

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_STATUS_TEXT = {
    200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 206: "Partial Content",
    304: "Not Modified", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 412: "Precondition Failed",
    413: "Payload Too Large", 415: "Unsupported Media Type", 416: "Range Not Satisfiable",
    429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
    503: "Service Unavailable",
}  # fmt: skip


# Set by the server for the bytes actually sent (moto's values may not match after conversion).
_HOP_HEADERS = {"content-length", "connection", "transfer-encoding", "server", "date"}


def _status_line(status: int) -> str:
    return f"{status} {_STATUS_TEXT.get(status, 'Unknown')}"


def _headers_of(environ: dict[str, Any]) -> dict[str, str]:
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return headers


def _read_body(environ: dict[str, Any]) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    length = environ.get("CONTENT_LENGTH")
    if length:
        return stream.read(int(length))  # type: ignore[no-any-return]
    if environ.get("wsgi.input_terminated"):
        return stream.read()  # type: ignore[no-any-return]
    return b""


def _http_date(now: float) -> str:
    """``now`` as an HTTP date; real time if ``now`` is past what an HTTP date can say (never an error)."""
    try:
        return formatdate(now, usegmt=True)
    except (OverflowError, ValueError, OSError):
        log.warning("the emulator clock (%r) is past what an HTTP date can say; sending the real time", now)
        return formatdate(usegmt=True)


def _raw_path(environ: dict[str, Any]) -> str:
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        path = raw.split("?", 1)[0]
        if "://" in path:  # absolute-form request target
            path = "/" + path.split("://", 1)[1].partition("/")[2]
        return path  # type: ignore[no-any-return]
    from urllib.parse import quote

    return quote(environ.get("PATH_INFO", "/"))


class EmulatorApp:
    """WSGI app: ``EmulatorApp(state)``. Create at most one per process (moto's state is global)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.moto = MotoGateway()
        install_moto_patches(state)
        for service in SERVICES:
            model = service_model(service)
            if model.protocol.startswith("rest"):
                router(service)
        from iotfleet.emulator import features  # noqa: F401  (importing registers the feature handlers)

        for init in extension.state_initializers():
            init(state)

    # ---------------------------------------------------------------- WSGI entry

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        # Always read the whole body first: the server keeps connections alive, which is only safe
        # when nothing of a request is left unread.
        request_body = _read_body(environ)
        control = path.startswith("/_emulator/") or path == "/_emulator"
        request_id = str(uuid.uuid4())
        try:
            refused = request_guard.refusal(environ, self.state.settings.host, control=control)
            if refused is not None:
                status, headers, body = self._error("rest-json", "", ServiceError("AccessDeniedException", refused, 403), request_id)
            elif control:
                status, headers, body = control_routes.handle(self, environ, request_body)
            else:
                status, headers, body = self._handle(environ, request_body, request_id)
        except Exception as exc:  # the server boundary: never an HTML page, always an AWS-shaped error
            log.exception("unexpected error handling %s %s", environ.get("REQUEST_METHOD"), path)
            error = InternalFailureException(f"the iotfleet emulator failed: {type(exc).__name__}: {exc}")
            status, headers, body = error_response("rest-json", "", error, request_id)
            headers = [*headers, ("x-amzn-RequestId", request_id)]
        length = str(len(body))
        if environ.get("REQUEST_METHOD") == "HEAD":  # no body is sent: keep the length of what GET would send
            length = next((v for k, v in headers if k.lower() == "content-length"), length)
        headers = [(k, v) for k, v in headers if k.lower() not in _HOP_HEADERS]
        if status != 204 and status != 304:
            headers.append(("Content-Length", length))
        # The emulator's time, as AWS's Date header carries AWS's: clients that need the service's clock
        # (for example to check that a scheduled start is far enough ahead) read it from here.
        headers.append(("Date", _http_date(self.state.clock.now())))
        start_response(_status_line(status), headers)
        return [body]

    def reset(self) -> None:
        """Wipe all state: moto's models and the emulator's stores, counters and settings."""
        with self.state.lock:
            reset_moto()
            self.state.reset()

    # ---------------------------------------------------------------- API requests

    def _handle(self, environ: dict[str, Any], body: bytes, request_id: str) -> HttpResponse:
        environ[SECURE_TRANSPORT_KEY] = self._secure_transport(environ)
        query_string = environ.get("QUERY_STRING", "")
        query: dict[str, list[str]] | None = None
        auth = environ.get("HTTP_AUTHORIZATION")
        presigned = False
        try:
            scope: CredentialScope | None = credential_from_authorization(auth) if auth else None
            if scope is None and "X-Amz-Credential" in query_string:
                query = parse_query(query_string)
                presigned = True
                scope = parse_credential(query.get("X-Amz-Credential", [""])[0])
        except MalformedCredential as exc:
            return self._malformed_credential(exc, presigned, request_id)
        if scope is None and "AWSAccessKeyId=" in query_string:
            # Query-string authentication version 2: S3 presigned URLs only.
            query = parse_query(query_string)
            scope = CredentialScope(query.get("AWSAccessKeyId", [""])[0], "", "us-east-1", "s3")
            presigned = True
        if scope is None:
            error = ServiceError("AccessDenied", "Anonymous requests are not accepted: sign the request.", 403)
            return self._error("rest-xml", "s3", error, request_id)
        service = SIGNING_NAMES.get(scope.signing_name)
        if presigned and service != "s3":
            # A link can carry query-string credentials; only S3's presigned URLs are meant to.
            error = ServiceError(
                "AccessDeniedException",
                "query-string credentials are accepted for S3 presigned URLs only: sign the request's headers",
                403,
            )
            return self._error("rest-json", "", error, request_id)
        if service is None:
            error = NotImplementedException(
                f"the iotfleet emulator does not serve the {scope.signing_name!r} service"
            )
            return self._error("rest-json", "", error, request_id)
        model = service_model(service)
        protocol = model.protocol
        if not serves_region(service, scope.region):
            return self._unknown_region(service, protocol, scope.region, request_id)
        if query is None:
            query = parse_query(query_string) if query_string else {}
        headers = _headers_of(environ)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        request = WireRequest(method, _raw_path(environ), query_string, query, headers, body, environ)

        operation = self._operation(service, protocol, request)
        if operation is None:
            error = UnknownOperationException(f"no {service} operation matches {method} {request.raw_path}")
            return self._error(protocol, service, error, request_id)
        op_name = operation.name
        key = f"{service}:{op_name}"
        state = self.state
        state.counters.call(key)

        if not state.quotas.allow(key):
            state.counters.throttle(key)
            if service == "s3":
                error = ServiceError("SlowDown", "Please reduce your request rate.", 503)
            else:
                error = ThrottlingException(f"Rate exceeded for {key}")
            return self._error(protocol, service, error, request_id)
        fault = state.faults.draw(service, op_name)
        if fault is not None:
            state.counters.fault(key)
            code = S3_FAULT_CODES[fault.kind.code] if service == "s3" else fault.kind.code
            injected = ServiceError(code, fault.kind.message, fault.kind.status)
            if not fault.after:
                return self._error(protocol, service, injected, request_id)

        try:
            if presigned and service == "s3":
                presign.check_presigned(state, request, environ)
            if protocol == "rest-json":
                check_params(operation, request.params(operation))
        except ServiceError as error:
            return self._error(protocol, service, error, request_id)

        answer = self._dispatch(service, protocol, operation, scope, request, request_id)
        if fault is not None and fault.after and 200 <= answer[0] < 300:
            if fault.kind.drops_connection:
                environ[DROP_CONNECTION] = True  # the server sends nothing; others answer the 500
            return self._error(protocol, service, injected, request_id)  # the call took effect all the same
        return answer

    def _secure_transport(self, environ: dict[str, Any]) -> bool:
        """``aws:SecureTransport`` of a request: HTTPS, or plain HTTP from this machine (see EmulatorState)."""
        if environ.get("wsgi.url_scheme") == "https":
            return True
        remote = environ.get("REMOTE_ADDR", "")
        return self.state.loopback_is_secure and (remote.startswith("127.") or remote in ("::1", "localhost"))

    def _operation(self, service: str, protocol: str, request: WireRequest) -> OperationModel | None:
        if protocol.startswith("rest"):
            route = router(service).match(request.method, request.raw_path, request.query, request.headers)
            if route is None:
                return None
            request.labels = route.labels
            return route.operation
        # query protocol (iam, sts): the Action parameter, in the querystring or the form body
        action = request.query.get("Action", [None])[0]
        if action is None and request.body:
            for pair in request.body.split(b"&"):
                if pair.startswith(b"Action="):
                    action = pair[7:].decode("ascii", "replace")
                    break
        model = service_model(service)
        if action is None or action not in model.operation_names:
            return None
        return model.operation_model(action)

    def _dispatch(
        self,
        service: str,
        protocol: str,
        operation: OperationModel,
        scope: CredentialScope,
        request: WireRequest,
        request_id: str,
    ) -> HttpResponse:
        op_name = operation.name
        handler = extension.handler_for(service, op_name)
        hooks = extension.after_hooks_for(service, op_name)
        emits = thing_events.emits_for(self.state, service, op_name)
        state = self.state
        with state.lock:
            account_id = account_for_access_key(scope.access_key)
            call: extension.Call | None = None
            if handler is not None or hooks or emits:
                call = extension.Call(
                    service=service,
                    operation_model=operation,
                    account_id=account_id,
                    region=scope.region,
                    request_id=request_id,
                    base_url=f"{request.environ.get('wsgi.url_scheme', 'http')}://{request.headers.get('host', '')}",
                    state=state,
                    request=request,
                    moto=lambda req: self._call_moto(service, operation, req),
                )
            result: dict[str, Any] | None = None
            try:
                if handler is not None:
                    assert call is not None
                    result = handler(call) or {}
                    status, headers, body = serialize_response(operation, result)
                    headers.append(("x-amzn-RequestId", request_id))
                else:
                    status, headers, body = self._call_moto(service, operation, request)
                if 200 <= status < 300 and call is not None and (hooks or emits):
                    params = call.params
                    if hooks:
                        response = result if result is not None else parse_response(
                            operation, status, dict(headers), body
                        )
                        for hook in hooks:
                            hook(call, params, response)
                    if emits:
                        thing_events.emit(state, call, params)
            except ServiceError as error:
                return self._error(protocol, service, error, request_id)
        return status, headers, body

    def _call_moto(self, service: str, operation: OperationModel, request: WireRequest) -> HttpResponse:
        qualified = f"{service}:{operation.name}"
        if not self.moto.implements(service, operation.name):
            raise NotImplementedException(f"the iotfleet emulator does not support {qualified}")
        try:
            status, headers, body = self.moto.call(
                service, request.environ, request.body, operation.name, request.labels
            )
        except NotImplementedError as exc:
            raise NotImplementedException(f"the iotfleet emulator does not support {qualified}") from exc
        if status >= 500:
            content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
            if "html" in content_type or b"Unable to find appropriate backend" in body:
                raise NotImplementedException(f"the iotfleet emulator does not support {qualified}")
        return status, headers, body

    def _malformed_credential(self, problem: MalformedCredential, presigned: bool, request_id: str) -> HttpResponse:
        """A SigV4 credential that is there but malformed: 400, in the shape of the service it names, if any.

        S3 answers ``AuthorizationHeaderMalformed`` (``AuthorizationQueryParametersError`` for a presigned
        URL) in XML; the JSON services ``IncompleteSignatureException``.
        """
        message = str(problem)
        if problem.signing_name == "s3":
            code = "AuthorizationQueryParametersError" if presigned else "AuthorizationHeaderMalformed"
            return self._error("rest-xml", "s3", ServiceError(code, message, 400), request_id)
        return self._error("rest-json", "", ServiceError("IncompleteSignatureException", message, 400), request_id)

    def _unknown_region(self, service: str, protocol: str, region: str, request_id: str) -> HttpResponse:
        """A well-formed region that the service has no endpoint in: AWS's 403 for a wrongly scoped credential."""
        message = f"Credential should be scoped to a valid region, not '{region}'."
        return self._error(protocol, service, ServiceError("InvalidSignatureException", message, 403), request_id)

    @staticmethod
    def _error(protocol: str, service: str, error: ServiceError, request_id: str) -> HttpResponse:
        status, headers, body = error_response(protocol, service, error, request_id)
        return status, [*headers, ("x-amzn-RequestId", request_id)], body
