"""The AWS IoT Fleet Indexing query language: parse, validate, explain and evaluate.

One implementation, shared by the CLI (validation with a caret at the problem, ``--explain``, local
preview) and the local emulator (search_index, get_statistics, dynamic group membership)::

    from iotfleet import query

    q = query.compile_query("thingTypeName:sensor AND shadow.reported.batteryStatus<=40", config)
    low_battery = [doc["thingName"] for doc in documents if q.matches(doc)]

Documents have the shape described in :mod:`iotfleet.query.document`. Every failure is a
:class:`QueryError` with a ``position``; ``str(err)`` shows the query with a caret under it.

Where AWS's documentation leaves room, this is what the language does:

- A bare term (no field) searches thingName, thingId, thingTypeName, thingGroupNames, attribute values and
  every value in the reported, desired and delta sections of the classic and named shadows ("all registry
  and Device Shadow fields"). It does not search attribute names, connectivity, or shadow hasDelta/version.
- Values match whole and case-insensitively; a phrase is the same match but may hold spaces and special
  characters, and ``*``/``?`` inside it are literal.
- A bare ``*`` matches every thing and ``field:*`` means the field has a value; neither counts as a leading
  wildcard. ``*`` is accepted as an open range bound, as in Lucene.
- ``NOT x`` / ``-x`` is a complement: things with no value for the field match it.
- Equality and ordering are numeric when both sides are numbers (numeric-looking attribute strings
  included), else case-insensitive text order.
- Being strict beats returning nothing: whitespace around ``:`` or a comparison operator, ``=``, ``!``,
  ``&&``, ``||`` and a leading ``+`` are errors with a hint; ``field:-x`` needs a number (``-field:x``
  excludes); operator words as values must be quoted or escaped; unknown fields (including shadow metadata
  and Device Defender fields) are errors; ``hasDelta``/``connected`` take true/false and
  ``version``/``timestamp`` numbers; ranges and comparisons on ``$package`` version strings are rejected.
- Each field:value, range, comparison or bare term counts towards the 12-term limit, including each term
  of a field group.
- Named shadows need thingIndexingMode REGISTRY_AND_SHADOW as well as namedShadowIndexingMode ON and the
  shadow in ``filter.namedShadowNames``. customFields/managedFields are not consulted: any attribute or
  shadow key may be queried.
"""

from __future__ import annotations

from collections.abc import Iterable

from iotfleet.query.document import ThingDocument, field_values, searchable_values
from iotfleet.query.errors import (
    FieldNotIndexedError,
    FieldValueError,
    IndexingDisabledError,
    QueryError,
    QueryFieldError,
    QueryLimitError,
    QuerySyntaxError,
    UnknownFieldError,
    UnsupportedSyntaxError,
)
from iotfleet.query.evaluate import compile_predicate, matches
from iotfleet.query.fields import FieldSpec, resolve_field
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
    fields_used,
    iter_leaves,
)
from iotfleet.query.parser import MAX_TERMS, parse
from iotfleet.query.render import explain, to_query_string
from iotfleet.query.validate import IndexingConfiguration, validate
from iotfleet.query.values import as_number


class CompiledQuery:
    """A query parsed (and, given a configuration, validated) once, ready to test many documents."""

    def __init__(self, query: Query) -> None:
        self.query = query
        self._predicate = compile_predicate(query.root)

    @property
    def text(self) -> str:
        return self.query.text

    def matches(self, doc: ThingDocument) -> bool:
        """Whether ``doc`` matches."""
        return self._predicate(doc)

    __call__ = matches

    def filter(self, docs: Iterable[ThingDocument]) -> list[ThingDocument]:
        """The documents that match, in order."""
        predicate = self._predicate
        return [doc for doc in docs if predicate(doc)]

    def explain(self) -> str:
        return explain(self.query)

    def to_query_string(self) -> str:
        return to_query_string(self.query)

    def fields_used(self) -> list[str]:
        return fields_used(self.query)

    def __repr__(self) -> str:
        return f"CompiledQuery({self.text!r})"


def compile_query(text: str, config: IndexingConfiguration | None = None) -> CompiledQuery:
    """Parse ``text`` and, when ``config`` is given, check it against that indexing configuration."""
    query = parse(text)
    if config is not None:
        validate(query, config)
    return CompiledQuery(query)


def numeric_values(doc: ThingDocument, field: str | FieldSpec) -> list[int | float]:
    """The values of ``field`` in ``doc`` that are numbers (numeric strings included), for statistics."""
    numbers = (as_number(value) for value in field_values(doc, field))
    return [number for number in numbers if number is not None]


__all__ = [
    "MAX_TERMS",
    "And",
    "Bound",
    "Compare",
    "CompiledQuery",
    "Exists",
    "FieldNotIndexedError",
    "FieldSpec",
    "FieldValueError",
    "IndexingConfiguration",
    "IndexingDisabledError",
    "Match",
    "MatchAll",
    "Node",
    "Not",
    "Or",
    "Query",
    "QueryError",
    "QueryFieldError",
    "QueryLimitError",
    "QuerySyntaxError",
    "Range",
    "ThingDocument",
    "UnknownFieldError",
    "UnsupportedSyntaxError",
    "Wildcard",
    "compile_query",
    "explain",
    "field_values",
    "fields_used",
    "iter_leaves",
    "matches",
    "numeric_values",
    "parse",
    "resolve_field",
    "searchable_values",
    "to_query_string",
    "validate",
]
