"""Market data of any ccxt.pro exchange: ``watch_order_book`` and ``watch_trades``.

The Binance venue keeps its own exact feed (:mod:`pegbot.feeds.binance`); other venues (and
Binance when the quirks or the config say ``market_data = "ccxt"``) use this one. ccxt keeps
the book in sync itself and *raises* when it sees a sequence gap (``InvalidNonce`` /
``ChecksumError``) or the connection drops: the feed then emits :class:`BookLost`, counts a
resync, waits out a jittered backoff and watches again (ccxt fetches a fresh snapshot).

ccxt's unified book holds floats. Each price and size goes through its shortest ``repr`` to a
``Decimal`` and then into ticks and qty units with :attr:`Rounding.EXACT`, so a value that is
not on the market's grid is an error (counted as ``bad_messages``, book lost and resynced),
never a silent rounding.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pegbot.book import OrderBook
from pegbot.execution.quirks import VenueQuirks, deep_copy, point_client_at
from pegbot.feeds.model import (
    BookLost,
    BookUpdate,
    Clock,
    FeedConfig,
    FeedCounters,
    Levels,
    Trade,
    backoff_delay,
)
from pegbot.logging import event_log
from pegbot.market import Market, Side
from pegbot.timeunits import NS_PER_MS

__all__ = ["CcxtFeed", "make_pro_client"]

log = event_log("pegbot.feeds.ccxt")


def make_pro_client(
    quirks: VenueQuirks,
    rest_url: str | None = None,
    ws_url: str | None = None,
    timeout_ms: int = 10_000,
) -> Any:
    """A public (keyless) ccxt.pro client of ``quirks.exchange_id``, re-pointed if asked.

    Raises:
        ValueError: ccxt.pro has no such exchange, or only one of the two URLs is given.
    """
    import ccxt.pro as ccxtpro  # heavy import: only when a feed starts

    klass = getattr(ccxtpro, quirks.exchange_id, None)
    if klass is None:
        raise ValueError(f"ccxt.pro has no exchange {quirks.exchange_id!r}")
    client = klass(
        {"enableRateLimit": False, "timeout": timeout_ms, "options": deep_copy(quirks.options)}
    )
    if rest_url is not None or ws_url is not None:
        if rest_url is None or ws_url is None:
            raise ValueError("rest_url and ws_url go together")
        point_client_at(client, quirks, rest_url, ws_url)
    return client


def _dec(value: Any) -> Decimal:
    # Shortest repr of ccxt's float (or its raw string): the decimal the venue sent.
    if isinstance(value, str):
        return Decimal(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Decimal(repr(value))
    raise ValueError(f"not a number: {value!r}")


class CcxtFeed:
    """Keeps an :class:`OrderBook` in ticks from ccxt.pro and reports trades.

    The same surface as :class:`~pegbot.feeds.binance.BinanceFeed` that the bot uses:
    :attr:`book`, :attr:`synced`, :attr:`counters`, :attr:`config`, :meth:`run`, :meth:`stop`
    and the ``on_book`` / ``on_trade`` callbacks.

    Args:
        config: Symbol, depth limit, trades on/off, backoff (the URL fields are unused).
        market: The market spec (ticks and qty units).
        client: A ccxt.pro client (see :func:`make_pro_client`); the feed closes it when
            ``own_client`` is true.
        clock: Local time in int ns UTC.
        rng: Random source of the backoff jitter.
        on_book: Called with every :class:`BookUpdate` and :class:`BookLost`.
        on_trade: Called with every :class:`Trade`.
        own_client: Close ``client`` when :meth:`run` ends.
    """

    def __init__(
        self,
        config: FeedConfig,
        market: Market,
        client: Any,
        *,
        clock: Clock = time.time_ns,
        rng: random.Random | None = None,
        on_book: Callable[[BookUpdate | BookLost], None] | None = None,
        on_trade: Callable[[Trade], None] | None = None,
        own_client: bool = True,
    ) -> None:
        self.config = config
        self.market = market
        self.client = client
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_book = on_book
        self.on_trade = on_trade
        self.own_client = own_client
        self.book = OrderBook()
        self.counters = FeedCounters()
        self._valid = False
        self._stopping = asyncio.Event()
        self._trade_seq = 0

    @property
    def synced(self) -> bool:
        """The book equals ccxt's synced book as of ``book.update_id``."""
        return self._valid

    def stop(self) -> None:
        """Ask :meth:`run` to return."""
        self._stopping.set()

    async def run(self) -> None:
        """Watch the book (and trades) with reconnects until :meth:`stop`.

        An exception raised by a callback ends the feed and propagates.
        """
        tasks = [asyncio.create_task(self._loop(self._watch_book, "book"))]
        if self.config.trades:
            tasks.append(asyncio.create_task(self._loop(self._watch_trades, "trades")))
        stopper = asyncio.create_task(self._stopping.wait())
        try:
            done, _ = await asyncio.wait({stopper, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            for t in done:
                if t is not stopper and t.exception() is not None:
                    raise t.exception()  # type: ignore[misc]
        finally:
            self._stopping.set()
            for t in (stopper, *tasks):
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
            self._invalidate("disconnect")
            if self.own_client:
                with contextlib.suppress(Exception):
                    await self.client.close()

    async def _loop(self, watch: Callable[[], Any], what: str) -> None:
        from ccxt.base.errors import BaseError as CcxtError
        from ccxt.base.errors import InvalidNonce

        attempt = 0
        while not self._stopping.is_set():
            healthy = False
            try:
                healthy = await watch()
            except InvalidNonce as exc:  # ChecksumError is one: ccxt saw a sequence gap
                self.counters.gaps += 1
                self._resync("gap", what, exc)
                healthy = True  # the connection is fine: watch again at once
            except (CcxtError, OSError, TimeoutError) as exc:
                self.counters.disconnects += 1
                self._resync("disconnect", what, exc)
            except _BadData as exc:
                self.counters.bad_messages += 1
                self._resync("bad_message", what, exc)
            if self._stopping.is_set():
                return
            attempt = 0 if healthy else attempt + 1
            if attempt:
                delay = backoff_delay(attempt - 1, self.config, self.rng)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    def _resync(self, reason: str, what: str, exc: BaseException) -> None:
        log.warning(
            "feed_resync", "ccxt %s watch failed: %s", what, exc, reason=reason, stream=what
        )
        if what == "book":
            self.counters.resyncs += 1
            self._invalidate(reason)

    # -- the book -----------------------------------------------------------------------------

    async def _watch_book(self) -> bool:
        symbol, limit = self.config.symbol, self.config.depth_limit
        first = True
        while not self._stopping.is_set():
            ob = await self.client.watch_order_book(symbol, limit)
            if first:
                self.counters.connects += 1
                self.counters.snapshots += 1
                first = False
            self._on_book(ob)
        return True

    def _on_book(self, ob: Any) -> None:
        now = self.clock()
        c = self.counters
        c.messages += 1
        c.depth_messages += 1
        c.last_message_ns = now
        try:
            bids = self._levels(ob["bids"])
            asks = self._levels(ob["asks"])
        except (ValueError, ArithmeticError, TypeError, KeyError, IndexError) as exc:
            raise _BadData(f"order book level: {exc}") from exc
        book = self.book
        nonce = ob.get("nonce")
        book.apply_snapshot(bids, asks, int(nonce) if nonce is not None else book.update_id + 1)
        ts = ob.get("timestamp")
        book.exch_ts = int(ts) * NS_PER_MS if ts else 0
        book.local_ts = now
        if book.is_crossed:
            c.crossed += 1
            raise _BadData("crossed book")
        snapshot = not self._valid
        self._valid = True
        c.book_updates += 1
        c.last_book_ns = now
        if self.on_book is not None:
            self.on_book(BookUpdate(book, book.update_id, book.exch_ts, now, snapshot))

    def _levels(self, rows: Any) -> Levels:
        m = self.market
        return [(m.price_to_ticks(_dec(r[0])), m.qty_to_units(_dec(r[1]))) for r in rows]

    def _invalidate(self, reason: str) -> None:
        was = self._valid
        self._valid = False
        self.book.clear()
        if was and self.on_book is not None:
            self.on_book(BookLost(self.clock(), reason))

    # -- trades -------------------------------------------------------------------------------

    async def _watch_trades(self) -> bool:
        while not self._stopping.is_set():
            trades = await self.client.watch_trades(self.config.symbol)
            for t in trades:
                self._on_trade(t)
        return True

    def _on_trade(self, t: Any) -> None:
        now = self.clock()
        c = self.counters
        c.messages += 1
        c.last_message_ns = now
        try:
            info = t.get("info") or {}
            # Binance-shaped payloads keep the exact strings; others give ccxt's numbers.
            price = _dec(info["p"]) if isinstance(info.get("p"), str) else _dec(t["price"])
            qty = _dec(info["q"]) if isinstance(info.get("q"), str) else _dec(t["amount"])
            side = Side.BUY if t["side"] == "buy" else Side.SELL
            raw_id = str(t.get("id") or "")
            if raw_id.isdigit():
                trade_id = int(raw_id)
            else:
                self._trade_seq += 1
                trade_id = self._trade_seq
            trade = Trade(
                exch_ts=int(t.get("timestamp") or 0) * NS_PER_MS,
                local_ts=now,
                trade_id=trade_id,
                price=self.market.price_to_ticks(price),
                qty=self.market.qty_to_units(qty),
                side=side,
            )
        except (ValueError, ArithmeticError, TypeError, KeyError) as exc:
            c.bad_messages += 1  # one trade lost to bad data: counted and logged, book unharmed
            log.warning("feed_bad_trade", "bad trade skipped: %s", exc)
            return
        c.trades += 1
        if self.on_trade is not None:
            self.on_trade(trade)


class _BadData(Exception):
    """A value ccxt gave cannot be represented exactly in the market's grid."""
