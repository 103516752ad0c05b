"""SearchIndex and the aggregations (GetStatistics, GetCardinality, GetPercentiles, GetBucketsAggregation).

Queries go through the shared parser in :mod:`iotfleet.query`, validated against the account's indexing
configuration, so an unsupported construct or a field the index does not hold is an
InvalidQueryException with the position of the problem, never an empty result. Searching before
indexing is enabled is AWS's ResourceNotFoundException ("Index AWS_Things does not exist").

Pages are ordered by thing name; ``nextToken`` carries the last name returned, so paging stays stable
while things come and go.

Queries are answered from the thing index (:mod:`~iotfleet.emulator.thing_index`): it selects the
things, in name order for SearchIndex, and the compiled query has the last word on each thing a page
returns; aggregations read the values of the selected things from the index's field of the aggregation
field. In search mode ``scan`` every thing's live document is read and tested instead.

Aggregations use the fields AWS aggregates: the managed fields of the enabled data sources and the
configured custom fields, with the configured type (a value that does not fit the type is ignored, as
AWS ignores it). GetStatistics without an aggregation field counts the matching things (AWS documents
``*`` as "the count of all indexed things"); with one, ``count`` is the number of things holding a valid
value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from iotfleet.emulator.errors import (
    InvalidQueryException,
    InvalidRequestException,
    NotImplementedException,
    ServiceError,
)
from iotfleet.emulator.extension import Call, handles
from iotfleet.emulator.field_index import Tally
from iotfleet.emulator.index_documents import DocumentBuilder, search_result
from iotfleet.emulator.indexing import (
    GROUPS_INDEX,
    IndexingSettings,
    check_query_version,
    require_things_index,
    settings,
)
from iotfleet.emulator.thing_index import current_index, uses_index
from iotfleet.query import CompiledQuery, QueryError, ThingDocument, compile_query, field_values
from iotfleet.query.values import as_number

MAX_SEARCH_RESULTS = 100
DEFAULT_PERCENTS = (1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0)
DEFAULT_MAX_BUCKETS = 10
_TOKEN_PREFIX = "idx1:"


def invalid_aggregation(message: str) -> ServiceError:
    return ServiceError("InvalidAggregationException", message, 400)


def compile_for_index(current: IndexingSettings, query_string: Any) -> CompiledQuery:
    """The query parsed and checked against the thing index; InvalidQueryException if it cannot run."""
    if not isinstance(query_string, str) or not query_string.strip():
        raise InvalidQueryException("queryString must not be empty")
    try:
        return compile_query(query_string, current.thing)
    except QueryError as exc:
        raise InvalidQueryException(f"Invalid query: {exc.render(query_string)}") from exc


def _prepare(call: Call) -> tuple[DocumentBuilder, CompiledQuery]:
    current = settings(call.state, call.account_id, call.region)
    index_name = call.params.get("indexName")
    require_things_index(current, index_name)
    if index_name == GROUPS_INDEX:
        raise NotImplementedException(
            f"{call.operation} on the {GROUPS_INDEX} index is not supported by the local emulator"
        )
    check_query_version(call.params.get("queryVersion"))
    query = compile_for_index(current, call.params.get("queryString"))
    return DocumentBuilder(call.state, call.account_id, call.region), query


def scanned(builder: DocumentBuilder, query: CompiledQuery) -> list[ThingDocument]:
    """The live documents of the things matching ``query``: a scan of every thing (search mode ``scan``)."""
    return [doc for doc in builder.documents() if query.matches(doc)]


# --- SearchIndex --------------------------------------------------------------------------------


@handles("iot", "SearchIndex")
def search_index(call: Call) -> dict[str, Any]:
    builder, query = _prepare(call)
    max_results = call.params.get("maxResults", MAX_SEARCH_RESULTS)
    if not isinstance(max_results, int) or not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidRequestException(
            f"maxResults must be between 1 and {MAX_SEARCH_RESULTS}, not {max_results}"
        )
    after = _token_name(call.params.get("nextToken"))
    found: list[ThingDocument] = []
    more = False
    for doc in _in_name_order(builder, query, after):
        if len(found) == max_results:
            more = True
            break
        found.append(doc)
    answer: dict[str, Any] = {"things": [search_result(doc) for doc in found]}
    if more:
        answer["nextToken"] = _TOKEN_PREFIX + found[-1]["thingName"]
    return answer


def _in_name_order(builder: DocumentBuilder, query: CompiledQuery, after: str | None) -> Iterator[ThingDocument]:
    """The live documents of the matching things named after ``after``, in name order, read lazily."""
    if uses_index(builder.state):
        for name in current_index(builder).matching(query).in_name_order(after):
            doc = builder.document(name)
            if doc is not None and query.matches(doc):
                yield doc
        return
    records = sorted(
        (record for record in builder.records() if after is None or record.name > after),
        key=lambda record: record.name,
    )
    for record in records:
        doc = builder.build(record)
        if query.matches(doc):
            yield doc


def _token_name(token: Any) -> str | None:
    if token is None:
        return None
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
        raise InvalidRequestException(f"Invalid nextToken: {token!r}")
    return token[len(_TOKEN_PREFIX) :]


# --- aggregation fields -------------------------------------------------------------------------

ValueReader = Callable[[ThingDocument], list[Any]]

_MANAGED_READERS: dict[str, ValueReader] = {
    "thingName": lambda doc: [doc["thingName"]],
    "thingId": lambda doc: [doc["thingId"]],
    "registry.version": lambda doc: [doc["version"]],
    "registry.thingTypeName": lambda doc: [doc["thingTypeName"]] if doc.get("thingTypeName") else [],
    "registry.thingGroupNames": lambda doc: list(doc.get("thingGroupNames") or []),
    "connectivity.version": lambda doc: [
        v for v in [(doc.get("connectivity") or {}).get("version")] if v is not None
    ],
}


class AggregationField:
    """A field an aggregation may use: its configured type and how to read its values from a document."""

    def __init__(self, name: str, kind: str, reader: ValueReader) -> None:
        self.name = name
        self.kind = kind
        self.reader = reader

    def raw(self, doc: ThingDocument) -> list[Any]:
        return self.reader(doc)

    def numbers(self, doc: ThingDocument) -> list[float]:
        """The values that fit the field's type as numbers (booleans as 0/1)."""
        return [number for number in map(self.number, self.raw(doc)) if number is not None]

    def number(self, value: Any) -> float | None:
        """A value as a number if it fits the field's type (booleans as 0/1), else None."""
        if self.kind == "Boolean":
            flag = _as_bool(value)
            return None if flag is None else 1.0 if flag else 0.0
        number = as_number(value)
        return float(number) if number is not None and not isinstance(value, bool) else None


