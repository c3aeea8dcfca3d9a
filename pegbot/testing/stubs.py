"""In-memory stand-ins for what a venue runner talks to: a venue, a feed, the bot around it.

They exist so the runner's own logic — the decision step, our orders, answers, fills — can be
tested in one process without sockets. Anything that speaks a protocol for real (ccxt, the
Binance API) is tested against the simulator instead (:mod:`pegbot.testing.sim`).

:class:`StubVenue` acknowledges every place at once (unless told to fail the next request),
records what it was asked, and lets a test push fills and order events; :class:`StubFeed`
holds a book a test sets; :class:`StubContext` is a
:class:`~pegbot.live.context.RunnerContext` that records what the runner reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pegbot.book import OrderBook
from pegbot.config import Settings, load_settings
from pegbot.execution import errors
from pegbot.execution.budget import RateBudget
from pegbot.execution.risk import RiskState, Transition
from pegbot.execution.venue import (
    Balance,
    Balances,
    Fill,
    OrderState,
    OrderUpdate,
    ReplaceResult,
    Venue,
    VenueCapabilities,
    VenueEvent,
)
from pegbot.feeds.model import FeedConfig, FeedCounters, MarketFeed, Trade
from pegbot.journal import Journal
from pegbot.live.context import RunnerContext
from pegbot.market import Market, Rounding, Side
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import SignalEvent
from pegbot.strategy import Inventory

__all__ = ["StubContext", "StubFeed", "StubVenue", "stub_settings"]


class StubVenue:
    """A venue in memory (see the module docstring).

    Args:
        market: The market it trades.
        balances: Free balances by asset.
        name: Venue name.
    """

    capabilities = VenueCapabilities(
        time_in_force=frozenset({"GTC", "IOC"}), replace=True, amend=True
    )

    def __init__(
        self,
        market: Market | None = None,
        balances: dict[str, Decimal | int] | None = None,
        name: str = "stub",
    ) -> None:
        self.name = name
        self._market = market or Market.kgst_usdt()
        self._balances = {k: Decimal(v) for k, v in (balances or {}).items()}
        self.orders: dict[str, OrderUpdate] = {}
        #: Every request, in order: ``("place", client_id)`` or ``("cancel", client_id)``.
        self.requests: list[tuple[str, str]] = []
        #: Errors the next requests raise, oldest first.
        self.fail_next: list[errors.VenueError] = []
        self._events: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._trade = 0

    @property
    def market(self) -> Market:
        """The market."""
        return self._market

    @property
    def budget(self) -> RateBudget | None:
        """No request limits."""
        return None

    @property
    def stream_connected(self) -> bool:
        """Events are in memory: always up."""
        return True

    async def start(self) -> Market:
        """Nothing to connect."""
        return self._market

    async def close(self) -> None:
        """Nothing to close."""

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def place(
        self,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
        time_in_force: str | None = None,
    ) -> OrderUpdate:
        """Acknowledge at once (or raise the next queued error)."""
        self.requests.append(("place", client_id))
        self._maybe_fail()
        upd = OrderUpdate(
            client_id,
            f"o{len(self.orders) + 1}",
            side,
            price_ticks,
            self._market.lots_to_units(lots),
            0,
            OrderState.NEW,
            0,
        )
        self.orders[client_id] = upd
        return upd

    async def cancel(self, client_id: str) -> OrderUpdate:
        """Cancel an open order (or raise the next queued error)."""
        self.requests.append(("cancel", client_id))
        self._maybe_fail()
        upd = self.orders.get(client_id)
        if upd is None or not upd.state.is_open:
            raise errors.OrderNotFoundError("Unknown order sent.")
        done = OrderUpdate(
            upd.client_id,
            upd.order_id,
            upd.side,
            upd.price_ticks,
            upd.qty_units,
            upd.filled_units,
            OrderState.CANCELED,
            0,
        )
        self.orders[client_id] = done
        return done

    async def replace(
        self,
        cancel_client_id: str,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
    ) -> ReplaceResult:
        """Cancel, then place only if the cancel succeeded."""
        self.requests.append(("replace", cancel_client_id))
        self._maybe_fail()
        try:
            canceled = await self.cancel(cancel_client_id)
        except errors.VenueError as exc:
            return ReplaceResult(None, None, cancel_error=exc)
        self.requests.pop()  # the cancel inside the replace is not a request of its own
        placed = await self.place(side, price_ticks, lots, client_id, post_only)
        self.requests.pop()
        return ReplaceResult(canceled, placed)

    async def amend(self, client_id: str, lots: int) -> OrderUpdate:
        """Reduce an open order to ``lots`` remaining."""
        self.requests.append(("amend", client_id))
        self._maybe_fail()
        upd = self.orders.get(client_id)
        if upd is None or not upd.state.is_open:
            raise errors.OrderNotFoundError("Unknown order sent.")
        new = OrderUpdate(
            upd.client_id,
            upd.order_id,
            upd.side,
            upd.price_ticks,
            upd.filled_units + self._market.lots_to_units(lots),
            upd.filled_units,
            upd.state,
            0,
        )
        self.orders[client_id] = new
        return new

    async def cancel_all(self, timeout_s: float | None = None) -> list[OrderUpdate]:
        """Cancel every open order."""
        return [await self.cancel(c) for c, u in list(self.orders.items()) if u.state.is_open]

    async def open_orders(self) -> list[OrderUpdate]:
        """Open orders."""
        return [u for u in self.orders.values() if u.state.is_open]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """No history kept."""
        return []

    async def balances(self) -> Balances:
        """The balances given: no fill of the stub ever moves them (as of before every fill)."""
        return Balances({a: Balance(a, v, Decimal(0)) for a, v in self._balances.items()}, -1)

    async def lookup(self, client_id: str) -> OrderUpdate | None:
        """An order's latest state (None if never placed)."""
        self.requests.append(("lookup", client_id))
        return self.orders.get(client_id)

    def events(self) -> AsyncIterator[VenueEvent]:
        """Events pushed by :meth:`fill` and :meth:`push`."""
        return self._iter()

    async def _iter(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._events.get()

    def push(self, event: VenueEvent) -> None:
        """Deliver an event on the user stream."""
        self._events.put_nowait(event)

    def fill(self, client_id: str, lots: int, *, trade_id: str | None = None) -> Fill:
        """Fill ``lots`` of an open order; returns the fill (also pushed as an event)."""
        upd = self.orders[client_id]
        units = self._market.lots_to_units(lots)
        filled = upd.filled_units + units
        state = OrderState.FILLED if filled >= upd.qty_units else OrderState.PARTIALLY_FILLED
        self.orders[client_id] = OrderUpdate(
            upd.client_id,
            upd.order_id,
            upd.side,
            upd.price_ticks,
            upd.qty_units,
            filled,
            state,
            0,
        )
        self._trade += 1
        f = Fill(
            self.name,
            self._market.symbol,
            trade_id or f"t{self._trade}",
            client_id,
            upd.order_id,
            upd.side,
            upd.price_ticks,
            units,
            Decimal(0),
            self._market.quote,
            True,
            0,
        )
        self.push(f)
        return f

    def on_book(self, book: OrderBook, ts_ns: int) -> Sequence[Fill]:
        """Fills only on :meth:`fill`."""
        return ()

    def on_trade(self, trade: Trade) -> Sequence[Fill]:
        """Fills only on :meth:`fill`."""
        return ()


class StubFeed:
    """A feed whose book a test sets (``synced`` until told otherwise)."""

    def __init__(self, book: OrderBook | None = None, synced: bool = True) -> None:
        self.config = FeedConfig()
        self.counters = FeedCounters()
        self.book = book or OrderBook()
        self._synced = synced
        self._stop = asyncio.Event()

    @property
    def synced(self) -> bool:
        """As set."""
        return self._synced

    @synced.setter
    def synced(self, value: bool) -> None:
        self._synced = value

    async def run(self) -> None:
        """Wait for :meth:`stop`."""
        await self._stop.wait()

    def stop(self) -> None:
        """End :meth:`run`."""
        self._stop.set()


def stub_settings(**overrides: Any) -> Settings:
    """Settings for a stub runner: one venue ``stub``, ``peg_ladder``, dry-run mode."""
    base: dict[str, Any] = {
        "mode": "dry-run",
        "venues": {"stub": {}},
        "strategy": {"name": "peg_ladder", "params": {"levels": 2, "size_lots": 100}},
    }
    base.update(overrides)
    return load_settings(None, environ={}, **base)


@dataclass
class StubContext:
    """A :class:`~pegbot.live.context.RunnerContext` that records what it is told.

    Attributes:
        settings: The configuration.
        now_ns: What :meth:`clock` returns (a test moves it).
        fair_value: What :meth:`fair` returns.
        held: Holdings :meth:`inventory` returns (None: zero).
    """

    settings: Settings = field(default_factory=stub_settings)
    run_id: str = "stubrun1"
    metrics: Metrics = field(default_factory=Metrics)
    journal: Journal | None = None
    now_ns: int = 1_000_000_000
    fair_value: FairValue | None = None
    held: Inventory | None = None
    fills: list[tuple[str, Fill, bool]] = field(default_factory=list)
    #: Fills a previous run journaled already (``fill_applied`` with ``new`` False).
    known_fills: list[Fill] = field(default_factory=list)
    transitions: list[Transition] = field(default_factory=list)
    signals: list[SignalEvent] = field(default_factory=list)
    decisions: list[RiskState] = field(default_factory=list)
    housekeeping_rounds: int = 0
    idle_calls: int = 0

    def clock(self) -> int:
        """The test's clock."""
        return self.now_ns

    def fair(self, now_ns: int) -> FairValue | None:
        """The fair value set by the test."""
        return self.fair_value

    def inventory(self, market: Market) -> Inventory:
        """The holdings set by the test."""
        if self.held is not None:
            return self.held
        return Inventory(0, market.qty_to_units(Decimal(0), Rounding.DOWN), 0)

    def fill_applied(self, venue: str, fill: Fill, recovered: bool, new: bool) -> None:
        """Recorded (in :attr:`known_fills` when ``new`` is False)."""
        if new:
            self.fills.append((venue, fill, recovered))
        else:
            self.known_fills.append(fill)

    def risk_changed(self, venue: str, symbol: str, transition: Transition) -> None:
        """Recorded."""
        self.transitions.append(transition)

    def signals_raised(
        self, venue: str, events: list[SignalEvent], fair: FairValue, now_ns: int
    ) -> None:
        """Recorded."""
        self.signals.extend(events)

    def decided(self, venue: str, now_ns: int, fair: FairValue | None, risk: RiskState) -> None:
        """Recorded."""
        self.decisions.append(risk)

    async def housekept(self, venue: str) -> None:
        """Counted."""
        self.housekeeping_rounds += 1

    def idle(self) -> None:
        """Counted."""
        self.idle_calls += 1


if TYPE_CHECKING:  # the stubs keep to the protocols they stand in for (mypy checks this)

    def _venue(v: StubVenue) -> Venue:
        return v

    def _feed(f: StubFeed) -> MarketFeed:
        return f

    def _context(c: StubContext) -> RunnerContext:
        return c
