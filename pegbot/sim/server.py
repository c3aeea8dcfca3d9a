"""The simulator's HTTP + WebSocket server: one aiohttp app on one 127.0.0.1 port.

The port serves REST at ``/api/v3``, market streams at ``/ws`` and ``/stream``, the WebSocket
API at ``/ws-api/v3``, the NBKR fixture at ``/XML/daily.xml`` and the admin endpoint at
``/admin``. :class:`SimServer` starts it inside any asyncio program (tests use port 0 for an
ephemeral port) and stops it cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol

from aiohttp import web

from pegbot.logging import event_log

from .admin import Admin
from .config import SimConfig
from .exchange import Exchange
from .rest import RestApi, json_response
from .ws import StreamHub
from .wsapi import WsApi

log = event_log(__name__)


class MarketSource(Protocol):
    """Whatever moves the rest of the market (an order-flow model, a tape replay)."""

    async def run(self, exchange: Exchange) -> None:
        """Drive ``exchange`` until cancelled."""


def _log_failure(task: asyncio.Task[None]) -> None:
    # A background task that dies must say so: the market would silently stop moving.
    if not task.cancelled() and task.exception() is not None:
        log.error("sim_task_failed", "simulator task failed", exc_info=task.exception())


async def _not_found(request: web.Request) -> web.Response:
    return json_response({"code": -1, "msg": "Not found."}, 404)


def build_app(exchange: Exchange) -> tuple[web.Application, StreamHub, WsApi]:
    """The aiohttp application serving ``exchange``."""
    app = web.Application(client_max_size=1 << 20)
    streams = StreamHub(exchange)
    wsapi = WsApi(exchange)
    RestApi(exchange).add_to(app)
    streams.add_to(app)
    wsapi.add_to(app)
    Admin(exchange, streams, wsapi).add_to(app)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app, streams, wsapi


class SimServer:
    """A running simulator.

    Args:
        config: Symbols, accounts, limits, faults (defaults: KGST/USDT and the demo account).
        host: Address to bind; loopback by default.
        port: Port to bind; 0 picks a free one (see :attr:`port` after :meth:`start`).
        clock: Real time in ns; the exchange adds the clock-skew fault.
        market: A source that moves the rest of the market, or None for users only.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], int] = time.time_ns,
        market: MarketSource | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self.exchange = Exchange(self.config, clock)
        self.app, self.streams, self.wsapi = build_app(self.exchange)
        self.market = market
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def http_url(self) -> str:
        """``http://host:port`` (REST lives under ``/api/v3``)."""
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port`` (streams at ``/ws``, WS API at ``/ws-api/v3``)."""
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> None:
        """Bind and serve in the running loop."""
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        if server is not None and self.port == 0:
            sockets = getattr(server, "sockets", None) or []
            self.port = int(sockets[0].getsockname()[1])
        self._tasks.append(asyncio.create_task(self.exchange.depth_flusher()))
        if self.market is not None:
            self._tasks.append(asyncio.create_task(self.market.run(self.exchange)))
        for task in self._tasks:
            task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        """Close connections and stop serving."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.streams.drop_all()
        await self.wsapi.drop_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Start and run until cancelled."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
