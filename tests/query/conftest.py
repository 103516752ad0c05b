"""Shared fixtures for the query language tests: the fixed fleet and the query corpus (JSON data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"


def load_json(name: str) -> Any:
    with (DATA / name).open(encoding="utf-8") as handle:
        return json.load(handle)


@pytest.fixture(scope="session")
def fleet() -> dict[str, Any]:
    """``{"indexingConfiguration": ..., "things": [thing documents]}``."""
    return load_json("fleet.json")


@pytest.fixture(scope="session")
def things(fleet: dict[str, Any]) -> list[dict[str, Any]]:
    return fleet["things"]


@pytest.fixture(scope="session")
def corpus() -> dict[str, Any]:
    return load_json("corpus.json")
