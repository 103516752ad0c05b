"""Turning a parsed query back into text: canonical query strings and the ``--explain`` tree."""

from __future__ import annotations

from iotfleet.query.lexer import SPECIAL_CHARACTERS
from iotfleet.query.nodes import (
    And,
    Bound,
    Compare,
    Exists,
    Match,
    MatchAll,
    Node,
    Not,
    Or,
    Query,
    Range,
    Wildcard,
    root_of,
)
from iotfleet.query.values import is_number

# Binding strength, loosest first: a child that binds more loosely than its parent needs parentheses.
_IMPLICIT_AND, _OR, _AND, _NOT, _ATOM = range(5)
_RESERVED_WORDS = ("AND", "OR", "NOT", "TO")


def to_query_string(query: Query | Node) -> str:
    """Canonical query text for ``query``; parsing it gives back an equal tree."""
    return _render(root_of(query))


def _level(node: Node) -> int:
    if isinstance(node, And):
        return _IMPLICIT_AND if node.implicit else _AND
    if isinstance(node, Or):
        return _OR
    if isinstance(node, Not):
        return _NOT
    return _ATOM


def _render(node: Node, needed: int = _IMPLICIT_AND) -> str:
    text = _render_bare(node)
    return f"({text})" if _level(node) < needed else text


def _render_bare(node: Node) -> str:
    if isinstance(node, And):
        if node.implicit:
            return " ".join(_render(child, _OR) for child in node.children)
        return " AND ".join(_render(child, _NOT) for child in node.children)
    if isinstance(node, Or):
        return " OR ".join(_render(child, _AND) for child in node.children)
    if isinstance(node, Not):
        prefix = "-" if node.style == "-" else "NOT "
        return prefix + _render(node.child, _NOT)
    return _render_leaf(node)


def _render_leaf(node: Node) -> str:
    if isinstance(node, MatchAll):
        return "*"
    if isinstance(node, Exists):
        return f"{escape_field(node.field)}:*"
    if isinstance(node, Match):
        if node.quoted:
            value = quote(node.value)
        else:
            value = escape_value(node.value, number_allowed=node.field is not None)
        return value if node.field is None else f"{escape_field(node.field)}:{value}"
    if isinstance(node, Wildcard):
        value = _render_pattern(node.pattern)
        return value if node.field is None else f"{escape_field(node.field)}:{value}"
    if isinstance(node, Range):
        opening = "[" if node.include_low else "{"
        closing = "]" if node.include_high else "}"
        return f"{escape_field(node.field)}:{opening}{_bound(node.low)} TO {_bound(node.high)}{closing}"
    if isinstance(node, Compare):
        value = quote(node.value) if node.quoted else escape_value(node.value, number_allowed=True)
        return f"{escape_field(node.field)}{node.op}{value}"
    raise TypeError(f"not a query node: {node!r}")


def _bound(bound: Bound | None) -> str:
    if bound is None:
        return "*"
    return quote(bound.value) if bound.quoted else escape_value(bound.value, number_allowed=True)


def quote(value: str) -> str:
    """``value`` as a phrase: double quotes, with ``"`` and ``\\`` escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def escape_value(value: str, number_allowed: bool = False) -> str:
    """``value`` as one unquoted word that reads back literally (no wildcards, no operators).

    ``number_allowed``: the word follows a field, where a negative number needs no escaping.
    """
    if value in _RESERVED_WORDS:
        return "\\" + value
    if number_allowed and is_number(value) and not value.startswith("+"):
        return value
    out = []
    for index, char in enumerate(value):
        if char in SPECIAL_CHARACTERS or char.isspace() or (index == 0 and char in "-+"):
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def escape_field(name: str) -> str:
    """A field name as written in a query (``attributes.<name>`` may hold characters that need escaping)."""
    return escape_value(name)


def _render_pattern(pattern: str) -> str:
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append("\\" + pattern[index + 1])
            index += 2
            continue
        if char in "*?":
            out.append(char)
        elif char in SPECIAL_CHARACTERS or char.isspace() or (index == 0 and char in "-+"):
            out.append("\\" + char)
        else:
            out.append(char)
        index += 1
    return "".join(out)


def explain(query: Query | Node) -> str:
    """An indented tree of ``query`` that shows how it groups, e.g. for ``a OR b c``::

        AND (implicit: whitespace, binds looser than OR)
          OR
            any field = "a"
            any field = "b"
          any field = "c"
    """
    lines: list[str] = []
    _explain(root_of(query), 0, lines)
    return "\n".join(lines)


def _explain(node: Node, depth: int, lines: list[str]) -> None:
    indent = "  " * depth
    if isinstance(node, And):
        label = "AND (implicit: whitespace, binds looser than OR)" if node.implicit else "AND"
        lines.append(indent + label)
        for child in node.children:
            _explain(child, depth + 1, lines)
    elif isinstance(node, Or):
        lines.append(indent + "OR")
        for child in node.children:
            _explain(child, depth + 1, lines)
    elif isinstance(node, Not):
        lines.append(indent + ("NOT (written '-')" if node.style == "-" else "NOT"))
        _explain(node.child, depth + 1, lines)
    else:
        lines.append(indent + describe_leaf(node))


def describe_leaf(node: Node) -> str:
    """One line saying what a single term matches."""
    if isinstance(node, MatchAll):
        return "every thing (*)"
    field = getattr(node, "field", None)
    subject = field if field is not None else "any field"
    if isinstance(node, Exists):
        return f"{subject} has a value"
    if isinstance(node, Match):
        return f"{subject} = {_shown(node.value)}"
    if isinstance(node, Wildcard):
        return f'{subject} matches "{node.pattern}" (wildcard)'
    if isinstance(node, Compare):
        return f"{subject} {node.op} {_shown(node.value)}"
    if isinstance(node, Range):
        low = "*" if node.low is None else _shown(node.low.value)
        high = "*" if node.high is None else _shown(node.high.value)
        opening = "[" if node.include_low else "{"
        closing = "]" if node.include_high else "}"
        return f"{subject} in {opening}{low} TO {high}{closing}"
    raise TypeError(f"not a query node: {node!r}")


def _shown(value: str) -> str:
    """A value in the explanation: numbers as they are, anything else quoted."""
    return value if is_number(value) else quote(value)
