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


def html_target(path: str, param: str = "--html") -> Path:
    """Where to write an HTML page: a file name in a folder that exists; anything else is a usage error."""
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{path} is a directory; give a file name such as report.html", param)
    if not target.parent.exists():
        raise UsageError(f"the folder {target.parent} does not exist", param)
    return target
