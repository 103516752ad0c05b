"""Job documents: the OTA document iotfleet writes, the custom-job starter, and the local document checks.

An OTA document names one package version and carries two placeholders that AWS IoT Jobs substitutes when a
device reads it: the artifact's presigned URL and the version's attributes (a JSON text holding at least
``sha256`` and ``size``, so the device can check what it downloaded)::

    {
      "operation": "firmware-update",
      "package": "fw-main",
      "version": "1.2.0",
      "url": "${aws:iot:package:fw-main:version:1.2.0:artifact:s3-presigned-url}",
      "attributes": "${aws:iot:package:fw-main:version:1.2.0:attributes}"
    }

:class:`OtaInstruction` reads such a document back after substitution (the device side).

:func:`check_document` applies, before any call, what AWS would refuse: at most 32 KB, valid JSON, well-formed
``${aws:iot:...}`` placeholders (at most 10), and package references that agree with the job's
``destinationPackageVersions``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from iotfleet.aws.errors import UsageError
from iotfleet.fleet.naming import PACKAGE_NAME, PACKAGE_VERSION_NAME

MAX_DOCUMENT_BYTES = 32 * 1024
MAX_PLACEHOLDERS = 10

OTA_OPERATION = "firmware-update"
# The version attributes a device checks its download against; provisioning and packages both write them.
SHA256_ATTRIBUTE = "sha256"
SIZE_ATTRIBUTE = "size"

PLACEHOLDER_PREFIX = "${aws:iot:"
_ATTRIBUTE_KEY = re.compile(r"[a-zA-Z0-9:_-]+")
_PACKAGE_BODY = re.compile(r"package:(?P<package>[^:]*):version:(?P<version>[^:]*):(?P<rest>.+)")
_ARTIFACT_FORMS = ("artifact:s3-presigned-url", "artifact-location:s3-presigned-url")

# Kinds of placeholder.
PRESIGNED_URL = "s3-presigned-url"
PRESIGNED_URL_V2 = "s3-presigned-url-v2"
PACKAGE_ARTIFACT = "package-artifact"
PACKAGE_ATTRIBUTES = "package-attributes"
PACKAGE_ATTRIBUTE = "package-attribute"


@dataclass(frozen=True, order=True)
class PackageVersionRef:
    """A package version by name (``package``/``version``)."""

    package: str
    version: str

    def __str__(self) -> str:
        return f"{self.package}/{self.version}"

    def arn(self, region: str, account_id: str) -> str:
        return f"arn:aws:iot:{region}:{account_id}:package/{self.package}/version/{self.version}"

    @classmethod
    def from_arn(cls, arn: str) -> PackageVersionRef:
        """Parse ``arn:aws:iot:<region>:<account>:package/<p>/version/<v>``."""
        match = re.fullmatch(r"arn:aws[a-zA-Z-]*:iot:[^:]*:[^:]*:package/([^/]+)/version/([^/]+)", arn)
        if match is None:
            raise ValueError(f"not a package version ARN: {arn!r}")
        return cls(match.group(1), match.group(2))


@dataclass(frozen=True)
class Placeholder:
    """One ``${aws:iot:...}`` placeholder found in a document."""

    text: str
    kind: str
    package: str = ""
    version: str = ""
    attribute: str = ""

    @property
    def is_package(self) -> bool:
        return self.kind in (PACKAGE_ARTIFACT, PACKAGE_ATTRIBUTES, PACKAGE_ATTRIBUTE)

    @property
    def needs_presigning(self) -> bool:
        """True when substituting it mints a presigned URL, which needs the job's presignedUrlConfig."""
        return self.kind in (PRESIGNED_URL, PRESIGNED_URL_V2, PACKAGE_ARTIFACT)

    @property
    def names_version(self) -> bool:
        """False for the ``package::version::`` form, which means the job's single destination version."""
        return bool(self.package)

    @property
    def ref(self) -> PackageVersionRef | None:
        return PackageVersionRef(self.package, self.version) if self.is_package and self.package else None


@dataclass(frozen=True)
class CheckedDocument:
    """A document that passed :func:`check_document`: its text, parsed JSON and placeholders."""

    text: str
    content: Any
    placeholders: tuple[Placeholder, ...] = field(default_factory=tuple)

    @property
    def package_refs(self) -> list[PackageVersionRef]:
        """The package versions the document names, in order of first appearance."""
        refs = [p.ref for p in self.placeholders if p.ref is not None]
        return list(dict.fromkeys(refs))

    @property
    def uses_default_package(self) -> bool:
        return any(p.is_package and not p.names_version for p in self.placeholders)

    @property
    def needs_presigning(self) -> bool:
        return any(p.needs_presigning for p in self.placeholders)


