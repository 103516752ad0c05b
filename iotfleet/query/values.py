"""How query values and document values compare.

- Matching is case-insensitive and whole-value.
- When both sides are numbers they compare as numbers; a string that looks like a decimal number (an
  attribute ``"75"``) counts as a number, so ``attributes.num>5`` is true for ``"75"`` and false for ``"5"``.
- Otherwise they compare as case-folded text, lexicographically.
- Booleans read as ``true`` / ``false``.
"""

from __future__ import annotations

import re

Number = int | float

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"[+-]?\d+")


def is_number(text: str) -> bool:
    """Whether ``text`` is a decimal number (``5``, ``-3``, ``75.5``, ``1e3``); ``nan`` and ``inf`` are not."""
    return _NUMBER.fullmatch(text) is not None


def parse_number(text: str) -> Number | None:
    """``text`` as an exact int or a float, or ``None`` when it is not a decimal number."""
    if _INTEGER.fullmatch(text):
        return int(text)
    if _NUMBER.fullmatch(text):
        return float(text)
    return None


def as_number(value: object) -> Number | None:
    """A document value as a number: JSON numbers, and strings that look like numbers; else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        return parse_number(value.strip())
    return None


def as_text(value: object) -> str:
    """A document value as case-folded text, the form wildcards and text comparisons use."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return str(value).casefold()


def compare(value: object, text: str, number: Number | None) -> int:
    """-1, 0 or 1 as ``value`` sorts before, with or after a query value (given as text and number)."""
    if number is not None:
        own = as_number(value)
        if own is not None:
            return (own > number) - (own < number)
    own_text = as_text(value)
    other = text.casefold()
    return (own_text > other) - (own_text < other)