class Selected:
    """The things a query selected, by the index or by a scan: how many, and their values of a field."""

    def __init__(self, call: Call, builder: DocumentBuilder, query: CompiledQuery) -> None:
        self._docs: list[ThingDocument] | None = None
        if uses_index(call.state):
            self._matches = current_index(builder).matching(query)
        else:
            self._docs = scanned(builder, query)

    def __len__(self) -> int:
        return len(self._docs) if self._docs is not None else len(self._matches)

    def tally(self, field: AggregationField) -> Tally:
        """The selected things' values of ``field``."""
        if self._docs is not None:
            return Tally.of(tuple((type(value), value) for value in field.raw(doc)) for doc in self._docs)
        return self._matches.tally("\0aggregation:" + field.name, field.reader)


def _numbers(field: AggregationField, tally: Tally) -> tuple[list[float], int]:
    """The values that fit the field's type, as numbers (repeats kept), and how many things hold one."""
    values: list[float] = []
    things = 0
    for key, count in tally.alone.items():
        number = field.number(key[1])
        if number is not None:
            values += [number] * count
            things += count
    for keys in tally.others:
        numbers = [number for number in (field.number(value) for _kind, value in keys) if number is not None]
        if numbers:
            values += numbers
            things += 1
    return values, things


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def aggregation_field(current: IndexingSettings, name: Any, *, numeric: bool = False) -> AggregationField:
    """The managed or custom field ``name``; InvalidAggregationException when the index does not hold it."""
    if not isinstance(name, str) or not name:
        raise invalid_aggregation("aggregationField is required")
    kind = current.field_types().get(name)
    if kind is None:
        kind = _named_shadow_managed_type(current, name)
    if kind is None:
        raise invalid_aggregation(
            f"{name} is not an indexed field: aggregations work on the managed fields and on the custom "
            "fields of the indexing configuration (customFields)"
        )
    if numeric and kind != "Number":
        raise invalid_aggregation(f"{name} is a {kind} field: this aggregation needs a Number field")
    reader = _MANAGED_READERS.get(name)
    if reader is None:
        spec = name

        def reader(doc: ThingDocument) -> list[Any]:
            return field_values(doc, spec)

    return AggregationField(name, kind, reader)


