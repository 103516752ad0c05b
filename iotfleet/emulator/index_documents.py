"""Thing documents: what the thing index holds for each thing, built from moto's registry and shadows.

A document has the shape :mod:`iotfleet.query.document` evaluates queries against, holding only what the
indexing configuration indexes: no ``shadow`` under REGISTRY indexing, only the named shadows listed in
``filter.namedShadowNames``, no ``connectivity`` unless connectivity indexing is STATUS. Two extra keys
serve aggregation and search results and are invisible to queries: ``version`` (the registry version)
and ``_shadowDocuments`` (the indexed shadows as GetThingShadow returns them, for the ``shadow`` JSON of
a search result).

Documents are built on demand from the live registry, so they can never be stale; building one is a
few dict copies, cheap next to the HTTP round trip that asks for it. The thing index
(:mod:`~iotfleet.emulator.thing_index`) keeps one per thing, rebuilt from here on every change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from iotfleet.emulator.indexing import IndexingSettings, connectivity, settings
from iotfleet.emulator.moto_patches import accessors
from iotfleet.query import ThingDocument

if TYPE_CHECKING:
    from iotfleet.emulator.state import EmulatorState

SHADOW_DOCUMENTS = "_shadowDocuments"


class DocumentBuilder:
    """Builds the thing documents of one (account, region) under its current indexing settings."""

    def __init__(self, state: EmulatorState, account_id: str, region: str) -> None:
        self.state = state
        self.account_id = account_id
        self.region = region
        self.settings: IndexingSettings = settings(state, account_id, region)

    def document(self, thing_name: str) -> ThingDocument | None:
        """The document of one thing, or None if the thing does not exist."""
        record = accessors.thing(self.account_id, self.region, thing_name)
        return self.build(record) if record is not None else None

    def records(self) -> Iterator[accessors.ThingRecord]:
        """The registry records of every thing, in creation order (cheap: no shadows read)."""
        return accessors.iter_things(self.account_id, self.region)

    def documents(self) -> Iterator[ThingDocument]:
        """The documents of every thing, in creation order."""
        for record in self.records():
            yield self.build(record)

    def build(self, record: accessors.ThingRecord) -> ThingDocument:
        """The document of the thing ``record`` describes."""
        doc: ThingDocument = {
            "thingName": record.name,
            "thingId": record.thing_id,
            "thingTypeName": record.thing_type_name,
            "thingGroupNames": list(record.thing_group_names),
            "attributes": dict(record.attributes),
            "version": record.version,
            "shadow": None,
            "connectivity": None,
        }
        current = self.settings
        if current.shadow_enabled:
            live = accessors.shadows(self.account_id, self.region, record.name)
            indexed = {name: live[name] for name in (None, *current.indexed_named_shadows) if name in live}
            doc["shadow"] = _shadow_fields(indexed)
            doc[SHADOW_DOCUMENTS] = indexed
        if current.connectivity_enabled:
            known = connectivity(self.state, self.account_id, self.region, record.name)
            if known is None:
                doc["connectivity"] = {"connected": False}
            else:
                doc["connectivity"] = {
                    "connected": known.connected,
                    "timestamp": known.timestamp_ms,
                    "version": known.version,
                }
                if known.disconnect_reason is not None:
                    doc["connectivity"]["disconnectReason"] = known.disconnect_reason
        return doc


def _sections(shadow: dict[str, Any]) -> dict[str, Any]:
    """The query-visible fields of one shadow document as GetThingShadow returns it."""
    state = shadow.get("state") or {}
    fields: dict[str, Any] = {
        "hasDelta": bool(state.get("delta")),
        "version": shadow.get("version"),
    }
    for section in ("reported", "desired", "delta"):
        if state.get(section) is not None:
            fields[section] = state[section]
    return fields


def _shadow_fields(indexed: dict[str | None, dict[str, Any]]) -> dict[str, Any]:
    """The ``shadow`` of a document: the classic shadow's fields, and ``name`` for the named ones.

    A thing with no classic shadow still gets an object (with ``name``) when it has indexed named shadows.
    """
    classic = indexed.get(None)
    fields = _sections(classic) if classic is not None else {}
    named = {name: _sections(doc) for name, doc in indexed.items() if name is not None}
    if named:
        fields["name"] = named
    return fields


def search_result(doc: ThingDocument) -> dict[str, Any]:
    """One ``things`` entry of a SearchIndex answer (the ThingDocument output shape)."""
    result: dict[str, Any] = {
        "thingName": doc["thingName"],
        "thingId": doc["thingId"],
        "thingGroupNames": list(doc["thingGroupNames"]),
        "attributes": dict(doc["attributes"]),
    }
    if doc.get("thingTypeName"):
        result["thingTypeName"] = doc["thingTypeName"]
    indexed: dict[str | None, dict[str, Any]] | None = doc.get(SHADOW_DOCUMENTS)
    if indexed:
        result["shadow"] = json.dumps(_shadow_json(indexed), separators=(",", ":"))
    if doc.get("connectivity") is not None:
        result["connectivity"] = {
            key: value
            for key, value in doc["connectivity"].items()
            if key in ("connected", "timestamp", "disconnectReason")
        }
    return result


def _one_shadow_json(shadow: dict[str, Any]) -> dict[str, Any]:
    state = shadow.get("state") or {}
    out: dict[str, Any] = {
        section: state[section] for section in ("desired", "reported", "delta") if section in state
    }
    out["hasDelta"] = bool(state.get("delta"))
    for key in ("metadata", "version", "timestamp"):
        if key in shadow:
            out[key] = shadow[key]
    return out


def _shadow_json(indexed: dict[str | None, dict[str, Any]]) -> dict[str, Any]:
    """The ``shadow`` string of a search result: the classic shadow, with named shadows under ``name``."""
    classic = indexed.get(None)
    out = _one_shadow_json(classic) if classic is not None else {}
    named = {name: _one_shadow_json(doc) for name, doc in indexed.items() if name is not None}
    if named:
        out["name"] = named
    return out
