"""The wire format, server side: parse requests into botocore-shaped params, serialise results and errors.

botocore ships only the client half of each protocol. Extension handlers need the server half for
rest-json (iot, iot-data, iot-jobs-data): :func:`parse_request` gives the params a boto3 caller passed
(URI labels, querystring, headers and JSON body by the model; blobs as bytes, timestamps as aware
datetimes) and :func:`serialize_response` turns a handler's result dict back into the HTTP response
botocore expects. :func:`parse_response` reads a response the way the client would (for moto's
answers), and :func:`error_response` writes an AWS error in each protocol's shape.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape
from botocore.parsers import create_parser
from botocore.utils import parse_timestamp

from iotfleet.emulator.errors import InvalidRequestException, ServiceError

HttpResponse = tuple[int, list[tuple[str, str]], bytes]

_TRUE = {"true": True, "false": False}


def _scalar_from_text(shape: Shape, text: str, where: str) -> Any:
    """A label, querystring or header value converted to the member's type."""
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            return float(text)
        if kind == "boolean":
            return _TRUE[text.lower()]
        if kind == "timestamp":
            return _timestamp(text)
        if kind == "blob":
            return base64.b64decode(text)
    except (ValueError, KeyError) as exc:
        raise InvalidRequestException(f"{where}: {text!r} is not a valid {kind}") from exc
    return text


def _timestamp(value: Any) -> datetime:
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    parsed = parse_timestamp(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
}
"""The JSON values a body member of each scalar type accepts (a bool is never a number)."""


