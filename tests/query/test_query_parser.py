"""Parsing: each syntax element, precedence, and errors that point at the right character."""

from __future__ import annotations

from typing import Any

import pytest

from iotfleet.query import (
    And,
    Bound,
    Compare,
    Exists,
    FieldValueError,
    Match,
    MatchAll,
    Not,
    Or,
    QueryError,
    QueryLimitError,
    QuerySyntaxError,
    Range,
    UnknownFieldError,
    UnsupportedSyntaxError,
    Wildcard,
    fields_used,
    parse,
)


def root(text: str) -> Any:
    return parse(text).root


def bare(value: str) -> Match:
    return Match(None, value)


# -- terms and fields ---------------------------------------------------------------------------------


def test_bare_term_has_no_field() -> None:
    assert root("abc") == Match(None, "abc")


def test_field_value() -> None:
    assert root("thingName:sensor-001") == Match("thingName", "sensor-001")


def test_hyphen_inside_a_word_is_literal() -> None:
    assert root("thingName:tv-lg-oled") == Match("thingName", "tv-lg-oled")


def test_quoted_phrase_keeps_spaces_and_special_characters() -> None:
    assert root('shadow.reported.location:"Building 7, #2"') == Match(
        "shadow.reported.location", "Building 7, #2", quoted=True
    )


def test_phrase_escapes() -> None:
    assert root(r'thingName:"say \"hi\" \\ bye"') == Match("thingName", 'say "hi" \\ bye', quoted=True)


def test_wildcards_inside_a_phrase_are_literal() -> None:
    assert root('thingName:"tv*"') == Match("thingName", "tv*", quoted=True)


def test_star_and_question_mark_wildcards() -> None:
    assert root("thingName:tv*") == Wildcard("thingName", "tv*")
    assert root("thingName:ab?") == Wildcard("thingName", "ab?")
    assert root("thingName:s*r?") == Wildcard("thingName", "s*r?")


def test_lone_star_is_match_all_and_field_star_is_exists() -> None:
    assert root("*") == MatchAll()
    assert root("thingTypeName:*") == Exists("thingTypeName")


def test_escapes_make_characters_literal() -> None:
    assert root(r"thingName:telemetry\-agent") == Match("thingName", "telemetry-agent")
    assert root(r"attributes.path:a\:b\/c") == Match("attributes.path", "a:b/c")
    assert root(r"thingName:tv\*") == Match("thingName", "tv*")
    assert root(r"thingName:\AND") == Match("thingName", "AND")


def test_escaped_wildcard_next_to_a_real_one() -> None:
    node = root(r"thingName:a\*b*")
    assert node == Wildcard("thingName", r"a\*b*")
    assert not node.leading


def test_lowercase_operator_words_are_terms() -> None:
    assert root("a and b") == And((bare("a"), bare("and"), bare("b")), implicit=True)


@pytest.mark.parametrize(
    "field",
    [
        "thingName",
        "thingId",
        "thingTypeName",
        "thingGroupNames",
        "attributes.model",
        "attributes.a.b",
        "shadow.reported.batteryStatus",
        "shadow.reported.a.b.c",
        "shadow.desired.x",
        "shadow.delta.x",
        "shadow.name.config.reported.mode",
        "shadow.name.$package.reported.MyPkg.version",
        "shadow.name.config.desired.mode",
        "shadow.name.config.delta.mode",
        "connectivity.disconnectReason",
    ],
)
def test_every_string_field_is_accepted(field: str) -> None:
    assert root(f"{field}:x") == Match(field, "x")


@pytest.mark.parametrize(
    "query",
    [
        "shadow.hasDelta:true",
        "shadow.name.$package.hasDelta:FALSE",
        "connectivity.connected:true",
        "shadow.version:3",
        "shadow.name.config.version:3",
        "connectivity.timestamp:1700000000000",
    ],
)
def test_typed_fields_accept_their_values(query: str) -> None:
    parse(query)


# -- ranges and comparisons ---------------------------------------------------------------------------


