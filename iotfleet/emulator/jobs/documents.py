"""Job documents: where they come from, and the placeholders substituted when a device reads one.

Placeholders (at most 10 per document):

* ``${aws:iot:s3-presigned-url:<url>}``: ``<url>`` is a plain S3 object URL (no version id);
* ``${aws:iot:s3-presigned-url-v2:<url>}``: ``<url>`` is percent-encoded and may carry ``?versionId=``;
* ``${aws:iot:package:<p>:version:<v>:artifact:s3-presigned-url}`` (also spelled
  ``artifact-location:s3-presigned-url``): the package version's artifact;
* ``${aws:iot:package:<p>:version:<v>:attributes}``: all its attributes, as JSON text;
* ``${aws:iot:package:<p>:version:<v>:attributes:<key>}``: one attribute.

An empty ``<p>`` and ``<v>`` (``${aws:iot:package::version::attributes:k}``) mean the job's single
destination package version. URLs are minted for ``presignedUrlConfig.expiresInSec`` (default 3600)
at the moment of the read. Placeholders normally sit inside JSON strings, so each substituted value is
escaped for a JSON string. GetJobDocument and DescribeJob return the text before substitution.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from iotfleet.emulator.errors import InvalidRequestException

MAX_DOCUMENT_BYTES = 32 * 1024
MAX_PLACEHOLDERS = 10
DEFAULT_EXPIRES_IN_SEC = 3600

PRESIGNED_V1 = "s3-presigned-url"
PRESIGNED_V2 = "s3-presigned-url-v2"
PACKAGE_ARTIFACT = "artifact"
PACKAGE_ATTRIBUTES = "attributes"
PACKAGE_ATTRIBUTE = "attribute"

_PLACEHOLDER = re.compile(r"\$\{aws:iot:(?P<body>[^}]*)\}")
_PACKAGE = re.compile(r"^package:(?P<package>[^:]*):version:(?P<version>[^:]*):(?P<rest>.+)$")
_ARTIFACT_FORMS = ("artifact:s3-presigned-url", "artifact-location:s3-presigned-url")


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str
    version_id: str | None = None


@dataclass(frozen=True)
class Placeholder:
    """One ``${aws:iot:...}`` placeholder of a document."""

    text: str  # the whole placeholder, ``${...}`` included
    kind: str
    location: S3Location | None = None  # the presigned-URL kinds
    package: str = ""
    version: str = ""
    attribute: str = ""  # PACKAGE_ATTRIBUTE only

    @property
    def needs_presigning(self) -> bool:
        return self.kind in (PRESIGNED_V1, PRESIGNED_V2, PACKAGE_ARTIFACT)

    @property
    def is_package(self) -> bool:
        return self.kind in (PACKAGE_ARTIFACT, PACKAGE_ATTRIBUTES, PACKAGE_ATTRIBUTE)


def parse_s3_url(url: str) -> S3Location:
    """Bucket, key and version of an S3 object URL: virtual-hosted, path-style (any host) or s3://."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http", "s3") or not parts.netloc:
        raise InvalidRequestException(f"{url!r} is not an S3 object URL")
    version = parse_qs(parts.query).get("versionId", [None])[0]
    path = unquote(parts.path).lstrip("/")
    host = parts.netloc.split(":")[0].lower()
    if parts.scheme == "s3":
        bucket, key = parts.netloc, path
    elif ".s3." in host or ".s3-" in host:
        bucket, key = host.split(".s3", 1)[0], path
    else:
        bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise InvalidRequestException(f"{url!r} does not name both a bucket and a key")
    return S3Location(bucket, key, version)


