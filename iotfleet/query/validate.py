"""Checking a parsed query against a fleet indexing configuration.

AWS rejects a query on a field the index does not hold rather than returning nothing, and so do we.
``config`` has the shape of boto3's ``thingIndexingConfiguration``::

    {"thingIndexingMode": "OFF" | "REGISTRY" | "REGISTRY_AND_SHADOW",
     "thingConnectivityIndexingMode": "OFF" | "STATUS",
     "namedShadowIndexingMode": "OFF" | "ON",
     "filter": {"namedShadowNames": [...]},
     "customFields": [...], "managedFields": [...]}

Missing keys mean OFF / empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iotfleet.query.errors import FieldNotIndexedError, IndexingDisabledError
from iotfleet.query.fields import resolve_field
from iotfleet.query.nodes import Node, Query, iter_leaves

IndexingConfiguration = Mapping[str, Any]


def validate(query: Query | Node, config: IndexingConfiguration, text: str | None = None) -> None:
    """Raise :class:`FieldNotIndexedError` for the first field ``config`` does not index.

    ``text`` is the query text for error carets; a :class:`Query` from :func:`parse` carries its own.
    Raises :class:`IndexingDisabledError` when thing indexing is OFF.
    """
    if text is None and isinstance(query, Query):
        text = query.text or None
    mode = config.get("thingIndexingMode") or "OFF"
    if mode == "OFF":
        raise IndexingDisabledError("fleet indexing is off: thingIndexingMode is OFF", 0, text)
    for leaf in iter_leaves(query):
        if leaf.field is None:
            continue
        problem = _indexing_problem(leaf.field, config)
        if problem is not None:
            position = getattr(leaf, "field_position", leaf.position)
            raise FieldNotIndexedError(problem, leaf.field, position, text)


def _indexing_problem(field: str, config: IndexingConfiguration) -> str | None:
    """Why ``config`` does not index ``field``, or ``None`` when it does."""
    spec = resolve_field(field)
    mode = config.get("thingIndexingMode") or "OFF"
    if spec.source in ("shadow", "named_shadow") and mode != "REGISTRY_AND_SHADOW":
        return (
            f"{field} is not indexed: shadow fields need thingIndexingMode REGISTRY_AND_SHADOW "
            f"(it is {mode})"
        )
    if spec.source == "named_shadow":
        if (config.get("namedShadowIndexingMode") or "OFF") != "ON":
            return f"{field} is not indexed: named shadows need namedShadowIndexingMode ON"
        names = (config.get("filter") or {}).get("namedShadowNames") or []
        if spec.shadow_name not in names:
            listed = ", ".join(names) if names else "none"
            return (
                f"{field} is not indexed: named shadow '{spec.shadow_name}' is not in "
                f"filter.namedShadowNames (indexed: {listed})"
            )
    if spec.source == "connectivity" and (config.get("thingConnectivityIndexingMode") or "OFF") != "STATUS":
        return f"{field} is not indexed: connectivity fields need thingConnectivityIndexingMode STATUS"
    return None
