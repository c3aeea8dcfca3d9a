"""A small Binance-compatible market-data server on 127.0.0.1 for the feed and recorder tests.

REST (aiohttp): ``GET /api/v3/exchangeInfo`` (enough for unmodified ccxt's ``load_markets``)
and ``GET /api/v3/depth`` (a snapshot of :class:`RefVenue`, or one queued by the test).
WebSocket (websockets): any path; the test pushes frames to the newest connection and can drop
it. Every frame sent is remembered with its send time, so tests compare what arrived.

This is not the simulator (``pegbot/sim``): it plays a script, it does not match orders.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import orjson
from aiohttp import web
from websockets.asyncio.server import ServerConnection, serve

SYMBOL = "KGSTUSDT"

EXCHANGE_INFO: dict[str, Any] = {
    "timezone": "UTC",
    "serverTime": 1_753_000_000_000,
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}
    ],
    "exchangeFilters": [],
    "symbols": [
        {
            "symbol": SYMBOL,
            "status": "TRADING",
            "baseAsset": "KGST",
            "baseAssetPrecision": 8,
            "quoteAsset": "USDT",
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": "0.00001000",
                    "maxPrice": "1000.00000000",
                    "tickSize": "0.00001000",
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": "1.00000000",
                    "maxQty": "90000000.00000000",
                    "stepSize": "1.00000000",
                },
                {"filterType": "NOTIONAL", "minNotional": "1.00000000", "maxNotional": "9000000"},
            ],
        }
    ],
}


class RefVenue:
    """A reference book with Binance's update-id counter; makes consistent messages.

    Prices and quantities are decimal strings, as on the wire.
    """

    def __init__(
        self,
        bids: dict[str, str] | None = None,
        asks: dict[str, str] | None = None,
        last_id: int = 1000,
    ) -> None:
        self.bids: dict[str, str] = dict(
            bids or {"0.01143": "1000", "0.01142": "2500.5", "0.01140": "77"}
        )
        self.asks: dict[str, str] = dict(
            asks or {"0.01144": "800", "0.01145": "3000", "0.01150": "12.12345678"}
        )
        self.last_id = last_id
        self.trade_id = 500
        self.event_ms = 1_753_000_000_000

    def diff(
        self,
        bids: list[tuple[str, str]] = (),  # type: ignore[assignment]
        asks: list[tuple[str, str]] = (),  # type: ignore[assignment]
        ids: int = 1,
    ) -> bytes:
        """Apply changes (``"0"`` removes) and return the combined-stream depthUpdate frame."""
        for side, changes in ((self.bids, bids), (self.asks, asks)):
            for price, qty in changes:
                if Decimal(qty) == 0:
                    side.pop(price, None)
                else:
                    side[price] = qty
        first = self.last_id + 1
        self.last_id += ids
        self.event_ms += 100
        data = {
            "e": "depthUpdate",
            "E": self.event_ms,
            "s": SYMBOL,
            "U": first,
            "u": self.last_id,
            "b": [list(x) for x in bids],
            "a": [list(x) for x in asks],
        }
        return orjson.dumps({"stream": "kgstusdt@depth@100ms", "data": data})

    def trade(self, price: str, qty: str, buyer_maker: bool) -> bytes:
        """A combined-stream trade frame."""
        self.trade_id += 1
        self.event_ms += 1
        data = {
            "e": "trade",
            "E": self.event_ms,
            "s": SYMBOL,
            "t": self.trade_id,
            "p": price,
            "q": qty,
            "T": self.event_ms - 1,
            "m": buyer_maker,
            "M": True,
        }
        return orjson.dumps({"stream": "kgstusdt@trade", "data": data})

    def snapshot(self) -> dict[str, Any]:
        """The REST depth body for the current book."""
        return {
            "lastUpdateId": self.last_id,
            "bids": [[p, q] for p, q in sorted(self.bids.items(), key=lambda x: -Decimal(x[0]))],
            "asks": [[p, q] for p, q in sorted(self.asks.items(), key=lambda x: Decimal(x[0]))],
        }


class LocalBinance:
    """REST + WebSocket servers on 127.0.0.1 with ephemeral ports."""

    def __init__(self, venue: RefVenue | None = None) -> None:
        self.venue = venue or RefVenue()
        #: Snapshot bodies served first (FIFO; a dict, or bytes served as they are); when empty
        #: the venue's current book is served.
        self.depth_queue: list[dict[str, Any] | bytes] = []
        #: Every depth body served, exactly as sent.
        self.depth_bodies: list[bytes] = []
        self.depth_params: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.connections: list[ServerConnection] = []
        #: (time.time(), frame) for every frame sent.
        self.sent: list[tuple[float, bytes]] = []
        self._connected = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._ws_server: Any = None
        self.rest_url = ""
        self.ws_url = ""

    async def start(self) -> LocalBinance:
        app = web.Application()
        app.router.add_get("/api/v3/exchangeInfo", self._exchange_info)
        app.router.add_get("/api/v3/depth", self._depth)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.rest_url = f"http://127.0.0.1:{port}"
        self._ws_server = await serve(self._handler, "127.0.0.1", 0, compression=None)
        ws_port = self._ws_server.sockets[0].getsockname()[1]
        self.ws_url = f"ws://127.0.0.1:{ws_port}"
        return self

    async def stop(self) -> None:
        if self._ws_server is not None:
            self._ws_server.close()
            await self._ws_server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> LocalBinance:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- test controls --------------------------------------------------------------------

    async def wait_connections(self, n: int, timeout: float = 10.0) -> ServerConnection:
        async with asyncio.timeout(timeout), self._connected:
            await self._connected.wait_for(lambda: len(self.connections) >= n)
        return self.connections[-1]

    async def send(self, frame: bytes) -> None:
        """Send a text frame to the newest connection."""
        self.sent.append((time.time(), frame))
        await self.connections[-1].send(frame, text=True)

    async def drop(self) -> None:
        """Close the newest connection (the client sees a close frame)."""
        await self.connections[-1].close(code=1001, reason="going away")

    # -- handlers -------------------------------------------------------------------------

    async def _handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.paths.append(ws.request.path)
        async with self._connected:
            self.connections.append(ws)
            self._connected.notify_all()
        await ws.wait_closed()

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(EXCHANGE_INFO), content_type="application/json")

    async def _depth(self, request: web.Request) -> web.Response:
        self.depth_params.append(dict(request.query))
        snap = self.depth_queue.pop(0) if self.depth_queue else self.venue.snapshot()
        body = snap if isinstance(snap, bytes) else orjson.dumps(snap)
        self.depth_bodies.append(body)
        return web.Response(body=body, content_type="application/json")


async def until(pred: Any, timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``pred()`` every 5 ms until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)