def parse_placeholder(text: str, body: str) -> Placeholder | None:
    """The placeholder ``text`` (body ``body``), or None for an ``aws:iot`` form this emulator ignores."""
    if body.startswith(PRESIGNED_V2 + ":"):
        return Placeholder(text, PRESIGNED_V2, parse_s3_url(unquote(body[len(PRESIGNED_V2) + 1 :])))
    if body.startswith(PRESIGNED_V1 + ":"):
        location = parse_s3_url(body[len(PRESIGNED_V1) + 1 :])
        return Placeholder(text, PRESIGNED_V1, S3Location(location.bucket, location.key))
    match = _PACKAGE.match(body)
    if match is None:
        return None
    package, version, rest = match["package"], match["version"], match["rest"]
    if rest in _ARTIFACT_FORMS:
        return Placeholder(text, PACKAGE_ARTIFACT, package=package, version=version)
    if rest == "attributes":
        return Placeholder(text, PACKAGE_ATTRIBUTES, package=package, version=version)
    if rest.startswith("attributes:") and len(rest) > len("attributes:"):
        return Placeholder(
            text, PACKAGE_ATTRIBUTE, package=package, version=version, attribute=rest[len("attributes:") :]
        )
    raise InvalidRequestException(f"Unsupported package placeholder {text}")


def find_placeholders(document: str) -> list[Placeholder]:
    found = []
    for match in _PLACEHOLDER.finditer(document):
        placeholder = parse_placeholder(match.group(0), match["body"])
        if placeholder is not None:
            found.append(placeholder)
    return found


def check_document(document: str) -> list[Placeholder]:
    """Validate a job document (size, JSON, placeholder count) and return its placeholders."""
    if len(document.encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise InvalidRequestException(f"The job document exceeds the maximum size of {MAX_DOCUMENT_BYTES} bytes")
    try:
        json.loads(document)
    except ValueError as exc:
        raise InvalidRequestException(f"The job document is not valid JSON: {exc}") from None
    placeholders = find_placeholders(document)
    if len(placeholders) > MAX_PLACEHOLDERS:
        raise InvalidRequestException(
            f"A job document can hold at most {MAX_PLACEHOLDERS} placeholders, this one has {len(placeholders)}"
        )
    return placeholders


class PackageVersionView(Protocol):
    """What substitution needs of a package version (the package catalog's record)."""

    @property
    def attributes(self) -> dict[str, str]: ...

    @property
    def artifact(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Substitution:
    """What a document read needs: a URL minter, a package lookup and the job's defaults."""

    presign: Callable[[S3Location, int], str]
    package_version: Callable[[str, str], PackageVersionView | None]
    expires_in: int = DEFAULT_EXPIRES_IN_SEC
    default_package: tuple[str, str] | None = None  # the single destination package version

    def resolve(self, placeholder: Placeholder) -> str | None:
        """The value of one placeholder, or None when it cannot be resolved (left as written)."""
        if placeholder.location is not None:
            return self.presign(placeholder.location, self.expires_in)
        package, version = placeholder.package, placeholder.version
        if not package and not version and self.default_package is not None:
            package, version = self.default_package
        record = self.package_version(package, version)
        if record is None:
            return None
        if placeholder.kind == PACKAGE_ARTIFACT:
            artifact = (record.artifact or {}).get("s3Location")
            if not artifact:
                return None
            location = S3Location(artifact["bucket"], artifact["key"], artifact.get("version"))
            return self.presign(location, self.expires_in)
        if placeholder.kind == PACKAGE_ATTRIBUTES:
            return json.dumps(record.attributes, separators=(",", ":"), sort_keys=True)
        return record.attributes.get(placeholder.attribute)

    def apply(self, document: str) -> str:
        """The document with every resolvable placeholder replaced."""

        def replace(match: re.Match[str]) -> str:
            placeholder = parse_placeholder(match.group(0), match["body"])
            if placeholder is None:
                return match.group(0)
            value = self.resolve(placeholder)
            if value is None:
                return match.group(0)
            return json.dumps(value)[1:-1]  # escaped for the JSON string it sits in

        return _PLACEHOLDER.sub(replace, document)