def _named_shadow_managed_type(current: IndexingSettings, name: str) -> str | None:
    """``shadow.name.<indexed shadow>.version|hasDelta``, which AWS lists as ``shadow.name.*.<field>``."""
    prefix = "shadow.name."
    if not name.startswith(prefix):
        return None
    shadow_name, _, rest = name[len(prefix) :].rpartition(".")
    if shadow_name not in current.indexed_named_shadows:
        return None
    return {"version": "Number", "hasDelta": "Boolean"}.get(rest)


# --- GetStatistics ------------------------------------------------------------------------------


def statistics(values: list[float], things: int | None = None) -> dict[str, Any]:
    """count, average, sum, minimum, maximum, sumOfSquares, variance (population) and stdDeviation.

    ``count`` is the number of things holding a value (``things``; by default one value per thing), as
    AWS defines it; the other statistics are over the values.
    """
    if not values:
        return {"count": 0}
    count = len(values)
    total = math.fsum(values)
    squares = math.fsum(v * v for v in values)
    average = total / count
    variance = max(squares / count - average * average, 0.0)
    return {
        "count": count if things is None else things,
        "average": average,
        "sum": total,
        "minimum": min(values),
        "maximum": max(values),
        "sumOfSquares": squares,
        "variance": variance,
        "stdDeviation": math.sqrt(variance),
    }


@handles("iot", "GetStatistics")
def get_statistics(call: Call) -> dict[str, Any]:
    builder, query = _prepare(call)
    name = call.params.get("aggregationField")
    if name is None:
        return {"statistics": {"count": len(Selected(call, builder, query))}}
    field = aggregation_field(builder.settings, name)
    tally = Selected(call, builder, query).tally(field)
    if field.kind == "String":
        return {"statistics": {"count": sum(tally.alone.values()) + len(tally.others)}}
    values, things = _numbers(field, tally)
    return {"statistics": statistics(values, things=things)}


# --- GetCardinality, GetPercentiles, GetBucketsAggregation --------------------------------------


@handles("iot", "GetCardinality")
def get_cardinality(call: Call) -> dict[str, Any]:
    builder, query = _prepare(call)
    field = aggregation_field(builder.settings, call.params.get("aggregationField"))
    tally = Selected(call, builder, query).tally(field)
    distinct = {_bucket_key(value) for _kind, value in tally.alone}
    distinct.update(_bucket_key(value) for keys in tally.others for _kind, value in keys)
    return {"cardinality": len(distinct)}


def percentiles(values: list[float], percents: Iterable[float]) -> list[dict[str, float]]:
    """Linear interpolation between the closest ranks (AWS's answer is an approximation of this)."""
    ordered = sorted(values)
    if not ordered:
        return []
    out = []
    for percent in percents:
        rank = percent / 100.0 * (len(ordered) - 1)
        low = math.floor(rank)
        high = min(low + 1, len(ordered) - 1)
        value = ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
        out.append({"percent": float(percent), "value": value})
    return out


@handles("iot", "GetPercentiles")
def get_percentiles(call: Call) -> dict[str, Any]:
    builder, query = _prepare(call)
    field = aggregation_field(builder.settings, call.params.get("aggregationField"), numeric=True)
    percents = call.params.get("percents") or list(DEFAULT_PERCENTS)
    if any(not isinstance(p, (int, float)) or not 0 <= p <= 100 for p in percents):
        raise InvalidRequestException("every percent must be between 0 and 100")
    if len(percents) > 100:
        raise InvalidRequestException("at most 100 percentiles can be requested")
    values, _things = _numbers(field, Selected(call, builder, query).tally(field))
    return {"percentiles": percentiles(values, percents)}


@handles("iot", "GetBucketsAggregation")
def get_buckets_aggregation(call: Call) -> dict[str, Any]:
    builder, query = _prepare(call)
    field = aggregation_field(builder.settings, call.params.get("aggregationField"))
    terms = (call.params.get("bucketsAggregationType") or {}).get("termsAggregation") or {}
    max_buckets = terms.get("maxBuckets", DEFAULT_MAX_BUCKETS)
    if not isinstance(max_buckets, int) or not 1 <= max_buckets <= 10000:
        raise InvalidRequestException("termsAggregation.maxBuckets must be between 1 and 10000")
    selected = Selected(call, builder, query)
    tally = selected.tally(field)
    counts: Counter[str] = Counter()
    for key, count in tally.alone.items():
        counts[_bucket_key(key[1])] += count
    for keys in tally.others:
        counts.update({_bucket_key(value) for _kind, value in keys})
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:max_buckets]
    return {
        "totalCount": len(selected),
        "buckets": [{"keyValue": key, "count": count} for key, count in ranked],
    }


def _bucket_key(value: Any) -> str:
    """A value as the text of a bucket key (booleans as true/false, case kept)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