def test_inclusive_exclusive_and_mixed_ranges() -> None:
    assert root("attributes.n:[75 TO 80]") == Range("attributes.n", Bound("75"), Bound("80"), True, True)
    assert root("attributes.n:{75 TO 80}") == Range("attributes.n", Bound("75"), Bound("80"), False, False)
    assert root("attributes.n:{75 TO 80]") == Range("attributes.n", Bound("75"), Bound("80"), False, True)
    assert root("attributes.n:[75 TO 80}") == Range("attributes.n", Bound("75"), Bound("80"), True, False)


def test_string_range_and_open_bounds() -> None:
    assert root('attributes.s:["abcd" TO "abcf"]') == Range(
        "attributes.s", Bound("abcd", True), Bound("abcf", True)
    )
    assert root("attributes.n:[* TO 5]") == Range("attributes.n", None, Bound("5"))
    assert root("attributes.n:{5 TO *]") == Range("attributes.n", Bound("5"), None, False, True)


def test_negative_numbers_in_values_ranges_and_comparisons() -> None:
    assert root("attributes.t:-5") == Match("attributes.t", "-5")
    assert root("attributes.t:[-10 TO -2.5]") == Range("attributes.t", Bound("-10"), Bound("-2.5"))
    assert root("attributes.t>-5") == Compare("attributes.t", ">", "-5")


@pytest.mark.parametrize("op", [">", ">=", "<", "<="])
def test_comparisons(op: str) -> None:
    assert root(f"shadow.reported.batteryStatus{op}40") == Compare("shadow.reported.batteryStatus", op, "40")


def test_comparison_against_a_phrase() -> None:
    assert root('attributes.s>"abc d"') == Compare("attributes.s", ">", "abc d", quoted=True)


# -- operators and precedence -------------------------------------------------------------------------


def test_explicit_operators() -> None:
    assert root("a AND b") == And((bare("a"), bare("b")))
    assert root("a OR b") == Or((bare("a"), bare("b")))
    assert root("NOT a") == Not(bare("a"))
    assert root("-a") == Not(bare("a"), "-")


def test_whitespace_is_an_implicit_and() -> None:
    assert root("a b") == And((bare("a"), bare("b")), implicit=True)


def test_implicit_and_binds_more_loosely_than_or() -> None:
    assert root("a OR b c") == And((Or((bare("a"), bare("b"))), bare("c")), implicit=True)
    assert root("a b OR c") == And((bare("a"), Or((bare("b"), bare("c")))), implicit=True)


def test_and_binds_tighter_than_or() -> None:
    assert root("a OR b AND c") == Or((bare("a"), And((bare("b"), bare("c")))))
    assert root("a AND b OR c") == Or((And((bare("a"), bare("b"))), bare("c")))


def test_not_binds_tightest() -> None:
    assert root("NOT a AND b") == And((Not(bare("a")), bare("b")))
    assert root("NOT a OR b") == Or((Not(bare("a")), bare("b")))
    assert root("-a OR b") == Or((Not(bare("a"), "-"), bare("b")))


def test_not_after_a_term_is_an_implicit_and_not() -> None:
    # AWS's own example: attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10
    node = root("attributes.attr1:abc AND attributes.attr2<5 NOT attributes.attr3>10")
    assert node == And(
        (
            And((Match("attributes.attr1", "abc"), Compare("attributes.attr2", "<", "5"))),
            Not(Compare("attributes.attr3", ">", "10")),
        ),
        implicit=True,
    )


def test_chains_are_flat() -> None:
    assert root("a OR b OR c") == Or((bare("a"), bare("b"), bare("c")))
    assert root("(a AND b) AND c") == And((bare("a"), bare("b"), bare("c")))


def test_parentheses_override_precedence() -> None:
    assert root("(a OR b) AND c") == And((Or((bare("a"), bare("b"))), bare("c")))
    assert root("-(a OR b)") == Not(Or((bare("a"), bare("b"))), "-")


def test_double_negation() -> None:
    assert root("NOT NOT a") == Not(Not(bare("a")))
    assert root("--a") == Not(Not(bare("a"), "-"), "-")


def test_field_group_distributes_the_field() -> None:
    assert root("thingName:(tv* AND -plasma)") == And(
        (Wildcard("thingName", "tv*"), Not(Match("thingName", "plasma"), "-"))
    )
    assert root("thingName:(a OR b)") == Or((Match("thingName", "a"), Match("thingName", "b")))