def _from_json(shape: Shape, value: Any, where: str) -> Any:
    """A JSON body value converted to botocore's Python shape (member names, bytes, datetimes).

    A value of the wrong JSON type (``"expectedVersion": "abc"``, a number for a string) is an
    InvalidRequestException naming the member, as AWS rejects it before the operation runs.
    """
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            raise InvalidRequestException(f"{where or shape.name} must be a JSON object")
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in value:
                result[name] = _from_json(member, value[wire], f"{where}.{name}" if where else name)
        return result
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            raise InvalidRequestException(f"{where} must be a JSON array")
        return [_from_json(shape.member, item, f"{where}.{index + 1}.member") for index, item in enumerate(value)]
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            raise InvalidRequestException(f"{where} must be a JSON object")
        return {key: _from_json(shape.value, item, f"{where}.{key}.value") for key, item in value.items()}
    kind = shape.type_name
    if kind == "blob":
        try:
            return base64.b64decode(value)
        except (ValueError, TypeError) as exc:
            raise InvalidRequestException(f"{where} is not valid base64") from exc
    if kind == "timestamp":
        try:
            return _timestamp(value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise InvalidRequestException(f"{where}: {value!r} is not a timestamp") from exc
    accepted = _JSON_TYPES.get(kind)
    if accepted is not None and (
        not isinstance(value, accepted) or (isinstance(value, bool) and kind != "boolean")
    ):
        raise InvalidRequestException(f"{where}: {json.dumps(value)} is not a valid {kind}")
    return value


def parse_request(
    operation: OperationModel,
    labels: Mapping[str, str],
    query: Mapping[str, list[str]],
    headers: Mapping[str, str],
    body: bytes,
) -> dict[str, Any]:
    """The params a boto3 caller passed, from a rest-json request. ``headers`` keys are lower-case."""
    shape = operation.input_shape
    if shape is None:
        return {}
    params: dict[str, Any] = {}
    payload_name = shape.serialization.get("payload")
    body_members: dict[str, Shape] = {}
    located_query: set[str] = set()
    query_map: tuple[str, MapShape] | None = None
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "uri":
            if wire in labels:
                params[name] = _scalar_from_text(member, labels[wire], name)
        elif location == "querystring":
            if isinstance(member, MapShape):
                query_map = (name, member)
                continue
            located_query.add(wire)
            if wire in query:
                values = query[wire]
                if isinstance(member, ListShape):
                    params[name] = [_scalar_from_text(member.member, v, name) for v in values]
                else:
                    params[name] = _scalar_from_text(member, values[0], name)
        elif location == "header":
            value = headers.get(wire.lower())
            if value is None:
                continue
            if member.serialization.get("jsonvalue"):
                params[name] = json.loads(base64.b64decode(value))
            elif isinstance(member, ListShape):
                params[name] = [_scalar_from_text(member.member, v.strip(), name) for v in value.split(",")]
            else:
                params[name] = _scalar_from_text(member, value, name)
        elif location == "headers":
            prefix = wire.lower()
            found = {k[len(prefix) :]: v for k, v in headers.items() if k.startswith(prefix)}
            if found:
                params[name] = found
        elif name != payload_name:
            body_members[name] = member
    if query_map is not None:
        name, _member = query_map
        rest = {k: v[0] for k, v in query.items() if k not in located_query}
        if rest:
            params[name] = rest
    if payload_name is not None:
        member = shape.members[payload_name]
        if member.type_name == "blob":
            if body:
                params[payload_name] = body
        elif member.type_name == "string":
            if body:
                params[payload_name] = body.decode("utf-8")
        elif body:
            params[payload_name] = _from_json(member, _load_json(body), payload_name)
    elif body_members and body:
        document = _load_json(body)
        if not isinstance(document, dict):
            raise InvalidRequestException("the request body must be a JSON object")
        for name, member in body_members.items():
            wire = member.serialization.get("name", name)
            if wire in document:
                params[name] = _from_json(member, document[wire], name)
    return params


def _load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidRequestException(f"the request body is not valid JSON: {exc}") from exc


def _epoch(value: Any) -> float | int:
    if isinstance(value, datetime):
        stamp = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    else:
        stamp = float(value)
    return int(stamp) if stamp == int(stamp) else stamp


def _to_json(shape: Shape, value: Any) -> Any:
    """A handler's Python value -> its JSON wire form (serialisation names, epoch seconds, base64)."""
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        result: dict[str, Any] = {}
        for name, member in shape.members.items():
            if name in value and value[name] is not None:
                result[member.serialization.get("name", name)] = _to_json(member, value[name])
        return result
    if isinstance(shape, ListShape):
        return [_to_json(shape.member, item) for item in value]
    if isinstance(shape, MapShape):
        return {key: _to_json(shape.value, item) for key, item in value.items()}
    kind = shape.type_name
    if kind == "timestamp":
        if shape.serialization.get("timestampFormat") == "iso8601":
            return _timestamp(value).isoformat().replace("+00:00", "Z")
        return _epoch(value)
    if kind == "blob":
        raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    return value


def _header_text(shape: Shape, value: Any) -> str:
    if shape.serialization.get("jsonvalue"):
        return base64.b64encode(json.dumps(value, separators=(",", ":")).encode()).decode("ascii")
    if shape.type_name == "boolean":
        return "true" if value else "false"
    if shape.type_name == "timestamp":
        from email.utils import format_datetime

        return format_datetime(_timestamp(value).astimezone(timezone.utc), usegmt=True)
    if isinstance(shape, ListShape):
        return ",".join(str(item) for item in value)
    return str(value)


def serialize_response(operation: OperationModel, result: Mapping[str, Any] | None) -> HttpResponse:
    """A handler's result dict as a rest-json HTTP response."""
    status = int(operation.http.get("responseCode", 200))
    headers: list[tuple[str, str]] = [("Content-Type", "application/json")]
    shape = operation.output_shape
    result = result or {}
    if shape is None:
        return status, headers, b"{}"
    payload_name = shape.serialization.get("payload")
    body_value: dict[str, Any] = {}
    body: bytes | None = None
    for name, member in shape.members.items():
        if name not in result or result[name] is None:
            continue
        value = result[name]
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "header":
            headers.append((wire, _header_text(member, value)))
        elif location == "headers":
            headers.extend((wire + key, str(item)) for key, item in value.items())
        elif location == "statusCode":
            status = int(value)
        elif name == payload_name:
            if member.type_name in ("blob", "string"):
                body = value.encode("utf-8") if isinstance(value, str) else bytes(value)
                if member.type_name == "blob":
                    headers[0] = ("Content-Type", "application/octet-stream")
            else:
                body = json.dumps(_to_json(member, value)).encode("utf-8")
        else:
            body_value[wire] = _to_json(member, value)
    if body is None:
        body = json.dumps(body_value).encode("utf-8") if payload_name is None else b""
    return status, headers, body


def parse_response(
    operation: OperationModel, status: int, headers: Mapping[str, str], body: bytes
) -> dict[str, Any]:
    """Read an HTTP response as boto3 would (for moto's answers). Raises ServiceError for errors."""
    protocol = operation.service_model.protocol
    parser = create_parser(protocol)
    parsed = parser.parse(
        {"status_code": status, "headers": _CaseInsensitive(headers), "body": body},
        operation.output_shape,
    )
    if status >= 300:
        error = parsed.get("Error", {})
        raise ServiceError(str(error.get("Code") or status), str(error.get("Message", "")), status)
    parsed.pop("ResponseMetadata", None)
    return parsed


class _CaseInsensitive(dict):  # type: ignore[type-arg]
    """Header lookups the way botocore's HTTP layer does them (case-insensitive)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((key.lower(), value) for key, value in headers.items())

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())  # type: ignore[no-any-return]

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())


_XML_NAMESPACES = {
    "iam": "https://iam.amazonaws.com/doc/2010-05-08/",
    "sts": "https://sts.amazonaws.com/doc/2011-06-15/",
}


def error_response(protocol: str, service: str, error: ServiceError, request_id: str) -> HttpResponse:
    """``error`` in the wire shape of ``protocol`` (rest-json/json, query or rest-xml)."""
    if protocol in ("query", "ec2"):
        namespace = _XML_NAMESPACES.get(service, "")
        body = (
            f'<ErrorResponse xmlns="{namespace}"><Error><Type>Sender</Type>'
            f"<Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return error.status, [("Content-Type", "text/xml")], body.encode("utf-8")
    if protocol == "rest-xml":
        extra = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in error.fields.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>{extra}"
            f"<RequestId>{request_id}</RequestId></Error>"
        )
        return error.status, [("Content-Type", "application/xml")], body.encode("utf-8")
    document = {"message": error.message, **error.fields}
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", error.code)]
    return error.status, headers, json.dumps(document).encode("utf-8")


class WireRequest:
    """One HTTP request as the front app read it: enough to parse params or replay it to moto."""

    __slots__ = ("method", "raw_path", "query_string", "query", "headers", "body", "labels", "environ", "_params")

    def __init__(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: bytes,
        environ: dict[str, Any],
    ) -> None:
        self.method = method
        self.raw_path = raw_path
        self.query_string = query_string
        self.query = query
        self.headers = headers  # lower-case names
        self.body = body
        self.labels: dict[str, str] = {}
        self.environ = environ
        self._params: tuple[str, dict[str, Any]] | None = None

    def params(self, operation: OperationModel) -> dict[str, Any]:
        """The boto3-shaped params of the request (parsed once per operation).

        Fully parsed for rest-json (iot, iot-data, iot-jobs-data). For rest-xml (s3) the URI labels,
        querystring, headers and a blob/string payload are parsed but an XML body is not; for the
        query protocol (iam, sts) top-level scalar members are read from the form.
        """
        if self._params is not None and self._params[0] == operation.name:
            return self._params[1]
        parsed = self._parse(operation)
        self._params = (operation.name, parsed)
        return parsed

    def _parse(self, operation: OperationModel) -> dict[str, Any]:
        protocol = operation.service_model.protocol
        if protocol == "rest-json":
            return parse_request(operation, self.labels, self.query, self.headers, self.body)
        if protocol == "rest-xml":
            shape = operation.input_shape
            payload = shape.serialization.get("payload") if shape is not None else None
            body = self.body if payload is not None and shape is not None and shape.members[
                payload
            ].type_name in ("blob", "string") else b""
            return parse_request(operation, self.labels, self.query, self.headers, body)
        form = dict(self.query)
        if self.body and self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            from urllib.parse import parse_qs

            form.update(parse_qs(self.body.decode("utf-8"), keep_blank_values=True))
        shape = operation.input_shape
        params: dict[str, Any] = {}
        if shape is not None:
            for name, member in shape.members.items():
                if name in form and not isinstance(member, (StructureShape, ListShape, MapShape)):
                    params[name] = _scalar_from_text(member, form[name][0], name)
        return params
