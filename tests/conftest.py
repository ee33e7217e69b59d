"""Shared pytest fixtures for the whole suite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from network_guard import NetworkGuard


@pytest.fixture(scope="session", autouse=True)
def network_guard() -> Iterator[NetworkGuard]:
    """Make every non-loopback socket connection from the test process raise NetworkAccessError.

    This proves that no test, and nothing a test imports or runs in-process, downloads anything.
    """
    guard = NetworkGuard()
    with pytest.MonkeyPatch.context() as monkeypatch:
        guard.install(monkeypatch)
        yield guard