def test_field_group_holds_nested_groups_ranges_and_other_fields() -> None:
    assert root("attributes.n:([1 TO 2] OR (5 6))") == Or(
        (
            Range("attributes.n", Bound("1"), Bound("2")),
            And((Match("attributes.n", "5"), Match("attributes.n", "6")), implicit=True),
        )
    )
    assert root("thingName:(a OR thingTypeName:b)") == Or((Match("thingName", "a"), Match("thingTypeName", "b")))


def test_terms_may_touch_parentheses() -> None:
    assert root("(a)(b)") == And((bare("a"), bare("b")), implicit=True)


def test_fields_used_lists_each_field_once_in_order() -> None:
    query = parse("thingName:a OR (attributes.x>1 thingName:b) abc")
    assert fields_used(query) == ["thingName", "attributes.x"]


def test_positions_point_at_the_field_name() -> None:
    query = parse("abc  attributes.num>5 thingName:(x OR y)")
    leaves = [query.root.children[1], *query.root.children[2].children]
    assert [leaf.field_position for leaf in leaves] == [5, 22, 22]
    assert [leaf.position for leaf in leaves] == [5, 33, 38]


# -- limits -------------------------------------------------------------------------------------------


def test_twelve_terms_are_allowed_and_thirteen_are_not() -> None:
    twelve = " OR ".join(f"thingName:t{i}" for i in range(12))
    parse(twelve)
    with pytest.raises(QueryLimitError) as caught:
        parse(twelve + " OR thingName:t12")
    assert caught.value.position == len(twelve) + len(" OR thingName:")


def test_one_leading_wildcard_is_allowed() -> None:
    assert root("thingName:*my").leading
    parse("thingName:*my*")
    parse("thingName:?y")


def test_second_leading_wildcard_is_rejected() -> None:
    with pytest.raises(QueryLimitError) as caught:
        parse("thingName:*my thingGroupNames:*echo")
    assert caught.value.position == 30


def test_leading_wildcard_query_length_limit() -> None:
    query = "thingName:*x AND attributes.model:" + "m" * 66
    assert len(query) == 100
    parse(query)
    with pytest.raises(QueryLimitError) as caught:
        parse(query + "m")
    assert caught.value.position == 100
    parse("thingName:x* AND attributes.model:" + "m" * 200)  # no leading wildcard: no length limit


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(QuerySyntaxError):
        parse("(" * 5000 + "a" + ")" * 5000)
    with pytest.raises(QuerySyntaxError):
        parse("NOT " * 5000 + "a")


