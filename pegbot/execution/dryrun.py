"""``DryRunVenue``: live data, intended orders logged, nothing sent, nothing ever filled.

The safest mode, and the default: the bot runs its whole loop on the live market and every
order it would send is logged as a structured ``event=dry_run_place`` line (and kept as an
open order, so the reconciler sees it resting and does not re-send it every tick). No API
key is needed; no order is ever filled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
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

__all__ = ["DryRunVenue", "make_dryrun_venue"]

log = event_log(__name__)


class DryRunVenue:
    """A :class:`~pegbot.execution.venue.Venue` that only logs.

    Attributes:
        name: Venue name.
        intended: Every order it was asked to place, in order (for the operator and tests).
    """

    capabilities = VenueCapabilities()

    def __init__(
        self,
        market: Market | None,
        balances: Mapping[str, Decimal | str | int] | None = None,
        *,
        market_loader: Callable[[], Awaitable[Market]] | None = None,
        name: str = "dry-run",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """Pretend to hold ``balances`` (for inventory and skew) on ``market``.

        Args:
            market: The market, or None to load it at :meth:`start` with ``market_loader``.
            balances: Pretend balances by asset.
            market_loader: Loads the live venue's market (see :func:`make_dryrun_venue`).
            name: Venue name.
            clock: ns UTC clock.
        """
        if market is None and market_loader is None:
            raise ValueError("dry-run venue: give a market or a market_loader")
        self.name = name
        self._market = market
        self._loader = market_loader
        self.clock = clock
        self._balances = {str(k): Decimal(v) for k, v in (balances or {}).items()}
        self._orders: dict[str, OrderUpdate] = {}
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self.intended: list[OrderUpdate] = []

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
        return self._market

    async def close(self) -> None:
        """Nothing to close."""

    @property
    def budget(self) -> RateBudget | None:
        """Nothing is sent, so nothing is limited."""
        return None

    @property
    def stream_connected(self) -> bool:
        """No stream to lose: always up."""
        return True

    def on_book(self, book: OrderBook, ts_ns: int) -> Sequence[Fill]:
        """Dry-run orders never fill."""
        return ()

    def on_trade(self, trade: Trade) -> Sequence[Fill]:
        """Dry-run orders never fill."""
        return ()

    async def place(
        self,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
        time_in_force: str | None = None,
    ) -> OrderUpdate:
        """Log the order and report it resting; idempotent by ``client_id``.

        Raises:
            InvalidOrderError: A time in force other than GTC (a dry run cannot tell what an
                IOC would have taken).
        """
        if time_in_force not in (None, "GTC"):
            raise errors.InvalidOrderError(f"dry-run: time in force {time_in_force} unsupported")
        known = self._orders.get(client_id)
        if known is not None:
            return known
        m = self.market
        try:
            m.check_order(price_ticks, lots)
        except MarketError as exc:
            raise errors.InvalidOrderError(str(exc)) from exc
        update = OrderUpdate(
            client_id=client_id,
            order_id=f"dry-{len(self.intended) + 1}",
            side=side,
            price_ticks=price_ticks,
            qty_units=m.lots_to_units(lots),
            filled_units=0,
            state=OrderState.NEW,
            ts_ns=self.clock(),
        )
        self._orders[client_id] = update
        self.intended.append(update)
        log.info(
            "dry_run_place",
            "dry-run order not sent",
            client_order_id=client_id,
            side=side.name,
            price=m.format_price(price_ticks),
            qty=m.format_qty(update.qty_units),
            post_only=post_only,
        )
        self._queue.put_nowait(update)
        return update

    async def cancel(self, client_id: str) -> OrderUpdate:
        """Log the cancel.

        Raises:
            OrderNotFoundError: No such open order.
        """
        known = self._orders.get(client_id)
        if known is None or not known.state.is_open:
            raise errors.OrderNotFoundError("Unknown order sent.")
        update = replace(known, state=OrderState.CANCELED, ts_ns=self.clock())
        self._orders[client_id] = update
        log.info("dry_run_cancel", "dry-run cancel not sent", client_order_id=client_id)
        self._queue.put_nowait(update)
        return update

    async def replace(
        self,
        cancel_client_id: str,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
    ) -> ReplaceResult:
        """A dry run has no cancel-replace (its capabilities say so): refused."""
        raise errors.InvalidOrderError("dry-run: no cancel-replace")

    async def amend(self, client_id: str, lots: int) -> OrderUpdate:
        """A dry run has no amend (its capabilities say so): refused."""
        raise errors.InvalidOrderError("dry-run: no amend")

    async def cancel_all(self, timeout_s: float | None = None) -> list[OrderUpdate]:
        """Cancel every pretend order (immediate: ``timeout_s`` is never reached)."""
        return [await self.cancel(c) for c, u in list(self._orders.items()) if u.state.is_open]

    async def open_orders(self) -> list[OrderUpdate]:
        """Pretend orders still resting."""
        return [u for u in self._orders.values() if u.state.is_open]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Never any fills."""
        return []

    async def balances(self) -> Balances:
        """The pretend balances (nothing is ever locked, nothing ever fills)."""
        rows = {a: Balance(a, v, Decimal(0)) for a, v in self._balances.items()}
        return Balances(rows, as_of_ns=0)

    async def lookup(self, client_id: str) -> OrderUpdate | None:
        """A pretend order's latest state (None if it was never placed)."""
        return self._orders.get(client_id)

    def events(self) -> AsyncIterator[VenueEvent]:
        """Acks and cancels of pretend orders; never a fill."""
        return self._events()

    async def _events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()


def make_dryrun_venue(
    name: str, settings: Any, balances: Mapping[str, Any] | None = None
) -> DryRunVenue:
    """A dry-run venue on the market of ``settings`` (a ``VenueSettings``), loaded at start.

    The market comes from the venue's public API; no key is used or needed. ``balances``
    (``base``/``quote`` stand for the symbol's assets) default to none at all.
    """
    from pegbot.execution.ccxt_venue import load_market

    exchange = str(getattr(settings, "exchange", "binance"))
    symbol = str(getattr(settings, "symbol", "KGST/USDT"))
    base, quote = symbol.split("/")
    pretend = {
        {"base": base, "quote": quote}.get(k, k): Decimal(str(v))
        for k, v in (balances or {}).items()
    }

    async def loader() -> Market:
        return await load_market(
            exchange,
            symbol,
            http_url=getattr(settings, "rest_url", None),
            ws_url=getattr(settings, "ws_url", None),
        )

    return DryRunVenue(None, pretend, market_loader=loader, name=name)
