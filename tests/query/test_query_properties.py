"""Property tests: generated trees round-trip through text, and no input crashes or hangs the parser."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from query_data import CORPUS, FLEET

from iotfleet.query import (
    Bound,
    Compare,
    Exists,
    Match,
    MatchAll,
    Node,
    Not,
    QueryError,
    Range,
    Wildcard,
    explain,
    iter_leaves,
    matches,
    parse,
    to_query_string,
)
from iotfleet.query.nodes import make_and, make_or
from iotfleet.query.parser import MAX_LEADING_WILDCARD_QUERY_LENGTH, MAX_TERMS

# Deadlines off: the machine is shared, and hangs are caught by the per-test timeout instead.
PROPERTY = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow]
)
FUZZ = settings(max_examples=400, deadline=None)

STRING_FIELDS = [
    "thingName",
    "thingId",
    "thingTypeName",
    "thingGroupNames",
    "attributes.model",
    "attributes.a:b",
    "attributes.x-y",
    "shadow.reported.a.b",
    "shadow.desired.x",
    "shadow.delta.x",
    "shadow.name.cfg.reported.mode",
    "connectivity.disconnectReason",
]
PACKAGE_VERSION = "shadow.name.$package.reported.P.version"
BOOLEAN_FIELDS = ["shadow.hasDelta", "connectivity.connected", "shadow.name.cfg.hasDelta"]
NUMBER_FIELDS = ["shadow.version", "connectivity.timestamp", "shadow.name.cfg.version"]
ALL_FIELDS = [*STRING_FIELDS, PACKAGE_VERSION, *BOOLEAN_FIELDS, *NUMBER_FIELDS]

# Letters and digits plus every character the syntax gives a meaning to, and a little Unicode.
CHARACTERS = st.sampled_from(list("abcXYZ019.-_$ \t*?\\\"'()[]{}:<>~^/@#%;,!&|=+`") + ["é", "ß", "→"])
TEXT = st.text(CHARACTERS, min_size=1, max_size=8)
WORDS = st.sampled_from(["AND", "OR", "NOT", "TO", "true", "-5", "+5", "1e3", "*", "?"])
VALUES = st.one_of(TEXT, WORDS)
NUMBERS = st.one_of(
    st.integers(-(10**15), 10**15).map(str),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.sampled_from(["+5", "-0.5", ".5", "5.", "1e3", "-2E-2"]),
)
BOOLEANS = st.sampled_from(["true", "false", "TRUE", "False"])


@st.composite
def wildcard_patterns(draw: st.DrawFn) -> str:
    """A pattern with at least one wildcard; literal ``*``, ``?`` and ``\\`` are escaped."""
    literal = CHARACTERS.map(lambda char: "\\" + char if char in "*?\\" else char)
    parts = draw(st.lists(st.one_of(literal, st.sampled_from(["*", "?"])), min_size=1, max_size=6))
    assume(any(part in ("*", "?") for part in parts))
    pattern = "".join(parts)
    assume(pattern != "*")
    return pattern


def _bounds(values: st.SearchStrategy[str]) -> st.SearchStrategy[Bound | None]:
    return st.one_of(st.none(), st.builds(Bound, values, st.booleans()))


string_field = st.sampled_from(STRING_FIELDS)
leaves = st.one_of(
    st.builds(Match, st.sampled_from([None, *STRING_FIELDS, PACKAGE_VERSION]), VALUES, st.booleans()),
    st.builds(Match, st.sampled_from(BOOLEAN_FIELDS), BOOLEANS, st.booleans()),
    st.builds(Match, st.sampled_from(NUMBER_FIELDS), NUMBERS, st.booleans()),
    st.builds(Wildcard, st.sampled_from([None, *STRING_FIELDS, PACKAGE_VERSION]), wildcard_patterns()),
    st.builds(Exists, st.sampled_from(ALL_FIELDS)),
    st.just(MatchAll()),
    st.builds(Range, string_field, _bounds(VALUES), _bounds(VALUES), st.booleans(), st.booleans()),
    st.builds(Range, st.sampled_from(NUMBER_FIELDS), _bounds(NUMBERS), _bounds(NUMBERS), st.booleans(), st.booleans()),
    st.builds(Compare, string_field, st.sampled_from([">", ">=", "<", "<="]), VALUES, st.booleans()),
    st.builds(Compare, st.sampled_from(NUMBER_FIELDS), st.sampled_from([">", ">=", "<", "<="]), NUMBERS, st.booleans()),
)


def _branches(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    many = st.lists(children, min_size=2, max_size=4)
    return st.one_of(
        st.builds(Not, children, st.sampled_from(["NOT", "-"])),
        st.builds(lambda items, implicit: make_and(items, implicit), many, st.booleans()),
        st.builds(make_or, many),
    )


trees = st.recursive(leaves, _branches, max_leaves=MAX_TERMS)


def _within_aws_limits(tree: Node, text: str) -> bool:
    found = list(iter_leaves(tree))
    leading = [leaf for leaf in found if isinstance(leaf, Wildcard) and leaf.leading]
    if len(found) > MAX_TERMS or len(leading) > 1:
        return False
    return not leading or len(text) <= MAX_LEADING_WILDCARD_QUERY_LENGTH


@pytest.mark.timeout(120)
@PROPERTY
@given(trees)
def test_generated_trees_round_trip_through_text(tree: Node) -> None:
    text = to_query_string(tree)
    assume(_within_aws_limits(tree, text))
    parsed = parse(text)
    assert parsed.root == tree
    assert to_query_string(parsed) == text
    for doc in FLEET["things"][:6]:
        matches(parsed, doc)


def _check_robust(text: str) -> None:
    """Parse ``text``: a QueryError, or a query that round-trips, explains and evaluates without error."""
    try:
        parsed = parse(text)
    except QueryError as error:
        assert 0 <= error.position <= len(text)
        str(error)
        return
    canonical = to_query_string(parsed)
    assert parse(canonical) == parsed
    explain(parsed)
    for doc in FLEET["things"]:
        matches(parsed, doc)


@pytest.mark.timeout(120)
@FUZZ
@given(st.text(max_size=120))
def test_arbitrary_text_never_crashes(text: str) -> None:
    _check_robust(text)


@pytest.mark.timeout(120)
@FUZZ
@given(st.text(CHARACTERS, max_size=80))
def test_text_made_of_syntax_characters_never_crashes(text: str) -> None:
    _check_robust(text)


SEEDS = [entry["query"] for entry in CORPUS["queries"]] + [entry["query"] for entry in CORPUS["errors"]]


@st.composite
def mutated_queries(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(text)))
        action = draw(st.sampled_from(["insert", "delete", "replace", "duplicate"]))
        if action == "insert":
            text = text[:index] + draw(CHARACTERS) + text[index:]
        elif action == "delete":
            text = text[:index] + text[index + 1 :]
        elif action == "replace":
            text = text[:index] + draw(CHARACTERS) + text[index + 1 :]
        else:
            end = draw(st.integers(index, len(text)))
            text = text[:end] + text[index:end] + text[end:]
    return text


@pytest.mark.timeout(120)
@FUZZ
@given(mutated_queries())
def test_mutated_corpus_queries_never_crash(text: str) -> None:
    _check_robust(text)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "text",
    [
        "(" * 100_000,
        ")" * 100_000,
        "NOT " * 50_000 + "a",
        "-" * 100_000 + "a",
        '"' * 100_001,
        "\\" * 100_001,
        "a " * 50_000,
        "a OR " * 50_000 + "a",
        "thingName:" + "x" * 100_000,
        "shadow.reported." + ".".join(["k"] * 20_000) + ":1",
        "attributes.x:[" * 20_000,
    ],
)
def test_pathological_inputs_finish(text: str) -> None:
    _check_robust(text)


def test_long_shadow_paths_evaluate_quickly() -> None:
    path = ".".join(["k"] * 5_000)
    parsed = parse(f"shadow.reported.{path}:1")
    doc: dict[str, Any] = {"thingName": "x", "shadow": {"reported": {"k": {"k.k": {"k": 1}}}}}
    assert not matches(parsed, doc)
