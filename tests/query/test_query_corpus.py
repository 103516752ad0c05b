"""The query corpus (data/corpus.json) over the fixed fleet (data/fleet.json).

The expected results in the corpus were worked out by hand from the fixture. The same two files can drive
the emulator's search_index over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from query_data import CORPUS, FLEET

from iotfleet import query as query_language
from iotfleet.query import compile_query, parse, to_query_string

# Every syntax element and precedence rule the corpus must exercise with expected matches.
REQUIRED_FEATURES = {
    "term",
    "field_value",
    "phrase",
    "wildcard_star",
    "wildcard_question",
    "leading_wildcard",
    "match_all",
    "exists",
    "range_inclusive",
    "range_exclusive",
    "range_mixed",
    "range_string",
    "range_open",
    "compare_gt",
    "compare_gt_exact",
    "compare_ge",
    "compare_lt",
    "compare_le",
    "negative_number",
    "and",
    "or",
    "not",
    "minus",
    "implicit_and",
    "parentheses",
    "field_group",
    "escape",
    "case_insensitive_value",
    "numeric_string",
    "lexicographic",
    "nested_path",
    "array",
    "boolean",
    "thing_name",
    "thing_id",
    "thing_type",
    "thing_groups",
    "attributes",
    "shadow_reported",
    "shadow_desired",
    "shadow_delta",
    "has_delta",
    "shadow_version",
    "named_shadow",
    "package_shadow",
    "connectivity",
    "term_limit",
    "precedence_not_tightest",
    "precedence_and_over_or",
    "precedence_implicit_and_looser_than_or",
}
REQUIRED_ERROR_FEATURES = {
    "regex",
    "fuzzy",
    "boost",
    "proximity",
    "special_character",
    "term_limit",
    "leading_wildcard",
    "case_sensitive_field",
    "unknown_field",
    "compare_spaces",
}


def _names(docs: list[dict[str, Any]]) -> set[str]:
    return {doc["thingName"] for doc in docs}


def test_corpus_is_large_and_well_formed() -> None:
    queries = CORPUS["queries"]
    assert len(queries) >= 60
    assert len({entry["query"] for entry in queries}) == len(queries)
    known = _names(FLEET["things"])
    for entry in queries:
        assert len(set(entry["expected"])) == len(entry["expected"]), entry["query"]
        assert set(entry["expected"]) <= known, entry["query"]


def test_corpus_covers_every_syntax_element_and_precedence_rule() -> None:
    covered = {feature for entry in CORPUS["queries"] for feature in entry["features"]}
    assert REQUIRED_FEATURES - covered == set()
    errors_covered = {feature for entry in CORPUS["errors"] for feature in entry["features"]}
    assert REQUIRED_ERROR_FEATURES - errors_covered == set()


@pytest.mark.parametrize("entry", CORPUS["queries"], ids=lambda entry: entry["query"])
def test_query_matches_the_expected_things(entry: dict[str, Any]) -> None:
    compiled = compile_query(entry["query"], FLEET["indexingConfiguration"])
    assert _names(compiled.filter(FLEET["things"])) == set(entry["expected"])


@pytest.mark.parametrize("entry", CORPUS["queries"], ids=lambda entry: entry["query"])
def test_canonical_form_matches_the_same_things(entry: dict[str, Any]) -> None:
    parsed = parse(entry["query"])
    canonical = to_query_string(parsed)
    assert parse(canonical) == parsed
    assert _names(compile_query(canonical).filter(FLEET["things"])) == set(entry["expected"])


@pytest.mark.parametrize("entry", CORPUS["errors"], ids=lambda entry: entry["query"])
def test_error_cases(entry: dict[str, Any]) -> None:
    expected = getattr(query_language, entry["error"])
    config = entry.get("config", FLEET["indexingConfiguration"])
    with pytest.raises(query_language.QueryError) as caught:
        compile_query(entry["query"], config)
    assert type(caught.value) is expected, str(caught.value)
    assert caught.value.position == entry["position"], str(caught.value)


def _expected_delta(desired: Any, reported: Any) -> Any:
    """AWS's shadow delta: what desired holds that reported does not (objects compared key by key)."""
    if isinstance(desired, dict) and isinstance(reported, dict):
        delta = {}
        for key, value in desired.items():
            inner = _expected_delta(value, reported.get(key))
            if inner is not None:
                delta[key] = inner
        return delta or None
    return None if desired == reported else desired


def test_fixture_shadows_are_consistent() -> None:
    """delta and hasDelta agree with desired and reported, so an emulator can rebuild the same fleet."""
    for doc in FLEET["things"]:
        shadow = doc["shadow"]
        if shadow is None:
            continue
        for one in [shadow, *shadow["name"].values()]:
            assert one["delta"] == (_expected_delta(one["desired"], one["reported"]) or {}), doc["thingName"]
            assert one["hasDelta"] == bool(one["delta"]), doc["thingName"]
        assert set(shadow["name"]) <= set(FLEET["indexingConfiguration"]["filter"]["namedShadowNames"])
