"""Opaque ``nextToken`` pagination over an ordered list, shared by every handler that pages.

The token encodes the offset of the next item; a token that was not issued by :func:`page` is an
``InvalidRequestException``, as on AWS.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TypeVar

from iotfleet.emulator.errors import InvalidRequestException

T = TypeVar("T")
_PREFIX = "iotfleet:"


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"{_PREFIX}{offset}".encode()).decode("ascii")


def decode_token(token: str) -> int:
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidRequestException("The nextToken is invalid.") from None
    if not text.startswith(_PREFIX) or not text[len(_PREFIX) :].isdigit():
        raise InvalidRequestException("The nextToken is invalid.")
    return int(text[len(_PREFIX) :])


def page(items: Sequence[T], page_size: int, token: str | None) -> tuple[list[T], str | None]:
    """One page of ``items`` and the token of the next page (None on the last page)."""
    start = decode_token(token) if token else 0
    end = start + page_size
    return list(items[start:end]), (encode_token(end) if end < len(items) else None)
