"""Firmware images for demos and provisioning: deterministic bytes, so a re-run computes the same checksum.

The content depends only on (package, version, size): a readable header followed by a SHA-256 counter stream.
Re-generating a version therefore gives the same SHA-256, which is what makes an upload resumable (the object
already in the bucket is recognised by its checksum) and a package version comparable across runs::

    sha256, size = generate_firmware(Path("firmware.bin"), "SedanVehicle", "1.0.0")
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

DEFAULT_FIRMWARE_SIZE = 64 * 1024
FIRMWARE_FILE_NAME = "firmware.bin"
MAX_FIRMWARE_SIZE = 512 * 1024 * 1024
_BLOCK = 32  # bytes per SHA-256 block of the stream


def _header(package: str, version: str) -> bytes:
    return f"IOTFLEET-FIRMWARE\npackage={package}\nversion={version}\n\n".encode()


def iter_firmware(package: str, version: str, size: int = DEFAULT_FIRMWARE_SIZE) -> Iterator[bytes]:
    """The image in chunks: the header, then ``sha256(package/version/counter)`` blocks, ``size`` bytes in all."""
    if not 1 <= size <= MAX_FIRMWARE_SIZE:
        raise ValueError(f"firmware size must be 1 to {MAX_FIRMWARE_SIZE} bytes, not {size}")
    header = _header(package, version)[:size]
    yield header
    remaining = size - len(header)
    seed = f"{package}/{version}/".encode()
    counter = 0
    chunk = bytearray()
    while remaining > 0:
        block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()[: min(_BLOCK, remaining)]
        chunk += block
        remaining -= len(block)
        counter += 1
        if len(chunk) >= 64 * 1024 or remaining == 0:
            yield bytes(chunk)
            chunk.clear()


def firmware_bytes(package: str, version: str, size: int = DEFAULT_FIRMWARE_SIZE) -> bytes:
    """The whole image in memory (small images only)."""
    return b"".join(iter_firmware(package, version, size))


def generate_firmware(
    path: str | os.PathLike[str], package: str, version: str, size: int = DEFAULT_FIRMWARE_SIZE
) -> tuple[str, int]:
    """Write the image of ``package``/``version`` to ``path``; returns its (SHA-256 hex, size in bytes)."""
    digest = hashlib.sha256()
    written = 0
    target = Path(path)
    with target.open("wb") as handle:
        for chunk in iter_firmware(package, version, size):
            handle.write(chunk)
            digest.update(chunk)
            written += len(chunk)
    return digest.hexdigest(), written
