"""Test helpers that ship with the simulator: a handle on a running simulator and its clients.

Used by ``tests/integration/conftest.py`` (the ``sim`` fixture) and by any test or tool that
wants a simulator in its own process: ``SimHandle(server)`` after ``await server.start()``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
from pydantic import SecretStr

from .client import make_pro_client
from .config import DEMO_API_KEY, DEMO_API_SECRET, AccountConfig, SimConfig
from .exchange import Exchange
from .server import SimServer

#: A second funded account, the counterparty in tests.
MAKER_KEY = "pegbot-test-maker-key"
#: Its secret (a public test value).
MAKER_SECRET = "pegbot-test-maker-secret"


def default_sim_config() -> SimConfig:
    """The configuration integration tests start from: demo + ``maker`` accounts, 20 ms depth."""
    return SimConfig(
        accounts=(
            AccountConfig(api_key=DEMO_API_KEY, api_secret=SecretStr(DEMO_API_SECRET)),
            AccountConfig(
                api_key=MAKER_KEY,
                api_secret=SecretStr(MAKER_SECRET),
                balances={"KGST": Decimal("5000000"), "USDT": Decimal("100000")},
            ),
        ),
        depth_interval_ms=20,
    )


@dataclass
class SimHandle:
    """A running simulator and helpers to talk to it."""

    server: SimServer
    api_key: str = DEMO_API_KEY
    api_secret: str = DEMO_API_SECRET
    _clients: list[Any] = field(default_factory=list)

    @property
    def http_url(self) -> str:
        """REST base URL."""
        return self.server.http_url

    @property
    def ws_url(self) -> str:
        """WebSocket base URL."""
        return self.server.ws_url

    @property
    def exchange(self) -> Exchange:
        """The simulated exchange (engine, faults, limits) for direct inspection."""
        return self.server.exchange

    def client(
        self, api_key: str | None = None, secret: str | None = None, **overrides: Any
    ) -> ccxtpro.binance:
        """An unmodified ccxt.pro Binance client pointed at this simulator.

        ccxt's client-side throttle is off unless ``enableRateLimit=True`` is passed: it
        spaces requests by ccxt's own endpoint costs (a second after ``load_markets``), which
        only slows tests down; the simulator enforces Binance's limits itself.
        """
        overrides.setdefault("enableRateLimit", False)
        ex = make_pro_client(
            self.http_url,
            self.ws_url,
            api_key or self.api_key,
            secret or self.api_secret,
            **overrides,
        )
        self._clients.append(ex)
        return ex

    def maker(self, **overrides: Any) -> ccxtpro.binance:
        """A client of the counterparty account."""
        return self.client(MAKER_KEY, MAKER_SECRET, **overrides)

    async def admin(self, action: str, body: dict[str, Any] | None = None) -> Any:
        """POST to the loopback admin endpoint; raises on an error reply."""
        url = f"{self.http_url}/admin/{action}"
        async with aiohttp.ClientSession() as session, session.post(url, json=body or {}) as resp:
            data = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"admin {action}: {resp.status} {data}")
            return data

    async def close_clients(self) -> None:
        """Close every client made by :meth:`client`."""
        clients, self._clients = self._clients, []
        await asyncio.gather(*(ex.close() for ex in clients))
