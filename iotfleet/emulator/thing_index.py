"""The thing index: what SearchIndex, the aggregations and dynamic groups look things up in.

One :class:`ThingIndex` per (account, region) holds the document of every thing (as
:class:`~iotfleet.emulator.index_documents.DocumentBuilder` builds it), the thing names in order, and a
:class:`~iotfleet.emulator.field_index.FieldIndex` for each field a query or an aggregation has used
(built from the held documents the first time, then kept current). A query is answered by set algebra
over the fields' answers: a term, prefix, range or comparison touches only the values that can match,
``AND`` intersects, ``OR`` unites, ``NOT`` subtracts. What each term means is decided by the query
evaluator's own readers and value tests (see :mod:`~iotfleet.emulator.field_index`); SearchIndex also runs
the compiled query on each thing it returns.

It is kept current from the emulator's events, under the global lock: ``thing_changed`` and
``group_membership_changed`` re-read that one thing, ``thing_deleted`` drops it, and after DeleteThingGroup
its former members are re-read. It is built on first use, and built again when the indexing
configuration differs from the one it was built for, or when the registry holds a different number of
things than it does (a change that emitted no event).

``EmulatorState.search_mode`` chooses the path: ``index`` (the default) or ``scan``, which reads every
thing's live document for each query as the emulator did before it had an index. The index is kept
current either way, so switching is instant; the scan stays for comparison (``bench/emulator_scale.py``)
and as the reference the property tests hold the index to.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sortedcontainers import SortedList

from iotfleet.emulator.events import GROUP_MEMBERSHIP_CHANGED, THING_CHANGED, THING_DELETED
from iotfleet.emulator.extension import Call, after, on_state_init
from iotfleet.emulator.field_index import FieldIndex, Tally, ValuesReader
from iotfleet.emulator.index_documents import SHADOW_DOCUMENTS, DocumentBuilder
from iotfleet.emulator.moto_patches import accessors
from iotfleet.query import And, CompiledQuery, Exists, Match, MatchAll, Node, Not, Or, ThingDocument
from iotfleet.query.document import has_leaf, raw_reader
from iotfleet.query.evaluate import VALUE_LEAVES, values_reader
from iotfleet.query.fields import resolve_field

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

STORE = "thing_index"
SPARSE = 8
"""A match set this many times smaller than the fleet is sorted for paging; a denser one is walked in
name order (the fleet's names are already sorted)."""
_BARE = "\0bare"
"""The key of the field index for bare terms (no field), which search every searchable value."""

Names = set[str] | None
"""A set of thing names, or None for every thing of the index."""


class ThingIndex:
    """The indexed documents and fields of one (account, region); see the module docstring."""

    def __init__(self) -> None:
        self.config: dict[str, Any] | None = None
        """The thing indexing configuration it was built for; None until built."""
        self.docs: dict[str, ThingDocument] = {}
        self.names: SortedList = SortedList()
        self.fields: dict[str, FieldIndex] = {}

    # --- keeping it current ------------------------------------------------------------------------

    def ensure(self, builder: DocumentBuilder) -> None:
        """Build the index if it is not built for the current configuration and fleet."""
        current = builder.settings.thing
        if self.config == current and len(self.docs) == accessors.thing_count(
            builder.account_id, builder.region
        ):
            return
        docs: dict[str, ThingDocument] = {}
        for doc in builder.documents():
            doc.pop(SHADOW_DOCUMENTS, None)
            docs[doc["thingName"]] = doc
        self.docs = docs
        self.names = SortedList(docs)
        self.fields = {}
        self.config = copy.deepcopy(current)

    def refresh(self, builder: DocumentBuilder, thing_name: str) -> None:
        """Re-read one thing from the registry (a no-op until the index is first used)."""
        if self.config is None:
            return
        if self.config != builder.settings.thing:
            self.config = None  # built for another configuration: build again on next use
            return
        doc = builder.document(thing_name)
        if doc is None:
            self.remove(thing_name)
            return
        doc.pop(SHADOW_DOCUMENTS, None)
        if thing_name not in self.docs:
            self.names.add(thing_name)
        self.docs[thing_name] = doc
        for field in self.fields.values():
            field.update(thing_name, doc)

    def remove(self, thing_name: str) -> None:
        if self.docs.pop(thing_name, None) is None:
            return
        self.names.remove(thing_name)
        for field in self.fields.values():
            field.update(thing_name, None)

    def in_creation_order(self, names: set[str]) -> list[str]:
        """Those of ``names`` that are indexed, in the order the things were created."""
        return [name for name in self.docs if name in names]

    # --- fields ------------------------------------------------------------------------------------

    def field(self, key: str, read: ValuesReader, exists: Any = None) -> FieldIndex:
        """The field index ``key``, reading values with ``read``; built from the documents on first use."""
        found = self.fields.get(key)
        if found is None:
            found = FieldIndex(read, exists)
            found.build(self.docs.items())
            self.fields[key] = found
        return found

    def query_field(self, name: str | None) -> FieldIndex:
        """The field index of a query field (``None``: bare terms), read as the evaluator reads it."""
        if name is None:
            return self.field(_BARE, values_reader(None))
        read_raw = raw_reader(resolve_field(name))
        return self.field(name, values_reader(name), lambda doc: has_leaf(read_raw(doc)))

    # --- answering a query -------------------------------------------------------------------------

    def matching(self, query: CompiledQuery) -> Matches:
        """The things that match ``query`` (a set of their own, safe to keep while the index changes)."""
        root = query.query.root
        names = self._select(root)
        if isinstance(root, Exists) and names is not None:
            names = set(names)  # the field's own holders: copied
        return Matches(self, names)

    def _select(self, node: Node) -> Names:
        """The things matching ``node`` (None: every thing). Sets returned may be the index's own: read only."""
        if isinstance(node, MatchAll):
            return None
        if isinstance(node, Exists):
            return self.query_field(node.field).holders
        if isinstance(node, VALUE_LEAVES):
            return self.query_field(node.field).matching(node)
        if isinstance(node, Not):
            return self._without(None, node.child)
        if isinstance(node, Or):
            parts = [self._select(child) for child in node.children]
            if any(part is None for part in parts):
                return None
            return set().union(*parts)  # type: ignore[arg-type]
        if isinstance(node, And):
            return self._intersect(node.children)
        raise TypeError(f"not a query node: {node!r}")

    def _intersect(self, children: tuple[Node, ...]) -> Names:
        """An AND: the positive children intersected, smallest first, then each NOT child subtracted."""
        positive: list[set[str]] = []
        negative: list[Node] = []
        for child in children:
            if isinstance(child, Not):
                negative.append(child.child)
                continue
            part = self._select(child)
            if part is not None:
                positive.append(part)
        result: Names = None
        if positive:
            positive.sort(key=len)
            result = positive[0].intersection(*positive[1:])
        for child in negative:
            if result is not None and not result:
                break
            result = self._without(result, child)
        return result

    def _without(self, base: Names, child: Node) -> set[str]:
        """``base`` (None: every thing) less the things matching ``child``."""
        excluded = self._select(child)
        if excluded is None:
            return set()
        if base is None:
            return set(self.docs.keys() - excluded)
        return base - excluded


class Matches:
    """The things a query matched in a :class:`ThingIndex`: counted, walked in name order, their values read."""

    def __init__(self, index: ThingIndex, names: Names) -> None:
        self._index = index
        self._names = names

    def __len__(self) -> int:
        return len(self._index.docs) if self._names is None else len(self._names)

    def __iter__(self) -> Iterator[str]:
        return iter(self._index.docs if self._names is None else self._names)

    def in_name_order(self, after: str | None = None) -> Iterator[str]:
        """The matching names in order, those after ``after`` only when it is given."""
        ordered = self._index.names
        names = self._names
        if names is not None and len(names) * SPARSE < len(ordered):
            return iter(sorted(name for name in names if after is None or name > after))
        walk = ordered.irange(minimum=after, inclusive=(False, True)) if after is not None else iter(ordered)
        if names is None:
            return walk
        return (name for name in walk if name in names)

    def tally(self, field: str, read: ValuesReader) -> Tally:
        """The values of the matching things for the field index ``field`` (read with ``read``)."""
        return self._index.field(field, read).tally(self._names)


def thing_index(state: EmulatorState, account_id: str, region: str) -> ThingIndex:
    return state.store(STORE, account_id, region, ThingIndex)


def current_index(builder: DocumentBuilder) -> ThingIndex:
    """The index of the builder's (account, region), built for its current configuration and fleet."""
    index = thing_index(builder.state, builder.account_id, builder.region)
    index.ensure(builder)
    return index


def uses_index(state: EmulatorState) -> bool:
    """Whether queries go through the index (search mode ``index``) rather than a scan."""
    return state.search_mode == "index"


@on_state_init
def _follow_the_registry(state: EmulatorState) -> None:
    def changed(account_id: str, region: str, thing_name: str, **_: Any) -> None:
        index = thing_index(state, account_id, region)
        if index.config is not None:
            index.refresh(DocumentBuilder(state, account_id, region), thing_name)

    def deleted(account_id: str, region: str, thing_name: str) -> None:
        thing_index(state, account_id, region).remove(thing_name)

    state.events.subscribe(THING_CHANGED, changed)
    state.events.subscribe(GROUP_MEMBERSHIP_CHANGED, changed)
    state.events.subscribe(THING_DELETED, deleted)


@after("iot", "DeleteThingGroup")
def _reread_former_members(call: Call, params: dict[str, Any], _response: dict[str, Any]) -> None:
    """A deleted group leaves its members' thingGroupNames without a per-thing event."""
    index = thing_index(call.state, call.account_id, call.region)
    if index.config is None:
        return
    group = params["thingGroupName"]
    builder = DocumentBuilder(call.state, call.account_id, call.region)
    for thing_name in index.query_field("thingGroupNames").matching(Match("thingGroupNames", group)):
        index.refresh(builder, thing_name)
