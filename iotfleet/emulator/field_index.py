"""One field of the thing index: which things hold each value, and the values in the orders queries need.

A :class:`FieldIndex` reads a field with the query evaluator's own reader (``values_reader``), so it holds
exactly the values a scan would test. For a leaf it picks the distinct values that could pass (an equal
text or number, a text prefix, a numeric or text range, through sorted lists), runs the evaluator's own
``value_test`` on each of those, and returns the things holding a value that passed. Only the selection
of values to test is the index's; whether a value matches is always the evaluator's decision, so the
indexed and the scanning paths cannot disagree on what a term means.

Values are kept by kind as well as by value (``1``, ``1.0``, ``True`` and ``"1"`` are different values to
the evaluator: ``1.0`` reads as text ``1.0``, ``True`` as ``true``), and a thing's values are kept in
order with repeats, so statistics over them count what a scan counts.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from iotfleet.query import Bound, Compare, Match, Node, Range, ThingDocument, Wildcard
from iotfleet.query.evaluate import value_test, wildcard_prefix
from iotfleet.query.values import Number, as_number, as_text, parse_number

Key = tuple[type, Any]
"""A distinct value: its Python type and the value itself."""
ValuesReader = Callable[[ThingDocument], list[Any]]
ExistsReader = Callable[[ThingDocument], bool]


@dataclass
class Tally:
    """The values of a field over some things, as aggregations need them.

    ``alone`` counts, for each value, the things that hold that value and no other (most things hold one
    value); ``others`` lists the values (in order, repeats kept) of each thing that holds several.
    """

    alone: dict[Key, int]
    others: list[tuple[Key, ...]]

    @classmethod
    def of(cls, values: Iterable[tuple[Key, ...]]) -> Tally:
        """The tally of each thing's values, one tuple per thing."""
        alone: dict[Key, int] = {}
        others: list[tuple[Key, ...]] = []
        for keys in values:
            if len(keys) == 1:
                alone[keys[0]] = alone.get(keys[0], 0) + 1
            elif keys:
                others.append(keys)
        return cls(alone, others)


