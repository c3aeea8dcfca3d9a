"""One venue's order requests: sent as tasks, each answer folded into the order tracker.

The decision step never waits on a round trip: every request it decides goes out as a task
(:meth:`RequestSender.submit`), and the shutdown and the halt wait for those in flight
(:meth:`RequestSender.drain`). Each request kind settles :class:`OrderTracker` the same way
whatever the venue:

==============  ====================================================================
request         answer → tracker
==============  ====================================================================
place           ack → ``OPEN``; reject → finished; outcome unknown → kept
                ``PENDING_NEW`` until an open-orders snapshot (never re-sent before)
cancel          ack or "not found" → finished; other failure → ``OPEN`` again
cancel-replace  each half on its own: the old order as a cancel, the new as a place
                (not attempted when the cancel failed); unknown → the new one waits for
                the snapshot, the old one is cancelled again (as a failed cancel)
amend           the new size → ``OPEN``; "not found" → finished; refused → ``OPEN`` at
                the old size
==============  ====================================================================

What the sender needs of its runner is the small :class:`SenderHooks` protocol.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from pegbot.execution.errors import OrderNotFoundError, VenueError
from pegbot.execution.orders import OrderTracker
from pegbot.execution.reconciler import Place
from pegbot.execution.venue import OrderUpdate, Venue
from pegbot.live.context import RunnerContext, RunnerStatus
from pegbot.market import Market, Rounding, Side
from pegbot.scorecard.events import OrderKind

__all__ = ["RequestSender", "SenderHooks"]


class SenderHooks(Protocol):
    """What the sender needs of the runner it sends for."""

    @property
    def status(self) -> RunnerStatus:
        """Counters of requests sent."""
        ...

    @property
    def market(self) -> Market:
        """The venue's market."""
        ...

    def apply_update(self, upd: OrderUpdate, journal: bool = False) -> None:
        """Fold a venue's order update into the tracker (and journal it)."""
        ...

    def on_error(self, exc: VenueError, action: str, cid: str) -> None:
        """A request failed (count, back off, refetch balances)."""
        ...

    def wake(self) -> None:
        """Re-decide soon."""
        ...

    def request_recovery(self) -> None:
        """Settle unknown outcomes with an open-orders fetch."""
        ...

    def order_accepted(self, kind: OrderKind, side: Side) -> None:
        """The venue accepted a request (placed, cancelled, replaced, amended)."""
        ...


