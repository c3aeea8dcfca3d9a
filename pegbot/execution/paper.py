"""``PaperVenue``: simulated fills against the live book, virtual balances, nothing sent.

Paper mode is its own venue, never an ``if paper:`` inside the live one. Orders rest
beside the live book fed by the market-data feed and fill through :mod:`pegbot.matching`
(queue position, partial fills, crossing), so paper results carry the same queue realism as
the backtester. Balances lock and settle as on Binance: a buy locks quote at its limit
price, a sell locks base; the commission is taken from the asset received.

The feed calls :meth:`PaperVenue.on_depth` for every level change (the precise path) or
:meth:`PaperVenue.on_book` with the whole book (levels of our prices, then a cross check),
and :meth:`PaperVenue.on_trade` for every public trade (a feed ``Trade``, or the plain
numbers through :meth:`PaperVenue.on_public_trade`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from pegbot.book import OrderBook
from pegbot.execution import errors
from pegbot.execution.budget import RateBudget
from pegbot.execution.venue import (
    Balance,
    Balances,
    Fill,
    OrderState,
    OrderUpdate,
    ReplaceResult,
    VenueCapabilities,
    VenueEvent,
)
from pegbot.feeds.model import Trade
from pegbot.logging import event_log
from pegbot.market import Market, MarketError, Side
from pegbot.matching import EngineFill, FillEngine, QueueModel

__all__ = ["DEFAULT_PAPER_BALANCES", "PaperVenue", "make_paper_venue"]

#: Virtual balances when the settings give none (the simulator's demo account).
DEFAULT_PAPER_BALANCES: dict[str, str] = {"base": "1000000", "quote": "20000"}

log = event_log(__name__)


@dataclass
class _Order:
    update: OrderUpdate
    locked: Decimal  # what the order still holds of the locked asset


class PaperVenue:
    """A :class:`~pegbot.execution.venue.Venue` that fills against a book it is fed.

    Attributes:
        name: Venue name.
        engine: The queue-position fill engine.
    """

    capabilities = VenueCapabilities(
        time_in_force=frozenset({"GTC", "IOC"}), replace=True, amend=True
    )

    def __init__(
        self,
        market: Market | None,
        balances: Mapping[str, Decimal | str | int],
        *,
        market_loader: Callable[[], Awaitable[Market]] | None = None,
        name: str = "paper",
        clock: Callable[[], int] = time.time_ns,
        queue: QueueModel | None = None,
        partial_fills: bool = True,
        own_prefix: str = "pegbot-",
    ) -> None:
        """Start with virtual ``balances`` (asset -> free amount).

        Args:
            market: The market, or None to load it at :meth:`start` with ``market_loader``.
            balances: Virtual free balances by asset.
            market_loader: Loads the live venue's market (see :func:`make_paper_venue`).
            name: Venue name.
            clock: ns UTC clock for orders (fills carry the market event's time).
            queue: Queue-position model (:class:`pegbot.matching.RiskAverse` by default).
            partial_fills: Fill by the volume that reaches an order, or whole.
            own_prefix: Client id prefix that cancel-all touches.
        """
        if market is None and market_loader is None:
            raise ValueError("paper venue: give a market or a market_loader")
        self.name = name
        self._market = market
        self._loader = market_loader
        self.clock = clock
        self.own_prefix = own_prefix
        self.engine = FillEngine(queue, partial_fills=partial_fills)
        self._free = {str(k): Decimal(v) for k, v in balances.items()}
        self._locked: dict[str, Decimal] = {}
        if market is not None:
            self._init_assets(market)
        self._orders: dict[str, _Order] = {}
        self._fills: list[Fill] = []
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self._book: OrderBook | None = None
        self._next_order = 1
        self._next_trade = 1

    @property
    def market(self) -> Market:
        """The symbol's market spec (after :meth:`start` when it is loaded from the venue)."""
        if self._market is None:
            raise RuntimeError(f"{self.name}: start() the venue first")
        return self._market

    async def start(self) -> Market:
        """Load the market from the live venue if it was not given; nothing else to do."""
        if self._market is None:
            assert self._loader is not None
            self._market = await self._loader()
            self._init_assets(self._market)
        return self._market

    def _init_assets(self, market: Market) -> None:
        for asset in (market.base, market.quote):
            self._free.setdefault(asset, Decimal(0))
            self._locked.setdefault(asset, Decimal(0))

    async def close(self) -> None:
        """Nothing to close."""

    @property
    def budget(self) -> RateBudget | None:
        """Virtual orders have no request limits."""
        return None

    @property
    def stream_connected(self) -> bool:
        """Events are in-process: always up."""
        return True

    # -- market data ----------------------------------------------------------------------

    def on_depth(self, side: int, price_ticks: int, qty_units: int, ts_ns: int) -> list[Fill]:
        """One external level changed (absolute quantity); returns our fills it caused."""
        return self._settle(self.engine.on_depth(side, price_ticks, qty_units, ts_ns))

    def on_book(self, book: OrderBook, ts_ns: int) -> list[Fill]:
        """The feed's whole book after an update; returns our fills it caused.

        The book is kept (not copied) for placing orders against it.
        """
        self._book = book
        out: list[Fill] = []
        for view in list(self.engine.orders()):
            levels = book.bids if view.side is Side.BUY else book.asks
            out += self.on_depth(
                int(view.side), view.price_ticks, levels.get(view.price_ticks, 0), ts_ns
            )
        out += self._settle(self.engine.on_bbo(book.best_bid, book.best_ask, ts_ns))
        return out

    def on_trade(self, trade: Trade) -> list[Fill]:
        """A public trade from the feed; returns our fills it caused."""
        return self.on_public_trade(int(trade.side), trade.price, trade.qty, trade.exch_ts)

    def on_public_trade(
        self, aggressor_side: int, price_ticks: int, qty_units: int, ts_ns: int
    ) -> list[Fill]:
        """A public trade of ``qty_units`` at ``price_ticks``; returns our fills it caused."""
        return self._settle(self.engine.on_trade(aggressor_side, price_ticks, qty_units, ts_ns))

    # -- orders ---------------------------------------------------------------------------

    async def place(
        self,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
        time_in_force: str | None = None,
    ) -> OrderUpdate:
        """Place a virtual limit order; idempotent by ``client_id``.

        With ``time_in_force="IOC"`` whatever does not fill at once expires instead of
        resting.
        """
        if time_in_force not in (None, "GTC", "IOC"):
            raise errors.InvalidOrderError(f"paper: time in force {time_in_force} unsupported")
        if time_in_force is not None and post_only:
            raise errors.InvalidOrderError("post-only and a time in force do not mix")
        known = self._orders.get(client_id)
        if known is not None:
            return known.update
        m = self.market
        try:
            m.check_order(price_ticks, lots)
        except MarketError as exc:
            raise errors.InvalidOrderError(str(exc)) from exc
        if self._book is None:
            raise errors.TemporaryError("paper: no book yet, cannot tell where the order rests")
        units = m.lots_to_units(lots)
        asset = m.quote if side is Side.BUY else m.base
        need = m.notional(price_ticks, units) if side is Side.BUY else m.units_to_qty(units)
        if self._free[asset] < need:
            raise errors.InsufficientFundsError(
                f"Account has insufficient balance for requested action. ({asset} {need})"
            )
        now = self.clock()
        order_id = f"paper-{self._next_order}"
        result = self.engine.place(
            self._book, client_id, int(side), price_ticks, units, now, post_only=post_only
        )
        if result.rejected:
            raise errors.WouldTakeError("Order would immediately match and take.")
        self._next_order += 1
        self._free[asset] -= need
        self._locked[asset] += need
        update = OrderUpdate(client_id, order_id, side, price_ticks, units, 0, OrderState.NEW, now)
        self._orders[client_id] = _Order(update, need)
        self._queue.put_nowait(update)
        log.info("paper_place", "paper order", client_order_id=client_id, side=side.name)
        self._settle(result.fills)
        if result.resting and time_in_force == "IOC":
            self.engine.cancel(client_id)
        if not result.resting or time_in_force == "IOC":
            order = self._orders[client_id]
            if order.update.state.is_open:  # nothing rests: the unfilled rest expires
                self._finish(order, OrderState.EXPIRED, now)
        return self._orders[client_id].update

    async def cancel(self, client_id: str) -> OrderUpdate:
        """Cancel one virtual order.

        Raises:
            OrderNotFoundError: No such open order.
        """
        order = self._orders.get(client_id)
        if order is None or not order.update.state.is_open:
            raise errors.OrderNotFoundError("Unknown order sent.")
        self.engine.cancel(client_id)
        self._finish(order, OrderState.CANCELED, self.clock())
        return order.update

    async def replace(
        self,
        cancel_client_id: str,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
    ) -> ReplaceResult:
        """Cancel, then place only if the cancel succeeded (atomic: nothing runs between)."""
        try:
            canceled = await self.cancel(cancel_client_id)
        except errors.VenueError as exc:
            return ReplaceResult(None, None, cancel_error=exc)
        try:
            placed = await self.place(side, price_ticks, lots, client_id, post_only)
        except errors.VenueError as exc:
            return ReplaceResult(canceled, None, place_error=exc)
        return ReplaceResult(canceled, placed)

    async def amend(self, client_id: str, lots: int) -> OrderUpdate:
        """Reduce an order to ``lots`` remaining, keeping its place in the queue.

        Raises:
            OrderNotFoundError: No such open order.
            InvalidOrderError: Not a reduce.
        """
        order = self._orders.get(client_id)
        if order is None or not order.update.state.is_open:
            raise errors.OrderNotFoundError("Unknown order sent.")
        m = self.market
        u = order.update
        remaining = u.qty_units - u.filled_units
        new_remaining = m.lots_to_units(lots)
        if not 0 < new_remaining < remaining:
            raise errors.InvalidOrderError("Order amend (quantity increase) is not supported.")
        self.engine.amend(client_id, u.filled_units + new_remaining)
        # The lock shrinks with the order: the freed part of the locked asset is free again.
        freed = order.locked * (remaining - new_remaining) / remaining
        asset = m.quote if u.side is Side.BUY else m.base
        self._locked[asset] -= freed
        self._free[asset] += freed
        order.locked -= freed
        order.update = replace(u, qty_units=u.filled_units + new_remaining, ts_ns=self.clock())
        self._queue.put_nowait(order.update)
        return order.update

    async def cancel_all(self, timeout_s: float | None = None) -> list[OrderUpdate]:
        """Cancel every open order of ours; nothing can be left (``timeout_s`` unused)."""
        out = [
            await self.cancel(o.update.client_id)
            for o in list(self._orders.values())
            if o.update.state.is_open and o.update.client_id.startswith(self.own_prefix)
        ]
        return out

    async def open_orders(self) -> list[OrderUpdate]:
        """Open virtual orders."""
        return [o.update for o in self._orders.values() if o.update.state.is_open]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Virtual fills from ``since_ns`` on."""
        return [f for f in self._fills if f.ts_ns >= since_ns]

    async def balances(self) -> Balances:
        """Virtual balances: every fill made so far is in them (fills settle at once).

        As of the newest fill's time (fills carry the market event's time, not this clock).
        """
        rows = {a: Balance(a, self._free[a], self._locked.get(a, Decimal(0))) for a in self._free}
        return Balances(rows, as_of_ns=max((f.ts_ns for f in self._fills[-1:]), default=0))

    async def lookup(self, client_id: str) -> OrderUpdate | None:
        """A virtual order's latest state (None if it was never placed)."""
        order = self._orders.get(client_id)
        return order.update if order is not None else None

    def events(self) -> AsyncIterator[VenueEvent]:
        """Order updates and fills, in the order they happened."""
        return self._events()

    async def _events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()

    # -- settlement -----------------------------------------------------------------------

    def _finish(self, order: _Order, state: OrderState, ts_ns: int) -> None:
        m = self.market
        asset = m.quote if order.update.side is Side.BUY else m.base
        self._locked[asset] -= order.locked
        self._free[asset] += order.locked
        order.locked = Decimal(0)
        order.update = replace(order.update, state=state, ts_ns=ts_ns)
        self._queue.put_nowait(order.update)

    def _settle(self, fills: list[EngineFill]) -> list[Fill]:
        m = self.market
        out: list[Fill] = []
        for ef in fills:
            order = self._orders[str(ef.order_id)]
            u = order.update
            qty = m.units_to_qty(ef.qty_units)
            value = m.notional(ef.price_ticks, ef.qty_units)
            rate = m.maker_fee if ef.maker else m.taker_fee
            if u.side is Side.BUY:
                # The lock was taken at our limit; a taker fill at a better price frees the rest.
                release = m.notional(u.price_ticks, ef.qty_units)
                self._locked[m.quote] -= release
                order.locked -= release
                self._free[m.quote] += release - value
                fee, fee_asset = qty * rate, m.base
                self._free[m.base] += qty - fee
            else:
                self._locked[m.base] -= qty
                order.locked -= qty
                fee, fee_asset = value * rate, m.quote
                self._free[m.quote] += value - fee
            filled = u.filled_units + ef.qty_units
            state = OrderState.FILLED if filled == u.qty_units else OrderState.PARTIALLY_FILLED
            fill = Fill(
                venue=self.name,
                symbol=m.symbol,
                trade_id=f"paper-{self._next_trade}",
                client_id=u.client_id,
                order_id=u.order_id,
                side=u.side,
                price_ticks=ef.price_ticks,
                qty_units=ef.qty_units,
                fee=fee,
                fee_asset=fee_asset,
                maker=ef.maker,
                ts_ns=ef.ts_ns,
            )
            self._next_trade += 1
            self._fills.append(fill)
            self._queue.put_nowait(fill)
            order.update = replace(u, filled_units=filled, state=state, ts_ns=ef.ts_ns)
            self._queue.put_nowait(order.update)
            if state is OrderState.FILLED and order.locked:
                asset = m.quote if u.side is Side.BUY else m.base
                self._locked[asset] -= order.locked
                self._free[asset] += order.locked
                order.locked = Decimal(0)
            out.append(fill)
        return out