# -- errors ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("thingName:/tv.*/", 10, "regular expressions"),
        ("thingName:tv~", 12, "fuzzy"),
        ('"a b"~2', 5, "proximity"),
        ("thingName:tv^3", 12, "boosting"),
        ("a && b", 2, "use AND"),
        ("a || b", 2, "use OR"),
        ("!a", 0, "use NOT"),
        ("+a", 0, "required"),
        ("attributes.n=5", 12, "'='"),
        ("thingName:a`", 11, "'`'"),
        ("thingName:a@b", 11, "'@'"),
        ("thingName:a#b", 11, "'#'"),
        ("thingName:a%", 11, "'%'"),
        ("thingName:a;", 11, "';'"),
        ("thingName:a,b", 11, "geo"),
        ("thingName:'a'", 10, "double quotes"),
    ],
)
def test_unsupported_syntax(query: str, position: int, words: str) -> None:
    with pytest.raises(UnsupportedSyntaxError) as caught:
        parse(query)
    assert caught.value.position == position
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("query", "position", "words"),
    [
        ("", 0, "empty query"),
        ("   ", 0, "empty query"),
        ("(a", 0, "unclosed '('"),
        ("a)", 1, "unmatched ')'"),
        ("()", 0, "empty parentheses"),
        ('thingName:"abc', 10, "unterminated phrase"),
        ('thingName:""', 10, "empty phrase"),
        ("a AND", 5, "needs a term on its right"),
        ("AND a", 0, "needs a term on its left"),
        ("a OR OR b", 5, "needs a term on its right"),
        ("NOT", 3, "'NOT' needs a term"),
        ("- a", 0, "'-' must be directly followed"),
        ("a -", 2, "'-' must be directly followed"),
        ("thingName :a", 10, "no space is allowed before ':'"),
        ("thingName: a", 10, "no space is allowed after ':'"),
        ("thingName:", 10, "missing value"),
        (":a", 0, "needs a field name"),
        ("attributes.n > 5", 13, "without spaces"),
        ("attributes.n> 5", 13, "without spaces"),
        ("attributes.n:>5", 13, "expected a value"),
        (">5", 0, "needs a field name"),
        ("attributes.n>", 13, "missing value"),
        ("attributes.n>tv*", 13, "wildcards are not allowed in a comparison"),
        ("[1 TO 2]", 0, "a range needs a field"),
        ("attributes.n:[1 2]", 16, "expected 'TO'"),
        ("attributes.n:[1 TO 2", 20, "unclosed range"),
        ("attributes.n:[1 TO]", 18, "incomplete range"),
        ("attributes.n:[a* TO b]", 14, "wildcards are not allowed in a range bound"),
        ("attributes.n:[1 TO (]", 19, "unexpected '('"),
        ("thingName:-a", 10, "cannot start with '-'"),
        ("thingName:a:b", 11, "escape a literal ':'"),
        ("thingName:AND", 10, "is an operator"),
        ("thing*:a", 0, "wildcards are not allowed in field names"),
        ("a\\", 1, "escapes nothing"),
    ],
)
def test_syntax_errors_point_at_the_problem(query: str, position: int, words: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(query)
    assert caught.value.position == position, str(caught.value)
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("thingname:a", "did you mean 'thingName'"),
        ("ThingGroupNames:a", "did you mean 'thingGroupNames'"),
        ("Attributes.model:a", "did you mean 'attributes.model'"),
        ("thingType:a", "did you mean 'thingTypeName'"),
        ("attributes:a", "name the attribute"),
        ("shadow.reported:a", "shadow.reported|desired|delta.<key>"),
        ("shadow.reportd.x:a", "shadow.reported|desired|delta.<key>"),
        ("shadow.reported.a..b:a", "shadow.reported|desired|delta.<key>"),
        ("shadow.name.config:a", "shadow.name.<shadow>.reported"),
        ("shadow.name.config.mode:a", "shadow.name.<shadow>.reported"),
        ("shadow.metadata.reported.x:a", "metadata"),
        ("connectivity.status:a", "connectivity.connected"),
        ("deviceDefender.violations:a", "Device Defender"),
        ("zzz:a", "fields are:"),
    ],
)
def test_unknown_fields(query: str, words: str) -> None:
    with pytest.raises(UnknownFieldError) as caught:
        parse("abc " + query)
    assert caught.value.position == 4
    assert caught.value.field == query.split(":")[0]
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("connectivity.connected:yes", "true or false"),
        ("shadow.hasDelta:1", "true or false"),
        ("shadow.hasDelta:[false TO true]", "no ranges"),
        ("connectivity.connected>false", "no ranges"),
        ("shadow.version:new", "is a number"),
        ("connectivity.timestamp:[yesterday TO *]", "is a number"),
        ("shadow.version>v2", "is a number"),
        ("shadow.hasDelta:t*", "wildcards cannot match"),
        ("shadow.version:1*", "wildcards cannot match"),
        ("shadow.name.$package.reported.MyPkg.version>1.0.0", "version string"),
        ("shadow.name.$package.reported.MyPkg.version:[1.0.0 TO 2.0.0]", "version string"),
    ],
)
def test_values_that_cannot_apply_to_the_field(query: str, words: str) -> None:
    with pytest.raises(FieldValueError) as caught:
        parse(query)
    assert words in caught.value.message
    assert caught.value.field == query.split(":")[0].split(">")[0]


def test_every_error_is_a_query_error_and_a_value_error() -> None:
    with pytest.raises(QueryError):
        parse("thingName:/x/")
    with pytest.raises(ValueError):
        parse("thingname:x")


def test_non_string_query_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        parse(None)  # type: ignore[arg-type]
