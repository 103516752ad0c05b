"""Reading the files a person names, on the command line or at a prompt: one way, one error message."""

from __future__ import annotations

from pathlib import Path

from iotfleet.aws.errors import UsageError


def read_document(path: str, param: str = "--document") -> str:
    """A document file's text (UTF-8); an unreadable file is a usage error naming ``param``."""
    file = Path(path)
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {file}: {exc}", param) from None
