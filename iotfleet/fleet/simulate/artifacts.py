"""What a simulated device downloads and how it checks it: the artifacts a job document names, the HTTP GET
that hashes them on the fly, and the comparison with the SHA-256 and size the package version publishes.

Kept apart from the device's execution loop (:mod:`.device`), which decides when to download and reports
what these functions find. :class:`PackageAttributes` is shared by every device of a run, so each package
version's published attributes are read once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from iotfleet.fleet.jobs.documents import SHA256_ATTRIBUTE, SIZE_ATTRIBUTE
from iotfleet.fleet.simulate import behaviour

_DOWNLOAD_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Artifact:
    """A file the document tells the device to download, with what it should hash to."""

    url: str
    sha256: str | None = None
    size: int | None = None
    package: str | None = None
    version: str | None = None

    @property
    def name(self) -> str:
        path = self.url.split("?", 1)[0]
        return path.rsplit("/", 1)[-1] or path


@dataclass(frozen=True)
class Download:
    """What a GET brought back: its SHA-256 and size, or why it failed."""

    sha256: str = ""
    size: int = 0
    error: str | None = None


class PackageAttributes:
    """``get_package_version`` attributes, asked once per version and shared by every device of a run."""

    def __init__(self, fetch: Callable[[str, str], dict[str, str]]) -> None:
        self._fetch = fetch
        self._lock = threading.Lock()
        self._cache: dict[tuple[str, str], dict[str, str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}

    def get(self, package: str, version: str) -> dict[str, str]:
        key = (package, version)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._lock:
                if key in self._cache:
                    return self._cache[key]
            attributes = self._fetch(package, version)
            with self._lock:
                self._cache[key] = attributes
            return attributes


def parse_attributes(value: Any) -> dict[str, str] | None:
    """Attributes from a substituted ``...:attributes`` placeholder (JSON text) or a plain object."""
    if isinstance(value, str):
        if not value.startswith("{"):
            return None
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    return None


def find_artifacts(document: Any) -> list[Artifact]:
    """Every object of the document with a ``url`` to download, with the attributes and names beside it.

    iotfleet's OTA document is one such object (``url``, ``attributes``, ``package``, ``version``); custom
    documents may nest them anywhere. A ``package``/``version`` missing next to the URL is taken from the
    nearest enclosing object.
    """
    found: list[Artifact] = []

    def walk(node: Any, package: str | None, version: str | None) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, package, version)
            return
        if not isinstance(node, Mapping):
            return
        own_package = node.get("package") if isinstance(node.get("package"), str) else package
        own_version = node.get("version") if isinstance(node.get("version"), str) else version
        url = node.get("url")
        if isinstance(url, str):
            attributes = parse_attributes(node.get("attributes")) or {}
            size = attributes.get(SIZE_ATTRIBUTE)
            found.append(
                Artifact(
                    url=url,
                    sha256=(attributes.get(SHA256_ATTRIBUTE) or None),
                    size=int(size) if size is not None and size.isdigit() else None,
                    package=own_package,
                    version=own_version,
                )
            )
        for value in node.values():
            if isinstance(value, (Mapping, list)):
                walk(value, own_package, own_version)

    walk(document, None, None)
    return found


class DownloadSession(requests.Session):
    """A requests session for the devices' downloads that reads the environment's proxy and CA settings once
    per host. requests reads them again for every request (every variable, and ``no_proxy`` parsed against
    the host): about a twentieth of a simulated execution's CPU. They do not change during a run."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        if proxies:  # proxies given for this request: requests' own merge
            return super().merge_environment_settings(url, proxies, stream, verify, cert)  # type: ignore[no-any-return]
        scheme, host = urlsplit(str(url))[:2]
        key = (scheme, host, stream, verify, cert)
        with self._environment_lock:
            settings = self._environment.get(key)
            if settings is None:
                settings = super().merge_environment_settings(url, {}, stream, verify, cert)
                self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}


def download(session: requests.Session, url: str, *, corrupt: bool = False, timeout: float = 60.0) -> Download:
    """GET ``url`` and hash it on the fly; ``corrupt`` flips one bit of the first byte before hashing."""
    digest = hashlib.sha256()
    size = 0
    try:
        with session.get(url, stream=True, timeout=(10.0, timeout)) as response:
            if response.status_code != 200:
                return Download(error=f"HTTP {response.status_code} {_s3_error(response.text)}".strip())
            first = True
            for chunk in response.iter_content(_DOWNLOAD_CHUNK):
                if first and corrupt and chunk:
                    chunk = bytes([chunk[0] ^ 0x01]) + chunk[1:]
                first = False
                digest.update(chunk)
                size += len(chunk)
    except requests.RequestException as exc:
        return Download(error=f"{type(exc).__name__}: {exc}")
    if corrupt and size == 0:
        # Nothing to flip in an empty file: corruption shows as a stray byte.
        digest.update(b"\x01")
    return Download(digest.hexdigest(), size)


def _s3_error(body: str) -> str:
    """``Code: Message`` of an S3 XML error body, or nothing."""
    code = _between(body, "<Code>", "</Code>")
    message = _between(body, "<Message>", "</Message>")
    return ": ".join(part for part in (code, message) if part)


def _between(text: str, start: str, end: str) -> str:
    head, found, rest = text.partition(start)
    return rest.partition(end)[0] if found else ""



def verify(artifact: Artifact, got: Download) -> dict[str, str] | None:
    """statusDetails of a checksum failure, or None when the download is what was published."""
    if not artifact.sha256:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"no SHA-256 is published for {artifact.name}, so it cannot be verified",
        }
    if artifact.size is not None and artifact.size != got.size:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"size mismatch for {artifact.name}: expected {artifact.size} bytes, got {got.size}",
            "expectedSha256": artifact.sha256,
            "actualSha256": got.sha256,
        }
    if artifact.sha256.lower() != got.sha256:
        return {
            "step": "verifying",
            "failureType": behaviour.CHECKSUM,
            "reason": f"SHA-256 mismatch for {artifact.name}",
            "expectedSha256": artifact.sha256,
            "actualSha256": got.sha256,
        }
    return None
