"""Shared fixtures for integration tests: the simulator, started in-process on loopback.

``sim`` yields a :class:`pegbot.sim.testing.SimHandle` for a fresh simulator on an ephemeral
127.0.0.1 port (KGST/USDT, the demo account and a ``maker`` counterparty account, depth pushed
every 20 ms). Override the ``sim_config`` fixture in a test module to change the configuration.
Clients made with ``sim.client()`` / ``sim.maker()`` are closed at teardown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pegbot.sim.config import SimConfig
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config


@pytest.fixture
def sim_config() -> SimConfig:
    """Override in a module to start the simulator with another configuration."""
    return default_sim_config()


@pytest.fixture
async def sim(sim_config: SimConfig) -> AsyncIterator[SimHandle]:
    """A fresh simulator on an ephemeral loopback port."""
    server = SimServer(sim_config, host="127.0.0.1", port=0)
    await server.start()
    handle = SimHandle(server)
    try:
        yield handle
    finally:
        await handle.close_clients()
        await server.stop()