def make_paper_venue(
    name: str, settings: Any, balances: Mapping[str, Any] | None = None
) -> PaperVenue:
    """A paper venue on the market of ``settings`` (a ``VenueSettings``), loaded at start.

    The market (filters, fees) comes from the venue's public API (``exchange``, ``symbol``,
    ``rest_url``, ``ws_url`` of the settings); no key is used. ``balances`` (or the settings'
    ``paper_balances``, if it has them) are the virtual balances by asset; the names
    ``base`` and ``quote`` stand for the symbol's assets. Default:
    :data:`DEFAULT_PAPER_BALANCES`.
    """
    from pegbot.execution.ccxt_venue import load_market

    exchange = str(getattr(settings, "exchange", "binance"))
    symbol = str(getattr(settings, "symbol", "KGST/USDT"))
    base, quote = symbol.split("/")
    given = balances or getattr(settings, "paper_balances", None) or DEFAULT_PAPER_BALANCES
    virtual = {{"base": base, "quote": quote}.get(k, k): Decimal(str(v)) for k, v in given.items()}

    async def loader() -> Market:
        return await load_market(
            exchange,
            symbol,
            http_url=getattr(settings, "rest_url", None),
            ws_url=getattr(settings, "ws_url", None),
        )

    return PaperVenue(None, virtual, market_loader=loader, name=name)