class FieldIndex:
    """The values of one field across the things of the index (see the module docstring)."""

    def __init__(self, read: ValuesReader, exists: ExistsReader | None = None) -> None:
        self._read = read
        self._exists = exists
        self.values_of: dict[str, tuple[Key, ...]] = {}
        """thing name -> its values for the field, in document order, repeats kept."""
        self.holders: set[str] = set()
        """The things that have a value anywhere under the field (``field:*``); with ``exists`` only."""
        self.several: set[str] = set()
        """The things that hold more than one value."""
        self._postings: dict[Key, set[str]] = {}
        self._by_text: dict[str, set[Key]] = {}
        self._by_number: dict[Number, set[Key]] = {}
        self._texts: SortedList = SortedList()
        self._numbers: SortedList = SortedList()
        self._unordered: set[Key] = set()
        """Values no order holds (NaN): a range always tests them."""

    # --- keeping it current ------------------------------------------------------------------------

    def build(self, docs: Iterable[tuple[str, ThingDocument]]) -> None:
        """Index every ``(thing name, document)`` (on an empty index), sorting once at the end."""
        texts: set[str] = set()
        numbers: set[Number] = set()
        for name, doc in docs:
            keys = self._keys(doc)
            if keys:
                self.values_of[name] = keys
                if len(keys) > 1:
                    self.several.add(name)
                for key in set(keys):
                    postings = self._postings.get(key)
                    if postings is None:
                        postings = self._postings[key] = set()
                        self._describe(key, texts, numbers)
                    postings.add(name)
            if self._exists is not None and (keys or self._exists(doc)):
                self.holders.add(name)
        self._texts = SortedList(texts)
        self._numbers = SortedList(numbers)

    def update(self, name: str, doc: ThingDocument | None) -> None:
        """Re-read one thing (``None``: it is no longer indexed)."""
        new = self._keys(doc) if doc is not None else ()
        old = self.values_of.get(name, ())
        if new != old:
            for key in set(old) - set(new):
                self._drop(key, name)
            for key in set(new) - set(old):
                self._add(key, name)
            if new:
                self.values_of[name] = new
            else:
                self.values_of.pop(name, None)
            if len(new) > 1:
                self.several.add(name)
            else:
                self.several.discard(name)
        if self._exists is not None:
            if doc is not None and (new or self._exists(doc)):
                self.holders.add(name)
            else:
                self.holders.discard(name)

    def _keys(self, doc: ThingDocument) -> tuple[Key, ...]:
        return tuple((type(value), value) for value in self._read(doc))

    def _add(self, key: Key, name: str) -> None:
        postings = self._postings.get(key)
        if postings is None:
            postings = self._postings[key] = set()
            texts: set[str] = set()
            numbers: set[Number] = set()
            self._describe(key, texts, numbers)
            for text in texts:
                self._texts.add(text)
            for number in numbers:
                self._numbers.add(number)
        postings.add(name)

    def _describe(self, key: Key, texts: set[str], numbers: set[Number]) -> None:
        """File a new distinct value under its text and number; collect those it brings to the orders."""
        value = key[1]
        text = as_text(value)
        holders = self._by_text.setdefault(text, set())
        if not holders:
            texts.add(text)
        holders.add(key)
        number = as_number(value)
        if number is None:
            return
        if isinstance(number, float) and math.isnan(number):
            self._unordered.add(key)
            return
        same = self._by_number.setdefault(number, set())
        if not same:
            numbers.add(number)
        same.add(key)

    def _drop(self, key: Key, name: str) -> None:
        postings = self._postings[key]
        postings.discard(name)
        if postings:
            return
        del self._postings[key]
        value = key[1]
        text = as_text(value)
        holders = self._by_text[text]
        holders.discard(key)
        if not holders:
            del self._by_text[text]
            self._texts.remove(text)
        self._unordered.discard(key)
        number = as_number(value)
        if number is not None and number in self._by_number:
            same = self._by_number[number]
            same.discard(key)
            if not same:
                del self._by_number[number]
                self._numbers.remove(number)

    # --- answering a leaf --------------------------------------------------------------------------

    def matching(self, leaf: Node) -> set[str]:
        """The things with a value that passes the evaluator's test for ``leaf`` (Match, Wildcard, Range, Compare)."""
        test = value_test(leaf)
        found: set[str] = set()
        for key in self._candidates(leaf):
            if test(key[1]):
                found |= self._postings[key]
        return found

    def _candidates(self, leaf: Node) -> set[Key]:
        """Every distinct value that could pass ``leaf`` (a superset; the evaluator's test decides)."""
        if isinstance(leaf, Match):
            keys = set(self._by_text.get(leaf.value.casefold(), ()))
            number = parse_number(leaf.value)
            if number is not None:
                keys |= self._by_number.get(number, set())
            return keys
        if isinstance(leaf, Wildcard):
            prefix = wildcard_prefix(leaf.pattern)
            if not prefix:
                return set(self._postings)
            return self._keys_of_texts(self._texts.irange(minimum=prefix), prefix=prefix)
        if isinstance(leaf, Range):
            return self._in_range(leaf.low, leaf.high)
        if isinstance(leaf, Compare):
            bound = Bound(leaf.value, leaf.quoted)
            return self._in_range(bound, None) if leaf.op in (">", ">=") else self._in_range(None, bound)
        raise TypeError(f"not a value-testing query node: {leaf!r}")

    def _keys_of_texts(self, texts: Iterable[str], prefix: str | None = None) -> set[Key]:
        keys: set[Key] = set()
        for text in texts:
            if prefix is not None and not text.startswith(prefix):
                break
            keys |= self._by_text[text]
        return keys

    def _in_range(self, low: Bound | None, high: Bound | None) -> set[Key]:
        """Values a range could hold: by text order, and by number order where a bound is a number.

        The evaluator compares a value with a bound as numbers when both are numbers, else as case-folded
        text, bound by bound; so a value is a candidate if it is within the text range, or it is a number
        within the numeric bounds (a bound that is not a number leaves that side open here).
        """
        low_text = low.value.casefold() if low is not None else None
        high_text = high.value.casefold() if high is not None else None
        keys = self._keys_of_texts(self._texts.irange(minimum=low_text, maximum=high_text))
        low_number = parse_number(low.value) if low is not None else None
        high_number = parse_number(high.value) if high is not None else None
        if low_number is not None or high_number is not None:
            for number in self._numbers.irange(minimum=low_number, maximum=high_number):
                keys |= self._by_number[number]
        return keys | self._unordered

    # --- aggregating ------------------------------------------------------------------------------

    def tally(self, names: set[str] | None) -> Tally:
        """The :class:`Tally` of the field over ``names`` (None: every thing).

        Things holding one value are counted per value from the postings (a set intersection per value,
        or a look-up per thing when there are fewer things than values); the others one by one.
        """
        values_of = self.values_of
        if names is not None and len(names) < len(self._postings):
            return Tally.of(values_of.get(name, ()) for name in names)
        several = self.several if names is None else self.several & names
        alone: dict[Key, int] = {}
        for key, postings in self._postings.items():
            count = len(postings) if names is None else len(postings & names)
            if several and count:
                count -= len(postings & several)
            if count:
                alone[key] = count
        return Tally(alone, [values_of[name] for name in several])

    def __len__(self) -> int:
        return len(self.values_of)
