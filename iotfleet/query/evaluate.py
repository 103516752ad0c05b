"""Evaluating a parsed query against thing documents.

A query is compiled once into nested closures (one per node, field paths resolved up front), which keeps
evaluation over tens of thousands of documents fast. ``NOT x`` matches every thing ``x`` does not,
including things that have no value for the field.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from iotfleet.query.document import (
    Scalar,
    ThingDocument,
    ValueReader,
    has_leaf,
    raw_reader,
    scalars,
    searchable_values,
)
from iotfleet.query.fields import resolve_field
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
from iotfleet.query.values import Number, as_number, as_text, compare, parse_number

Predicate = Callable[[ThingDocument], bool]
ValueTest = Callable[[object], bool]


def matches(query: Query | Node, doc: ThingDocument) -> bool:
    """Whether the thing described by ``doc`` (see :mod:`iotfleet.query.document`) matches ``query``."""
    return compile_predicate(root_of(query))(doc)


@functools.lru_cache(maxsize=256)
def compile_predicate(node: Node) -> Predicate:
    """A function ``doc -> bool`` for ``node``; cached, as trees are immutable and hashable."""
    return _compile(node)


def _compile(node: Node) -> Predicate:
    if isinstance(node, And):
        parts = tuple(_compile(child) for child in node.children)
        return lambda doc: all(part(doc) for part in parts)
    if isinstance(node, Or):
        parts = tuple(_compile(child) for child in node.children)
        return lambda doc: any(part(doc) for part in parts)
    if isinstance(node, Not):
        inner = _compile(node.child)
        return lambda doc: not inner(doc)
    if isinstance(node, MatchAll):
        return lambda doc: True
    if isinstance(node, Exists):
        read = raw_reader(resolve_field(node.field))
        return lambda doc: has_leaf(read(doc))
    return _compile_value_test(node)


def _compile_value_test(node: Node) -> Predicate:
    """Leaves that test values: true when any of the thing's values for the field passes."""
    test = value_test(node)
    values = values_reader(node.field)
    return lambda doc: any(test(value) for value in values(doc))


ValueLeaf = Match | Wildcard | Range | Compare
VALUE_LEAVES = (Match, Wildcard, Range, Compare)


@functools.lru_cache(maxsize=256)
def value_test(node: Node) -> ValueTest:
    """The test one value of a thing must pass for a Match, Wildcard, Range or Compare leaf.

    A thing matches the leaf when any of its values for the field (:func:`values_reader`) passes. The
    emulator's thing index applies this same test to the distinct values it holds, so the index and a
    scan agree by construction.
    """
    if isinstance(node, Match):
        return _equals(node.value)
    if isinstance(node, Wildcard):
        return _wildcard(node.pattern)
    if isinstance(node, Range):
        return _within(node.low, node.high, node.include_low, node.include_high)
    if isinstance(node, Compare):
        bound = Bound(node.value, node.quoted)
        if node.op in (">", ">="):
            return _within(bound, None, node.op == ">=", True)
        return _within(None, bound, True, node.op == "<=")
    raise TypeError(f"not a value-testing query node: {node!r}")


def values_reader(field: str | None) -> Callable[[ThingDocument], list[Scalar]]:
    """The values a leaf on ``field`` tests in a document (``None``: a bare term's searchable values)."""
    if field is None:
        return searchable_values
    read: ValueReader = raw_reader(resolve_field(field))
    return lambda doc: scalars(read(doc))


def wildcard_prefix(pattern: str) -> str:
    """The case-folded literal text every match of ``pattern`` starts with (empty for a leading wildcard)."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            out.append(pattern[index + 1].casefold())
            index += 2
            continue
        if char in "*?":
            break
        out.append(char.casefold())
        index += 1
    return "".join(out)


def _equals(text: str) -> ValueTest:
    folded = text.casefold()
    number = parse_number(text)

    def test(value: object) -> bool:
        if isinstance(value, bool):
            return folded == ("true" if value else "false")
        if number is not None:
            own = as_number(value)
            if own is not None:
                return own == number
        if isinstance(value, str):
            return value.casefold() == folded
        return False

    return test


def _wildcard(pattern: str) -> ValueTest:
    regex = _wildcard_regex(pattern)
    return lambda value: regex.fullmatch(as_text(value)) is not None


def _wildcard_regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            parts.append(re.escape(pattern[index + 1].casefold()))
            index += 2
            continue
        if char == "*":
            parts.append(".*")
        elif char == "?":
            parts.append(".")
        else:
            parts.append(re.escape(char.casefold()))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


def _within(low: Bound | None, high: Bound | None, include_low: bool, include_high: bool) -> ValueTest:
    low_bound = _prepared(low)
    high_bound = _prepared(high)

    def test(value: object) -> bool:
        if low_bound is not None:
            order = compare(value, *low_bound)
            if order < 0 or (order == 0 and not include_low):
                return False
        if high_bound is not None:
            order = compare(value, *high_bound)
            if order > 0 or (order == 0 and not include_high):
                return False
        return True

    return test


def _prepared(bound: Bound | None) -> tuple[str, Number | None] | None:
    if bound is None:
        return None
    return bound.value, parse_number(bound.value)
