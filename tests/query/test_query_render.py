"""Canonical query strings, the --explain tree, and error messages with a caret."""

from __future__ import annotations

import pickle

import pytest

from iotfleet.query import (
    And,
    Match,
    Not,
    Or,
    QueryError,
    QuerySyntaxError,
    UnknownFieldError,
    explain,
    parse,
    to_query_string,
)


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("thingName:abc", "thingName:abc"),
        ("a  b", "a b"),
        ("a OR b c", "a OR b c"),
        ("(a OR b) c", "a OR b c"),
        ("a OR (b c)", "a OR (b c)"),
        ("a AND (b OR c)", "a AND (b OR c)"),
        ("(a AND b) OR c", "a AND b OR c"),
        ("NOT (a AND b)", "NOT (a AND b)"),
        ("-(a b)", "-(a b)"),
        ("NOT -a", "NOT -a"),
        ("thingName:(tv* AND -plasma)", "thingName:tv* AND -thingName:plasma"),
        (r"thingName:telemetry\-agent", "thingName:telemetry-agent"),
        (r"\-abc", r"\-abc"),
        (r"thingName:a\ b", r"thingName:a\ b"),
        (r"thingName:a\*b*", r"thingName:a\*b*"),
        ('attributes.s:["abcd" TO "abcf"]', 'attributes.s:["abcd" TO "abcf"]'),
        ("attributes.n:{-5 TO *]", "attributes.n:{-5 TO *]"),
        ("attributes.n>=-5", "attributes.n>=-5"),
        ('thingName:"a \\"b\\""', 'thingName:"a \\"b\\""'),
        ('attributes.x:"AND"', 'attributes.x:"AND"'),
        (r"attributes.x:\AND", r"attributes.x:\AND"),
        ("attributes.x:[\\TO TO z]", "attributes.x:[\\TO TO z]"),
        ("shadow.name.$package.reported.MyPkg.version:1.0.0", "shadow.name.$package.reported.MyPkg.version:1.0.0"),
        (r"attributes.a\:b:c", r"attributes.a\:b:c"),
        ("*", "*"),
    ],
)
def test_canonical_strings_round_trip(query: str, canonical: str) -> None:
    parsed = parse(query)
    assert to_query_string(parsed) == canonical
    assert parse(canonical) == parsed


def test_rendering_adds_the_parentheses_precedence_needs() -> None:
    a, b, c = Match(None, "a"), Match(None, "b"), Match(None, "c")
    assert to_query_string(Or((And((a, b), implicit=True), c))) == "(a b) OR c"
    assert to_query_string(And((Or((a, b)), c))) == "(a OR b) AND c"
    assert to_query_string(Not(Or((a, b)))) == "NOT (a OR b)"
    assert to_query_string(Not(And((a, b)), "-")) == "-(a AND b)"


def test_rendering_rejects_foreign_objects() -> None:
    with pytest.raises(TypeError):
        to_query_string("thingName:a")  # type: ignore[arg-type]


def test_explain_makes_precedence_visible() -> None:
    assert explain(parse("thingTypeName:camera OR thingTypeName:pump connectivity.connected:true")) == "\n".join(
        [
            "AND (implicit: whitespace, binds looser than OR)",
            "  OR",
            '    thingTypeName = "camera"',
            '    thingTypeName = "pump"',
            '  connectivity.connected = "true"',
        ]
    )
    assert explain(parse("a OR NOT b AND c")) == "\n".join(
        [
            "OR",
            '  any field = "a"',
            "  AND",
            "    NOT",
            '      any field = "b"',
            '    any field = "c"',
        ]
    )


def test_explain_describes_every_kind_of_term() -> None:
    text = explain(
        parse('* thingName:* thingName:tv* attributes.n:{75 TO *] attributes.n<=40 -"x y" attributes.n:[* TO 5}')
    )
    assert text.splitlines() == [
        "AND (implicit: whitespace, binds looser than OR)",
        "  every thing (*)",
        "  thingName has a value",
        '  thingName matches "tv*" (wildcard)',
        "  attributes.n in {75 TO *]",
        "  attributes.n <= 40",
        "  NOT (written '-')",
        '    any field = "x y"',
        "  attributes.n in [* TO 5}",
    ]


def test_error_renders_a_caret_under_the_position() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse("thingName:abc AND attributes.num > 5")
    assert str(caught.value) == (
        "comparisons are written without spaces, e.g. attributes.num>5\n"
        "  thingName:abc AND attributes.num > 5\n"
        "                                   ^"
    )


def test_caret_on_multi_line_queries_and_tabs() -> None:
    with pytest.raises(UnknownFieldError) as caught:
        parse("thingName:a\n\tthingname:b")
    assert caught.value.position == 13
    assert caught.value.render().splitlines()[1:] == ["   thingname:b", "   ^"]


def test_error_without_query_text_names_the_position() -> None:
    error = QueryError("bad", 7)
    assert str(error) == "bad (at position 7)"
    assert error.render("0123456789").splitlines() == ["bad", "  0123456789", "         ^"]


def test_errors_survive_pickling() -> None:
    with pytest.raises(UnknownFieldError) as caught:
        parse("thingname:x")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), copy.field, copy.position, str(copy)) == (
        UnknownFieldError,
        "thingname",
        0,
        str(caught.value),
    )