def artifact_placeholder(package: str, version: str) -> str:
    return f"${{aws:iot:package:{package}:version:{version}:artifact:s3-presigned-url}}"


def attributes_placeholder(package: str, version: str, key: str | None = None) -> str:
    suffix = f":{key}" if key else ""
    return f"${{aws:iot:package:{package}:version:{version}:attributes{suffix}}}"


def ota_document(package: str, version: str) -> dict[str, str]:
    """The OTA job document for one package version (see the module docstring)."""
    return {
        "operation": OTA_OPERATION,
        "package": package,
        "version": version,
        "url": artifact_placeholder(package, version),
        "attributes": attributes_placeholder(package, version),
    }


def render(document: Any) -> str:
    """A document as the compact JSON text sent to AWS."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def starter_document() -> dict[str, Any]:
    """A custom-job document to start from (``jobs create --print-template``); edit, save and pass with --document.

    ``operation`` tells the device what to do; ``parameters`` is free-form. To deploy a package version with a
    custom document, keep the placeholders and replace PACKAGE and VERSION (or add ``--package``/``--version``
    and write ``${aws:iot:package::version::...}`` to mean that version).
    """
    return {
        "operation": "custom",
        "command": "reboot",
        "parameters": {"delaySeconds": "30", "reason": "maintenance"},
        "package": {
            "url": artifact_placeholder("PACKAGE", "VERSION"),
            "attributes": attributes_placeholder("PACKAGE", "VERSION"),
        },
    }


# --- checking -------------------------------------------------------------------------------------


def parse_placeholder(text: str, body: str, param: str | None = None) -> Placeholder:
    """The placeholder ``text`` (``${aws:iot:<body>}``), or a :class:`UsageError` saying what is wrong."""
    if body.startswith(PRESIGNED_URL_V2 + ":"):
        url = body[len(PRESIGNED_URL_V2) + 1 :]
        if not url:
            raise UsageError(f"placeholder {text} has no URL", param)
        return Placeholder(text, PRESIGNED_URL_V2)
    if body.startswith(PRESIGNED_URL + ":"):
        url = body[len(PRESIGNED_URL) + 1 :]
        if not url.startswith("https://"):
            raise UsageError(f"placeholder {text}: the URL must be an https:// S3 object URL", param)
        return Placeholder(text, PRESIGNED_URL)
    if body.startswith("parameter:"):
        raise UsageError(
            f"placeholder {text}: document parameters exist only in AWS managed templates", param
        )
    match = _PACKAGE_BODY.fullmatch(body)
    if match is None:
        raise UsageError(
            f"unknown placeholder {text}: expected ${{aws:iot:package:<name>:version:<version>:"
            "artifact:s3-presigned-url}, ...:attributes, ...:attributes:<key>, or an s3-presigned-url form",
            param,
        )
    package, version, rest = match["package"], match["version"], match["rest"]
    if bool(package) != bool(version):
        raise UsageError(f"placeholder {text}: give both the package and the version, or neither", param)
    if package:
        if not PACKAGE_NAME.is_valid(package):
            raise UsageError(f"placeholder {text}: invalid package name {package!r}", param)
        if not PACKAGE_VERSION_NAME.is_valid(version):
            raise UsageError(f"placeholder {text}: invalid version name {version!r}", param)
    if rest in _ARTIFACT_FORMS:
        return Placeholder(text, PACKAGE_ARTIFACT, package, version)
    if rest == "attributes":
        return Placeholder(text, PACKAGE_ATTRIBUTES, package, version)
    if rest.startswith("attributes:"):
        key = rest[len("attributes:") :]
        if not _ATTRIBUTE_KEY.fullmatch(key):
            raise UsageError(f"placeholder {text}: invalid attribute key {key!r}", param)
        return Placeholder(text, PACKAGE_ATTRIBUTE, package, version, key)
    raise UsageError(
        f"placeholder {text}: after the version expected artifact:s3-presigned-url, attributes or "
        "attributes:<key>",
        param,
    )


def find_placeholders(text: str, param: str | None = None) -> list[Placeholder]:
    """Every ``${aws:iot:...}`` placeholder of ``text``; an unterminated or unknown one is a usage error."""
    found: list[Placeholder] = []
    start = text.find(PLACEHOLDER_PREFIX)
    while start != -1:
        end = text.find("}", start)
        if end == -1:
            raise UsageError(
                f"unterminated placeholder at character {start}: {text[start : start + 60]!r}", param
            )
        whole = text[start : end + 1]
        if any(ch in whole[2:-1] for ch in '"{\n'):
            # The brace that closes it lies beyond its JSON string: the placeholder itself is not closed.
            raise UsageError(f"unterminated placeholder at character {start}: {text[start:start + 60]!r}", param)
        found.append(parse_placeholder(whole, text[start + len(PLACEHOLDER_PREFIX) : end], param))
        start = text.find(PLACEHOLDER_PREFIX, end + 1)
    return found


def referenced_versions(text: str) -> set[PackageVersionRef]:
    """The package versions named by the well-formed package placeholders of ``text``, ignoring anything else.

    For reading documents AWS already accepted (the delete guard), where a strict check has no place.
    """
    refs: set[PackageVersionRef] = set()
    for match in re.finditer(r"\$\{aws:iot:(package:[^}]*)\}", text):
        body = _PACKAGE_BODY.fullmatch(match.group(1))
        if body is not None and body["package"] and body["version"]:
            refs.add(PackageVersionRef(body["package"], body["version"]))
    return refs


def check_document(text: str, param: str | None = "--document") -> CheckedDocument:
    """Size, JSON and placeholder checks; returns the parsed document."""
    size = len(text.encode("utf-8"))
    if size > MAX_DOCUMENT_BYTES:
        raise UsageError(f"the job document is {size} bytes; AWS allows at most {MAX_DOCUMENT_BYTES}", param)
    if not text.strip():
        raise UsageError("the job document is empty", param)
    try:
        content = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the job document is not valid JSON: {exc}", param) from None
    if not isinstance(content, dict):
        raise UsageError(
            f"the job document must be a JSON object ({{...}}), not a JSON {type(content).__name__}", param
        )
    placeholders = find_placeholders(text, param)
    if len(placeholders) > MAX_PLACEHOLDERS:
        raise UsageError(
            f"the job document has {len(placeholders)} placeholders; AWS substitutes at most {MAX_PLACEHOLDERS}",
            param,
        )
    return CheckedDocument(text, content, tuple(placeholders))


def check_package_references(
    document: CheckedDocument, destinations: Iterable[PackageVersionRef], param: str | None = "--document"
) -> None:
    """The document's package placeholders must name destination versions of the job.

    ``${aws:iot:package::version::...}`` (no names) means the single destination version, so it needs
    exactly one.
    """
    targets = list(dict.fromkeys(destinations))
    missing = [ref for ref in document.package_refs if ref not in targets]
    if missing:
        listed = ", ".join(str(ref) for ref in targets) or "none"
        raise UsageError(
            f"the document refers to package version(s) {', '.join(str(r) for r in missing)} that the job does "
            f"not deploy (destination package versions: {listed})",
            param,
        )
    if document.uses_default_package and len(targets) != 1:
        raise UsageError(
            "the document uses ${aws:iot:package::version::...}, which needs exactly one destination package "
            f"version (the job has {len(targets)})",
            param,
        )


# --- the device side --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OtaInstruction:
    """What a device reads from an OTA document once AWS substituted the placeholders."""

    package: str
    version: str
    url: str
    attributes: dict[str, str]

    @property
    def sha256(self) -> str | None:
        return self.attributes.get(SHA256_ATTRIBUTE)

    @property
    def size(self) -> int | None:
        value = self.attributes.get(SIZE_ATTRIBUTE)
        return int(value) if value is not None and value.isdigit() else None

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | str) -> OtaInstruction:
        """Read a substituted OTA document; raises ValueError when it is not one."""
        content = json.loads(document) if isinstance(document, str) else document
        if not isinstance(content, Mapping) or content.get("operation") != OTA_OPERATION:
            raise ValueError(f"not an OTA document (operation is not {OTA_OPERATION!r})")
        attributes = content.get("attributes")
        if isinstance(attributes, str):
            attributes = json.loads(attributes) if attributes.startswith("{") else None
        if not isinstance(attributes, Mapping):
            raise ValueError("the OTA document's attributes were not substituted")
        url = content.get("url")
        if not isinstance(url, str) or url.startswith(PLACEHOLDER_PREFIX):
            raise ValueError("the OTA document's url was not substituted")
        return cls(
            package=str(content.get("package", "")),
            version=str(content.get("version", "")),
            url=url,
            attributes={str(k): str(v) for k, v in attributes.items()},
        )
