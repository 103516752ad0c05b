"""Which service and operation a request is for, from the SigV4 scope and the botocore model.

The control plane (iot) and the devices' jobs API (iot-jobs-data) share URIs, so the service comes
from the signing name in the credential scope, never from the path. The operation comes from the
service's botocore model: method plus ``requestUri`` template, matched by a per-service trie built once
(literal segments win over ``{labels}``, which win over greedy ``{labels+}``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel

# SigV4 signing name -> botocore service name, for the services one endpoint serves.
SIGNING_NAMES: dict[str, str] = {
    "iot": "iot",
    "iotdata": "iot-data",
    "iot-jobs-data": "iot-jobs-data",
    "s3": "s3",
    "iam": "iam",
    "sts": "sts",
}
SERVICES: tuple[str, ...] = tuple(SIGNING_NAMES.values())


SIGV4_ALGORITHM = "AWS4-HMAC-SHA256"

_ACCESS_KEY = re.compile(r"^[\w+=.@-]{1,128}$", re.ASCII)
_DATE = re.compile(r"^\d{8}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
_SIGNING_NAME = re.compile(r"^[a-z0-9-]{1,64}$")


@dataclass(frozen=True)
class CredentialScope:
    """The parts of a SigV4 credential: ``AKID/date/region/signing-name/aws4_request``."""

    access_key: str
    date: str
    region: str
    signing_name: str


class MalformedCredential(ValueError):
    """A SigV4 credential that is there but is not ``keyid/date/region/service/aws4_request``.

    The message is AWS's wording for it. ``signing_name`` is the service element when there is one, so
    the error can be answered in that service's shape.
    """

    def __init__(self, message: str, signing_name: str | None = None) -> None:
        super().__init__(message)
        self.signing_name = signing_name


def parse_credential(credential: str) -> CredentialScope:
    """The scope of a SigV4 ``Credential`` value; raises :class:`MalformedCredential` when it has none.

    Each element is checked for its form (a region such as ``us-east-1``, an 8-digit date, a service
    name), not for whether this endpoint serves it: that is the app's question.
    """
    parts = credential.split("/")
    named = parts[3] if len(parts) > 3 else None
    if len(parts) != 5:
        raise MalformedCredential(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'",
            named,
        )
    access_key, date, region, signing_name, terminator = parts
    problem = None
    if terminator != "aws4_request":
        problem = f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
    elif _ACCESS_KEY.match(access_key) is None:
        problem = f"Credential has no valid access key id: '{access_key}'."
    elif _DATE.match(date) is None:
        problem = f"Credential should be scoped to a date of the form yyyyMMdd, not '{date}'."
    elif _REGION.match(region) is None:
        problem = f"Credential should be scoped to a valid region, not '{region}'."
    elif _SIGNING_NAME.match(signing_name) is None:
        problem = f"Credential should be scoped to a valid service, not '{signing_name}'."
    if problem is not None:
        raise MalformedCredential(problem, named)
    return CredentialScope(access_key, date, region, signing_name)


def credential_from_authorization(header: str) -> CredentialScope | None:
    """The credential scope of an ``AWS4-HMAC-SHA256 Credential=...,`` Authorization header.

    None when the header is not a SigV4 one (the request is then anonymous); a SigV4 header without a
    well-formed credential raises :class:`MalformedCredential`.
    """
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != SIGV4_ALGORITHM:
        return None
    for item in rest.split(","):
        name, equals, value = item.strip().partition("=")
        if equals and name == "Credential":
            return parse_credential(value.strip())
    raise MalformedCredential("Authorization header requires 'Credential' parameter.")


@functools.cache
def service_model(service: str) -> ServiceModel:
    """The botocore model of ``service``, loaded once per process."""
    return _session().get_service_model(service)


@functools.cache
def _session() -> botocore.session.Session:
    return botocore.session.get_session()


def split_path(raw_path: str) -> list[str]:
    """Percent-encoded path -> raw segments (still encoded, so an encoded ``/`` stays in its label)."""
    segments = raw_path.split("/")[1:]
    if segments and segments[-1] == "":
        segments.pop()
    return segments


@dataclass
class _Candidate:
    operation: OperationModel
    labels: list[tuple[int, str]]  # (segment index, label name) for simple labels
    greedy: tuple[int, str] | None  # (first segment index, label name)
    query_literals: dict[str, str | None]  # "?versions" -> {"versions": None}; "?list-type=2" -> {...: "2"}
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]
    deprecated: bool

    def rank(self, query: Mapping[str, list[str]], headers: Mapping[str, str]) -> tuple[int, int, int, int]:
        """How well the candidate fits (higher is better); the first element is -1 when it cannot fit."""
        for key, value in self.query_literals.items():
            if key not in query or (value is not None and value not in query[key]):
                return (-1, 0, 0, 0)
        present = sum(1 for name in self.required_query if name in query) + sum(
            1 for name in self.required_headers if name in headers
        )
        complete = int(present == len(self.required_query) + len(self.required_headers))
        return (complete, len(self.query_literals), present, int(not self.deprecated))


@dataclass
class _Node:
    literals: dict[str, _Node] = field(default_factory=dict)
    label: _Node | None = None
    candidates: list[_Candidate] = field(default_factory=list)  # templates ending here
    greedy: list[_Candidate] = field(default_factory=list)  # templates whose greedy label starts here


@dataclass(frozen=True)
class Route:
    """A matched operation and its URI labels (decoded)."""

    operation: OperationModel
    labels: dict[str, str]

    @property
    def name(self) -> str:
        return self.operation.name


class ServiceRouter:
    """Maps (method, raw path, query, headers) to an operation of one service's rest model."""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self._roots: dict[str, _Node] = {}
        for name in model.operation_names:
            self._add(model.operation_model(name))

    def _add(self, op: OperationModel) -> None:
        method = op.http.get("method", "POST").upper()
        uri = op.http.get("requestUri", "/")
        path, _, query_part = uri.partition("?")
        literals: dict[str, str | None] = {}
        for item in filter(None, query_part.split("&")):
            key, eq, value = item.partition("=")
            literals[key] = value if eq else None
        required_query: list[str] = []
        required_headers: list[str] = []
        shape = op.input_shape
        if shape is not None:
            for member in shape.required_members:
                member_shape = shape.members[member]
                location = member_shape.serialization.get("location")
                wire = member_shape.serialization.get("name", member)
                if location == "querystring":
                    required_query.append(wire)
                elif location == "header":
                    required_headers.append(wire.lower())
        candidate = _Candidate(
            operation=op,
            labels=[],
            greedy=None,
            query_literals=literals,
            required_query=tuple(required_query),
            required_headers=tuple(required_headers),
            deprecated=bool(op.deprecated),
        )
        node = self._roots.setdefault(method, _Node())
        for index, segment in enumerate(split_path(path)):
            if segment.startswith("{") and segment.endswith("+}"):
                candidate.greedy = (index, segment[1:-2])
                node.greedy.append(candidate)
                return
            if segment.startswith("{") and segment.endswith("}"):
                candidate.labels.append((index, segment[1:-1]))
                if node.label is None:
                    node.label = _Node()
                node = node.label
            else:
                node = node.literals.setdefault(segment, _Node())
        node.candidates.append(candidate)

    def match(
        self, method: str, raw_path: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
    ) -> Route | None:
        """The best operation for the request, or None. ``headers`` keys must be lower-case."""
        root = self._roots.get(method.upper())
        if root is None:
            return None
        segments = split_path(raw_path)
        for candidates, greedy_start in _walk(root, segments, 0):
            best: _Candidate | None = None
            best_rank = (-1, 0, 0, 0)
            for candidate in candidates:
                if greedy_start is not None and candidate.greedy is not None and greedy_start >= len(segments):
                    continue
                rank = candidate.rank(query, headers)
                if rank > best_rank:
                    best, best_rank = candidate, rank
            if best is not None:
                labels = {name: unquote(segments[index]) for index, name in best.labels}
                if best.greedy is not None:
                    labels[best.greedy[1]] = unquote("/".join(segments[best.greedy[0] :]))
                return Route(best.operation, labels)
        return None


def _walk(node: _Node, segments: list[str], index: int) -> Iterator[tuple[list[_Candidate], int | None]]:
    """Depth-first over matching templates, most specific first."""
    if index == len(segments):
        if node.candidates:
            yield node.candidates, None
    else:
        child = node.literals.get(segments[index])
        if child is not None:
            yield from _walk(child, segments, index + 1)
        if node.label is not None and segments[index] != "":
            yield from _walk(node.label, segments, index + 1)
    if node.greedy and index < len(segments):
        yield node.greedy, index


@functools.cache
def router(service: str) -> ServiceRouter:
    """The precompiled router of a rest-protocol service."""
    return ServiceRouter(service_model(service))


def parse_query(query_string: str) -> dict[str, list[str]]:
    return parse_qs(query_string, keep_blank_values=True)
