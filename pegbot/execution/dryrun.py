"""``DryRunVenue``: live data, intended orders logged, nothing sent, nothing ever filled.

The safest mode (``style.md`` §7): the bot runs its whole loop on the live market and every
order it would send is logged as a structured ``event=dry_run_place`` line (and kept as an
open order, so the reconciler sees it resting and does not re-send it every tick). No API
key is needed; no order is ever filled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from decimal import Decimal

from pegbot.execution import errors
from pegbot.execution.venue import Balance, Fill, OrderState, OrderUpdate, VenueEvent
from pegbot.market import Market, MarketError, Side

__all__ = ["DryRunVenue"]

log = logging.getLogger(__name__)


class DryRunVenue:
    """A :class:`~pegbot.execution.venue.Venue` that only logs.

    Attributes:
        name: Venue name.
        intended: Every order it was asked to place, in order (for the operator and tests).
    """

    def __init__(
        self,
        market: Market,
        balances: Mapping[str, Decimal | str | int] | None = None,
        *,
        name: str = "dry-run",
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        """Pretend to hold ``balances`` (for inventory and skew) on ``market``."""
        self.name = name
        self._market = market
        self.clock = clock
        self._balances = {str(k): Decimal(v) for k, v in (balances or {}).items()}
        self._orders: dict[str, OrderUpdate] = {}
        self._queue: asyncio.Queue[VenueEvent] = asyncio.Queue()
        self.intended: list[OrderUpdate] = []

    @property
    def market(self) -> Market:
        """The symbol's market spec."""
        return self._market

    async def start(self) -> Market:
        """Nothing to connect."""
        return self._market

    async def close(self) -> None:
        """Nothing to close."""

    async def place(
        self, side: Side, price_ticks: int, lots: int, client_id: str, post_only: bool = True
    ) -> OrderUpdate:
        """Log the order and report it resting; idempotent by ``client_id``."""
        known = self._orders.get(client_id)
        if known is not None:
            return known
        m = self._market
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
            "dry-run order not sent",
            extra={
                "event": "dry_run_place",
                "client_order_id": client_id,
                "side": side.name,
                "price": m.format_price(price_ticks),
                "qty": m.format_qty(update.qty_units),
                "post_only": post_only,
            },
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
        log.info(
            "dry-run cancel not sent",
            extra={"event": "dry_run_cancel", "client_order_id": client_id},
        )
        self._queue.put_nowait(update)
        return update

    async def cancel_all(self) -> list[OrderUpdate]:
        """Cancel every pretend order."""
        return [await self.cancel(c) for c, u in list(self._orders.items()) if u.state.is_open]

    async def open_orders(self) -> list[OrderUpdate]:
        """Pretend orders still resting."""
        return [u for u in self._orders.values() if u.state.is_open]

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Never any fills."""
        return []

    async def balances(self) -> dict[str, Balance]:
        """The pretend balances (nothing is ever locked)."""
        return {a: Balance(a, v, Decimal(0)) for a, v in self._balances.items()}

    def events(self) -> AsyncIterator[VenueEvent]:
        """Acks and cancels of pretend orders; never a fill."""
        return self._events()

    async def _events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()
