"""Repeated ``key=value`` flags (``--tag``, ``--attribute``) read into a dict, by one rule for all of them.

Each caller then checks the result against its own AWS rules (tag or attribute keys and values, limits).
"""

from __future__ import annotations

from collections.abc import Iterable

from iotfleet.aws.errors import UsageError


def parse_key_values(values: Iterable[str], *, what: str, param: str, strip: bool = False) -> dict[str, str]:
    """``key=value`` strings to a dict (a later key wins); ``strip`` trims spaces around keys and values.

    An item without ``=`` or with nothing before it is a usage error naming ``param``: "<what> 'x' must be
    key=value".
    """
    pairs: dict[str, str] = {}
    for value in values:
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise UsageError(f"{what} {value!r} must be key=value", param)
        if strip:
            key, text = key.strip(), text.strip()
        pairs[key] = text
    return pairs
