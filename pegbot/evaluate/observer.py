"""What the exchange saw: the simulator's own record of the book and of the bot's account.

The evaluation measures the bot from outside its process, the way a venue checks a market
maker's obligations: from the exchange's record, not from what the bot says about itself.
:class:`ExchangeObserver` listens on the simulator's event hook (every engine event, in
order, stamped with the engine's own ns clock) and writes the scorecard's event stream: the
whole book with and without the account's orders, the account's resting orders after every
change, its fills, its order requests and its base holding; a middleware adds a
:class:`~pegbot.scorecard.RateSeen` whenever someone fetches the official-rate fixture.

Why not poll the public API at 10 Hz: the observer would share the bot's IP and so its
request weight (a book, open orders, trades and balances ten times a second is about 30,000
weight a minute against a 6,000 limit: the observer would rate-limit the bot it measures);
faults the scenarios inject (dropped WebSockets, failing REST, a 429 storm) would blind it
exactly when it matters; and a 10 Hz poll cannot see the 100 ms gaps the targets talk about.
The engine's record is exact, costs the bot nothing and survives every fault.

A cancel-replace shows as a cancel and a place (two requests of the venue's record), an amend
as ``amended``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from pegbot.book import OrderBook
from pegbot.market import Side
from pegbot.scorecard import (
    Event,
    Holding,
    Level,
    OrderAction,
    OrderKind,
    OwnFill,
    Quotes,
    RateSeen,
    book_from_l2,
)
from pegbot.sim.accounts import AMOUNT_DECIMALS
from pegbot.sim.exchange import Exchange
from pegbot.sim.model import AccountUpdate, DepthUpdate, ExecutionReport
from pegbot.sim.model import Event as SimEvent
from pegbot.sim.server import SimServer

__all__ = ["RATE_PATHS", "ExchangeObserver"]

#: Paths of the official-rate fixture (a fetch of either is the bot reading the rate).
RATE_PATHS = frozenset({"/XML/daily.xml", "/nbkr/XML/daily.xml"})
_GONE = frozenset({"CANCELED", "EXPIRED", "REJECTED"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ExchangeObserver:
    """Turns one account's view of one symbol into scorecard events (module docstring).

    Args:
        exchange: The simulated exchange.
        api_key: The account whose orders are "ours".
        symbol: The exchange symbol (``KGSTUSDT``).
    """

    def __init__(self, exchange: Exchange, api_key: str, symbol: str) -> None:
        self.exchange = exchange
        self.api_key = api_key
        self.symbol = symbol
        self.market = exchange.engine.book(symbol).market
        self.events: list[Event] = []
        self.book = OrderBook()
        self._ours: dict[int, tuple[Side, int, int]] = {}  # order id -> side, price, units
        self._last_ts = 0
        self._last_book: tuple[int | None, ...] | None = None
        self._unit_scale: int = 10 ** (AMOUNT_DECIMALS - self.market.qty_decimals)
        self.rate_fetches = 0

    def attach(self, server: SimServer) -> None:
        """Listen to ``server`` (before it starts: the middleware must go in first)."""
        if server.app.frozen:
            raise RuntimeError("attach the observer before SimServer.start()")
        server.exchange.hooks.append(self.on_event)
        server.app.middlewares.append(self._middleware)
        acct = self.exchange.engine.ledger.accounts.get(self.api_key)
        if acct is not None:
            bal = acct.balance(self.market.base)
            self.add(Holding(self._ts(self.exchange.now_ns()), self._units(bal.free + bal.locked)))

    def add(self, ev: Event) -> None:
        """Append an event (the harness adds the fair value and its changes here)."""
        self.events.append(ev)

    def now(self) -> int:
        """The exchange's clock, never before the last event recorded."""
        return self._ts(self.exchange.now_ns())

    def _ts(self, ts: int) -> int:
        # The engine's clock is the wall clock: keep the stream ordered even if it steps back.
        self._last_ts = max(self._last_ts, ts)
        return self._last_ts

    def _units(self, amount: int) -> int:
        return amount // self._unit_scale

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resp = await handler(request)
        if request.path in RATE_PATHS and resp.status == 200:
            self.rate_fetches += 1
            self.add(RateSeen(self.now()))
        return resp

    # -- the engine's events -------------------------------------------------------------

    def on_event(self, ev: SimEvent) -> None:
        """The exchange hook: fold one engine event in."""
        if isinstance(ev, DepthUpdate):
            if ev.symbol != self.symbol:
                return
            for tick, units in ev.bids:
                self.book.set_level(1, tick, units)
            for tick, units in ev.asks:
                self.book.set_level(-1, tick, units)
            self._book(self._ts(ev.time_ns))
        elif isinstance(ev, ExecutionReport):
            if ev.api_key == self.api_key and ev.order.symbol == self.symbol:
                self._report(ev)
        elif isinstance(ev, AccountUpdate) and ev.api_key == self.api_key:
            for asset, free, locked in ev.balances:
                if asset == self.market.base:
                    self.add(Holding(self._ts(ev.time_ns), self._units(free + locked)))

    def _report(self, ev: ExecutionReport) -> None:
        ts = self._ts(ev.time_ns)
        order = ev.order
        oid = order.order_id
        kind = ev.exec_type
        # The order object is the engine's live one (later events of the same request may
        # have changed it): quantities come from the report's own fields where it has them.
        if kind == "NEW":
            self._ours[oid] = (order.side, order.price, order.orig_units)
            self.add(OrderAction(ts, OrderKind.PLACED, order.side))
        elif kind == "TRADE":
            self.add(OwnFill(ts, order.side, ev.last_price, ev.last_units, ev.is_maker))
            known = self._ours.get(oid)
            if known is not None:
                left = known[2] - ev.last_units
                if left > 0:
                    self._ours[oid] = (known[0], known[1], left)
                else:
                    del self._ours[oid]
        elif kind == "REPLACED":
            self.add(OrderAction(ts, OrderKind.AMENDED, order.side))
            if order.is_open and order.remaining > 0:
                self._ours[oid] = (order.side, order.price, order.remaining)
            else:
                self._ours.pop(oid, None)
        elif kind in _GONE:
            if kind == "CANCELED":
                self.add(OrderAction(ts, OrderKind.CANCELLED, order.side))
            self._ours.pop(oid, None)
        else:
            return
        bids, asks = self.levels()
        self.add(Quotes(ts, bids, asks))
        self._book(ts)

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """Our resting orders now: bids best first, asks best first."""
        bids = sorted(((p, u) for s, p, u in self._ours.values() if s is Side.BUY), reverse=True)
        asks = sorted((p, u) for s, p, u in self._ours.values() if s is Side.SELL)
        return tuple(bids), tuple(asks)

    def _book(self, ts: int) -> None:
        ev = book_from_l2(ts, self.book, *self.levels())
        key = (ev.bid, ev.ask, ev.bid_ex, ev.ask_ex)
        if key != self._last_book:
            self._last_book = key
            self.add(ev)
