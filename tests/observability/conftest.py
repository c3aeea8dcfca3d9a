"""Fixtures of the observability tests: a real Prometheus started on loopback per test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
from _prom import PromServer


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "promql: starts a real Prometheus (skipped when the binary is absent)"
    )


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[Mapping[str, Sequence[str]]], PromServer]]:
    """Start Prometheus scraping ``{job: ["127.0.0.1:port", ...]}`` every second, with the
    pegbot rules loaded; stopped at teardown."""
    started: list[PromServer] = []

    def start(targets: Mapping[str, Sequence[str]]) -> PromServer:
        server = PromServer.start(tmp_path, targets)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
