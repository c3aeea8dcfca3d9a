"""The user-data stream half of ``CcxtVenue``: watch, de-duplicate, reconnect, recover.

A mixin so the venue file stays one concern per half: requests and orders there, the stream
here. ``watch_orders`` and ``watch_my_trades`` run as two tasks; every update goes through
one de-duplication (an order by ``(client id, state, filled, quantity)`` — an amend that only
reduces the quantity is news —, a fill by trade id) into one queue that
:meth:`UserStreamMixin.events` drains. When a watch fails the task pauses,
subscribes again and *recovers*: it pushes the open orders, the final state of every order
it last saw open, and the fills since the newest one seen (less a minute), so an outage
costs latency, never an event.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from pegbot.execution import errors
from pegbot.execution.quirks import VenueQuirks
from pegbot.execution.venue import Fill, OrderUpdate, VenueEvent
from pegbot.logging import event_log
from pegbot.market import Market
from pegbot.timeunits import NS_PER_S

__all__ = ["UserStreamMixin"]

log = event_log(__name__)


class UserStreamMixin:
    """The stream half of :class:`pegbot.execution.ccxt_venue.CcxtVenue`.

    Attributes:
        stream_connected: The user-data stream is up.
        stream_reconnects: Times the user-data stream came back after failing.
    """

    # Provided by the venue.
    client: Any
    symbol: str
    quirks: VenueQuirks
    reconnect_pause_s: float
    stream_connected: bool
    stream_reconnects: int
    _closed: bool
    _dedup_memory: int
    _queue: asyncio.Queue[VenueEvent]
    _seen_fills: OrderedDict[str, None]
    _seen_orders: OrderedDict[tuple[str, str, int, int], None]
    _open_known: dict[str, OrderUpdate]
    _last_fill_ns: int
    sleep: Callable[[float], Awaitable[None]]
    _call: Callable[..., Awaitable[Any]]
    _count: Callable[[str], None]
    _order_update: Callable[..., OrderUpdate]
    _fill: Callable[[Any, Market], Fill]
    _remember_order: Callable[[OrderUpdate], None]
    _lookup: Callable[[str, BaseException], Awaitable[OrderUpdate | None]]
    open_orders: Callable[[], Awaitable[list[OrderUpdate]]]
    fills_since: Callable[[int], Awaitable[list[Fill]]]

    @property
    def market(self) -> Market:
        """The venue's market (the venue provides it)."""
        raise NotImplementedError

    async def _subscribe(self) -> None:
        ready = self.quirks.user_stream_ready
        method = getattr(self.client, ready, None) if ready else None
        if method is not None:
            # Returns once the venue confirmed the subscription: nothing placed after
            # start() can be missed by the stream.
            await self._call("subscribe", method)
        self.stream_connected = True

    def events(self) -> AsyncIterator[VenueEvent]:
        """Order updates and fills as the venue pushes them, each exactly once.

        Buffered from :meth:`start` on; one consumer (iterators share one queue).
        """
        return self._events()

    async def _events(self) -> AsyncIterator[VenueEvent]:
        while True:
            yield await self._queue.get()

    async def _stream(self, what: str) -> None:
        failed = False
        while not self._closed:
            try:
                if failed:
                    await self._subscribe()
                    self.stream_reconnects += 1
                    failed = False
                    await self._recover()
                if what == "orders":
                    raws = await self.client.watch_orders(self.symbol)
                    for raw in raws:
                        self._push_order(self._order_update(raw))
                else:
                    raws = await self.client.watch_my_trades(self.symbol)
                    market = self.market
                    for raw in raws:
                        self._push_fill(self._fill(raw, market))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the stream must outlive any failure
                if self._closed:
                    return
                self.stream_connected = False
                failed = True
                self._count(f"stream_errors_{what}")
                log.warning("user_stream_down", "user stream failed", stream=what, error=repr(exc))
                await self.sleep(self.reconnect_pause_s)

    async def _recover(self) -> None:
        """After a stream outage: push what the venue knows that the stream may have missed."""
        try:
            live = await self.open_orders()
            for update in live:
                self._push_order(update)
            # Orders we last saw open and that are open no more: their final state.
            still = {u.client_id for u in live}
            for client_id in [c for c in self._open_known if c not in still]:
                found = await self._lookup(client_id, errors.TemporaryError("recovery"))
                if found is None:
                    self._open_known.pop(client_id, None)
                else:
                    self._push_order(found)
            since = max(self._last_fill_ns - 60 * NS_PER_S, 0) if self._last_fill_ns else 0
            for fill in await self.fills_since(since):
                self._push_fill(fill)
        except errors.VenueError as exc:
            log.warning("recovery_failed", "recovery failed", error=str(exc))

    def _remember(self, memory: OrderedDict[Any, None], key: Any) -> bool:
        if key in memory:
            return False
        memory[key] = None
        if len(memory) > self._dedup_memory:
            memory.popitem(last=False)
        return True

    def _push_order(self, update: OrderUpdate) -> None:
        self._remember_order(update)
        if self._remember(
            self._seen_orders,
            (update.client_id, update.state.value, update.filled_units, update.qty_units),
        ):
            self._queue.put_nowait(update)

    def _push_fill(self, fill: Fill) -> None:
        if self._remember(self._seen_fills, fill.trade_id):
            self._last_fill_ns = max(self._last_fill_ns, fill.ts_ns)
            self._queue.put_nowait(fill)
