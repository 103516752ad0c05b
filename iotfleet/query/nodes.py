"""The parsed form of a Fleet Indexing query: an immutable tree of nodes.

Nodes compare and hash by meaning only; source positions are carried along for error messages but take
no part in equality, so ``parse(to_query_string(parse(q))) == parse(q)``.

Leaves (each counts as one of the query's at most 12 terms):

- :class:`Match`     ``field:value`` or ``field:"a phrase"``, a whole-value, case-insensitive match;
- :class:`Wildcard`  ``field:tv*`` / ``field:ab?``;
- :class:`Exists`    ``field:*``, the field has some value;
- :class:`MatchAll`  a bare ``*``, every thing;
- :class:`Range`     ``field:[a TO b]`` with ``{``/``}`` for exclusive bounds and ``*`` for an open one;
- :class:`Compare`   ``field>5``, ``field<=40``...

``field`` is ``None`` for a bare term, which searches every registry and shadow value.

Branches: :class:`Not` (``NOT x`` or ``-x``), :class:`And` (explicit ``AND`` or the implicit whitespace
AND, which binds more loosely than ``OR``) and :class:`Or`. Parsing keeps them flat: ``a OR b OR c`` is one
:class:`Or` with three children, never an :class:`Or` directly inside another.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as _field
from typing import Literal

CompareOp = Literal[">", ">=", "<", "<="]
NotStyle = Literal["NOT", "-"]


@dataclass(frozen=True)
class Match:
    """``field:value``. ``quoted`` records whether it was written as a phrase; matching is the same."""

    field: str | None
    value: str
    quoted: bool = False
    position: int = _field(default=0, compare=False)
    field_position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Wildcard:
    """``field:pattern`` where ``*`` matches any run of characters and ``?`` exactly one.

    ``pattern`` keeps the backslash escapes of literal ``*``, ``?`` and ``\\`` (and only those), so an
    unescaped ``*`` or ``?`` in it is always a wildcard.
    """

    field: str | None
    pattern: str
    position: int = _field(default=0, compare=False)
    field_position: int = _field(default=0, compare=False)

    @property
    def leading(self) -> bool:
        """Whether the pattern starts with a wildcard (AWS allows one such term per query)."""
        return self.pattern[:1] in ("*", "?")


@dataclass(frozen=True)
class Exists:
    """``field:*``: the thing has a value for the field."""

    field: str
    position: int = _field(default=0, compare=False)
    field_position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class MatchAll:
    """A bare ``*``, which AWS documents as matching every thing."""

    position: int = _field(default=0, compare=False)

    @property
    def field(self) -> None:
        return None


@dataclass(frozen=True)
class Bound:
    """One end of a range. ``quoted`` as for :class:`Match`."""

    value: str
    quoted: bool = False


@dataclass(frozen=True)
class Range:
    """``field:[low TO high]``; ``None`` for an open (``*``) bound."""

    field: str
    low: Bound | None
    high: Bound | None
    include_low: bool = True
    include_high: bool = True
    position: int = _field(default=0, compare=False)
    field_position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Compare:
    """``field>value`` and friends, written without spaces."""

    field: str
    op: CompareOp
    value: str
    quoted: bool = False
    position: int = _field(default=0, compare=False)
    field_position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Not:
    """Negation: every thing the child does not match. ``style`` is how it was written."""

    child: Node
    style: NotStyle = "NOT"
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    """All children match. ``implicit`` marks the whitespace AND, which binds more loosely than OR."""

    children: tuple[Node, ...]
    implicit: bool = False
    position: int = _field(default=0, compare=False)


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]
    position: int = _field(default=0, compare=False)


Leaf = Match | Wildcard | Exists | MatchAll | Range | Compare
Node = Leaf | Not | And | Or
LEAF_TYPES = (Match, Wildcard, Exists, MatchAll, Range, Compare)


@dataclass(frozen=True)
class Query:
    """A parsed query: the tree, plus the text it came from (for error carets; not part of equality)."""

    root: Node
    text: str = _field(default="", compare=False)


def root_of(query: Query | Node) -> Node:
    """Accept either a :class:`Query` or a bare node wherever a query is expected."""
    return query.root if isinstance(query, Query) else query


def make_and(children: list[Node], implicit: bool, position: int = 0) -> Node:
    """An :class:`And` of ``children``, flattening nested ANDs of the same kind; one child is itself."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, And) and child.implicit == implicit:
            flat.extend(child.children)
        else:
            flat.append(child)
    if len(flat) == 1:
        return flat[0]
    return And(tuple(flat), implicit=implicit, position=position)


def make_or(children: list[Node], position: int = 0) -> Node:
    """An :class:`Or` of ``children``, flattening nested ORs; one child is itself."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, Or):
            flat.extend(child.children)
        else:
            flat.append(child)
    if len(flat) == 1:
        return flat[0]
    return Or(tuple(flat), position=position)


def iter_leaves(query: Query | Node) -> Iterator[Leaf]:
    """Every leaf (term) of the tree, left to right."""
    stack: list[Node] = [root_of(query)]
    while stack:
        node = stack.pop()
        if isinstance(node, (And, Or)):
            stack.extend(reversed(node.children))
        elif isinstance(node, Not):
            stack.append(node.child)
        else:
            yield node


def fields_used(query: Query | Node) -> list[str]:
    """The distinct field names the query mentions, in order of first use (bare terms have none)."""
    seen: dict[str, None] = {}
    for leaf in iter_leaves(query):
        if leaf.field is not None:
            seen.setdefault(leaf.field, None)
    return list(seen)
