"""Fixtures the emulator's contract tests share: one boto3 client per service the tests talk to."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def iot(boto_clients: Any) -> Any:
    return boto_clients.iot


@pytest.fixture
def iot_data(boto_clients: Any) -> Any:
    return boto_clients.iot_data


@pytest.fixture
def jobs_data(boto_clients: Any) -> Any:
    return boto_clients.jobs_data
