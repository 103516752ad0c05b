"""A job's document against the registry: read from S3, its placeholders and package versions checked.

The document format itself (placeholders, S3 URLs, what a substitution does) is in :mod:`.documents`;
this is what CreateJob and CreateJobTemplate check through the :class:`RegistryView`, and the
substitution a device's read of the document gets.
"""

from __future__ import annotations

from typing import Any

from iotfleet.emulator.errors import InvalidRequestException, ResourceNotFoundException
from iotfleet.emulator.jobs.documents import (
    DEFAULT_EXPIRES_IN_SEC,
    MAX_DOCUMENT_BYTES,
    Placeholder,
    Substitution,
    parse_s3_url,
)
from iotfleet.emulator.jobs.models import Job
from iotfleet.emulator.jobs.registry import DEPLOYABLE_PACKAGE_STATUSES, RegistryView


class JobDocuments:
    """Job documents and package versions resolved through one :class:`RegistryView`."""

    def __init__(self, registry: RegistryView) -> None:
        self.registry = registry

    def fetch(self, source: str) -> str:
        """The text of the document at an S3 ``documentSource`` URL (at most 32 KB of UTF-8)."""
        location = parse_s3_url(source)
        data = self.registry.read_object(location)
        if data is None:
            raise InvalidRequestException(f"The documentSource {source} does not exist")
        if len(data) > MAX_DOCUMENT_BYTES:
            raise InvalidRequestException(
                f"The job document exceeds the maximum size of {MAX_DOCUMENT_BYTES} bytes"
            )
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestException(f"The documentSource {source} is not UTF-8 text") from None

    def load(self, params: dict[str, Any]) -> str:
        """The document of a CreateJob request: its ``document``, or the one its ``documentSource`` names."""
        document, source = params.get("document"), params.get("documentSource")
        if document is not None and source is not None:
            raise InvalidRequestException("Give either document or documentSource, not both")
        if document is not None:
            return str(document)
        if source is None:
            raise InvalidRequestException("A job needs a document, a documentSource or a jobTemplateArn")
        return self.fetch(str(source))

    def check_package_versions(self, version_arns: list[str]) -> list[tuple[str, str]]:
        """``(package, version)`` of each destination package version; each must exist and be deployable."""
        names = []
        for version_arn in version_arns:
            package, version = self.registry.parse_package_version_arn(version_arn)
            record = self.registry.package_version(package, version)
            if record is None:
                raise ResourceNotFoundException(f"Package version {version_arn} does not exist")
            if record.status not in DEPLOYABLE_PACKAGE_STATUSES:
                raise InvalidRequestException(
                    f"Package version {version_arn} is {record.status}; only PUBLISHED or DEPRECATED "
                    "versions can be deployed"
                )
            names.append((package, version))
        return names

    def check_placeholders(
        self,
        placeholders: list[Placeholder],
        presigned_url_config: dict[str, Any] | None,
        destinations: list[tuple[str, str]],
    ) -> None:
        """Presigned-URL placeholders need a presignedUrlConfig; package placeholders, existing versions."""
        if any(p.needs_presigning for p in placeholders) and not presigned_url_config:
            raise InvalidRequestException(
                "The job document has presigned-URL placeholders, so presignedUrlConfig is required"
            )
        for placeholder in (p for p in placeholders if p.is_package):
            package, version = placeholder.package, placeholder.version
            if not package and not version:
                if len(destinations) != 1:
                    raise InvalidRequestException(
                        f"{placeholder.text} leaves the package out, which needs exactly one "
                        "destinationPackageVersions entry"
                    )
                continue
            if self.registry.package_version(package, version) is None:
                raise InvalidRequestException(f"{placeholder.text} names a package version that does not exist")

    def substitution(self, job: Job) -> Substitution:
        """What a device's read of the job's document substitutes, with URLs minted now."""
        config = job.presigned_url_config or {}
        default_package = None
        if len(job.destination_package_versions) == 1:
            default_package = self.registry.parse_package_version_arn(job.destination_package_versions[0])
        return Substitution(
            presign=self.registry.presign_get,
            package_version=self.registry.package_version,
            expires_in=int(config.get("expiresInSec") or DEFAULT_EXPIRES_IN_SEC),
            default_package=default_package,
        )