class RequestSender:
    """Sends one venue's requests (see the module docstring).

    Args:
        venue_name: The venue's name (metric label).
        symbol: Its symbol (metric label).
        venue: The venue.
        orders: The runner's order tracker.
        ctx: The bot's context (metrics, journal, clock).
        hooks: The runner.
    """

    def __init__(
        self,
        venue_name: str,
        symbol: str,
        venue: Venue,
        orders: OrderTracker,
        ctx: RunnerContext,
        hooks: SenderHooks,
    ) -> None:
        self.name = venue_name
        self.symbol = symbol
        self.venue = venue
        self.orders = orders
        self.ctx = ctx
        self.hooks = hooks
        self._inflight: set[asyncio.Task[None]] = set()

    def submit(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a request as a task :meth:`drain` waits for."""
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    @property
    def in_flight(self) -> int:
        """Requests sent and not answered."""
        return len(self._inflight)

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most ``timeout_s``) for the requests in flight."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout_s)

    def _ack_latency(self, action: str, t0: float) -> None:
        self.ctx.metrics.observe_ack(self.name, action, time.perf_counter() - t0)

    async def place(self, cid: str, side: Side, price: int, lots: int, post_only: bool) -> None:
        """Place one order."""
        t0 = time.perf_counter()
        self.ctx.metrics.order_submitted(self.name, self.symbol, side)
        self.hooks.status.quotes_placed += 1
        try:
            upd = await self.venue.place(side, price, lots, cid, post_only)
        except VenueError as exc:
            self.hooks.on_error(exc, "place", cid)
            if exc.outcome_unknown:
                self.orders.on_unknown(cid)  # stays PENDING_NEW until an open-orders fetch
                self.hooks.request_recovery()
            else:
                self.orders.on_closed(cid)
            return
        self._ack_latency("submit", t0)
        self.hooks.order_accepted(OrderKind.PLACED, side)
        self.hooks.apply_update(upd, journal=True)

    async def cancel(self, cid: str, side: Side) -> None:
        """Cancel one order."""
        t0 = time.perf_counter()
        self.ctx.metrics.order_cancelled(self.name, self.symbol, side)
        self.hooks.status.cancels_sent += 1
        try:
            upd = await self.venue.cancel(cid)
        except OrderNotFoundError:
            self.orders.on_closed(cid)  # filled or gone already: its fill comes as an event
            self.hooks.wake()
            return
        except VenueError as exc:
            self.hooks.on_error(exc, "cancel", cid)
            self.orders.on_cancel_failed(cid)  # open again: the next decision retries
            return
        self._ack_latency("cancel", t0)
        self.hooks.order_accepted(OrderKind.CANCELLED, side)
        self.hooks.apply_update(upd, journal=True)

    async def replace(self, old: str, new: Place) -> None:
        """Move ``old`` to ``new`` with one cancel-replace; each half settles on its own."""
        q = new.quote
        t0 = time.perf_counter()
        m = self.ctx.metrics
        m.order_submitted(self.name, self.symbol, q.side)
        m.order_cancelled(self.name, self.symbol, q.side)
        self.hooks.status.quotes_placed += 1
        self.hooks.status.cancels_sent += 1
        try:
            result = await self.venue.replace(
                old, q.side, q.price_ticks, q.lots, new.client_id, new.post_only
            )
        except VenueError as exc:
            self.hooks.on_error(exc, "replace", new.client_id)
            if exc.outcome_unknown:
                # Either half may have happened. The new order waits for the open-orders
                # snapshot; the old one is treated as a failed cancel (its level now held by
                # the new one, it is detached and cancelled again: "not found" if it went).
                self.orders.on_unknown(new.client_id)
                self.orders.on_cancel_failed(old)
                self.hooks.request_recovery()
            else:
                self.orders.on_cancel_failed(old)  # never sent: the old order rests on
                self.orders.on_closed(new.client_id)
            return
        self._ack_latency("replace", t0)
        if result.canceled is not None:
            self.hooks.apply_update(result.canceled, journal=True)
        elif isinstance(result.cancel_error, OrderNotFoundError):
            self.orders.on_closed(old)  # filled or gone already: its fill comes as an event
        else:
            if result.cancel_error is not None:
                self.hooks.on_error(result.cancel_error, "cancel", old)
            self.orders.on_cancel_failed(old)
        if result.placed is not None:
            self.hooks.order_accepted(
                OrderKind.REPLACED if result.canceled is not None else OrderKind.PLACED, q.side
            )
            self.hooks.apply_update(result.placed, journal=True)
        else:
            if result.canceled is not None:
                self.hooks.order_accepted(OrderKind.CANCELLED, q.side)
            if result.place_error is not None:
                self.hooks.on_error(result.place_error, "place", new.client_id)
            self.orders.on_closed(new.client_id)  # not placed, or not even attempted
        self.hooks.wake()

    async def amend(self, cid: str, lots: int) -> None:
        """Reduce one order to ``lots``, keeping its place in the queue."""
        t0 = time.perf_counter()
        try:
            upd = await self.venue.amend(cid, lots)
        except OrderNotFoundError:
            self.orders.on_closed(cid)  # filled or gone already
            self.hooks.wake()
            return
        except VenueError as exc:
            self.hooks.on_error(exc, "amend", cid)
            self.orders.on_amend_failed(cid)
            return
        self._ack_latency("amend", t0)
        self.hooks.order_accepted(OrderKind.AMENDED, upd.side)
        journal = self.ctx.journal
        if journal is not None:
            journal.record_order(self.name, self.symbol, upd, self.ctx.clock())
        if not upd.state.is_open:
            self.orders.on_closed(cid)
        else:
            left = self.hooks.market.units_to_lots(upd.remaining_units, Rounding.DOWN)
            self.orders.on_amended(cid, self.ctx.clock(), left)
        self.hooks.wake()
