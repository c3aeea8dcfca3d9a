"""The live Binance spot market-data feed: combined WebSocket streams plus REST snapshots.

One connection carries ``<sym>@depth@100ms`` and ``<sym>@trade`` as a combined stream
(``/stream?streams=a/b``, each message wrapped as ``{"stream": ..., "data": ...}``). Depth
diffs go through :class:`~pegbot.feeds.sync.BookSync`, which decides what may touch the
:class:`~pegbot.book.OrderBook`; the snapshot comes from ``GET /api/v3/depth`` through ccxt.

Failure handling, all counted in :class:`FeedCounters`:

* a sequence gap (or a crossed book, or a depth message we cannot parse) discards the book and
  fetches a new snapshot (a *resync*); the stream stays open;
* a snapshot older than the buffered stream is fetched again, a few times, then the connection
  is restarted;
* a dropped or failed connection is reopened after a capped exponential backoff with jitter;
* a depth stream silent for ``quiet_probe_s`` is normal on a thin book (Binance sends nothing
  while nothing changes), so the feed asks ``GET /api/v3/depth?limit=5`` whether the venue's
  ``lastUpdateId`` is still the book's: equal confirms the book (``last_confirmed_ns``),
  greater is a *silent gap* (resync). After a silent gap the resynced book is held back until
  the stream delivers a diff or a probe finds nothing changed; a second silent gap with no
  diff in between means the connection is dead though open: it is restarted.

Every message is handed, as received, to ``on_raw`` before it is parsed, so the recorder
sees exactly what the venue sent, including messages this feed cannot understand.

The clock is injected (``clock``, int ns UTC): tests drive time, and ``local_ts`` of every
book update and trade comes from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from pegbot.book import ASK, BID, OrderBook
from pegbot.feeds.model import (
    BINANCE_REST_URL,
    BINANCE_WS_URL,
    BookLost,
    BookUpdate,
    Clock,
    DepthPayload,
    FeedConfig,
    FeedCounters,
    FeedEvent,
    Levels,
    ProbeVerdict,
    RestGate,
    Trade,
    backoff_delay,
    make_rest_client,
    probe_verdict,
)
from pegbot.feeds.sync import BookSync, DepthEvent, SnapshotTooOldError
from pegbot.logging import event_log
from pegbot.market import Market, MarketError, Side
from pegbot.timeunits import NS_PER_S

__all__ = [
    "BINANCE_REST_URL",
    "BINANCE_WS_URL",
    "BinanceFeed",
    "BookLost",
    "BookUpdate",
    "FeedConfig",
    "FeedCounters",
    "FeedEvent",
    "Trade",
    "backoff_delay",
    "make_rest_client",
]

log = event_log("pegbot.feeds.binance")
# A 429 without a usable Retry-After waits out the weight window, at least this long; never
# longer than the cap (a ban can be days: past the cap the reconnect backoff and the
# operator take over).
_DEFAULT_RETRY_AFTER_S = 1.0
_MAX_RETRY_AFTER_S = 120.0
# Levels of the liveness probe: only lastUpdateId matters, and 1..100 levels cost the least.
_PROBE_LIMIT = 5


def _retry_after_seconds(value: Any) -> float | None:
    # A Retry-After header value in seconds, or None when it is missing or not a usable
    # number of seconds (HTTP also allows a date: not Binance's, treated as garbage).
    if value is None:
        return None
    try:
        seconds = float(str(value).strip())
    except ValueError:
        return None
    if math.isnan(seconds) or seconds < 0:
        return None
    return seconds


def _ms_to_ns(value: Any) -> int:
    return int(value) * 1_000_000 if value is not None else 0


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in {"127.0.0.1", "localhost", "::1"}


class _RestartConnection(Exception):
    """Internal: give up on this connection and reconnect."""


class BinanceFeed:
    """Keeps an :class:`OrderBook` in sync with Binance and reports trades.

    Run it with ``await feed.run()`` (until :meth:`stop` or cancellation). Consume it through
    the callbacks, through :meth:`events`, or by reading :attr:`book` when :attr:`synced`.

    Args:
        config: Connection settings.
        market: The market spec; if ``None`` it is loaded through ccxt's ``load_markets``.
        clock: Local time in int ns UTC (default :func:`time.time_ns`).
        rng: Random source for the backoff jitter.
        on_raw: Called with ``(local_ns, message_bytes)`` for every WebSocket message and
            every REST snapshot body, before parsing.
        on_book: Called with every :class:`BookUpdate` and :class:`BookLost`.
        on_trade: Called with every :class:`Trade`.
        rest_client: A ccxt async Binance client to use instead of building one (the feed
            then does not close it).
        rest_gate: The venue's rate-limit block, shared with the order venue: snapshots wait
            it out, probes are skipped while it lasts, and a 429/418 the feed gets extends it.
    """

    def __init__(
        self,
        config: FeedConfig,
        market: Market | None = None,
        *,
        clock: Clock = time.time_ns,
        rng: random.Random | None = None,
        on_raw: Callable[[int, bytes], None] | None = None,
        on_book: Callable[[BookUpdate | BookLost], None] | None = None,
        on_trade: Callable[[Trade], None] | None = None,
        rest_client: Any = None,
        rest_gate: RestGate | None = None,
    ) -> None:
        self.config = config
        self.rest_gate = rest_gate
        self.market = market
        self.clock = clock
        self.rng = rng or random.Random()
        self.on_raw = on_raw
        self.on_book = on_book
        self.on_trade = on_trade
        self.book = OrderBook()
        self.sync: BookSync[DepthPayload] = BookSync(futures=False)
        self.counters = FeedCounters()
        self._rest = rest_client
        self._own_rest = rest_client is None
        self._stopping = asyncio.Event()
        self._ws: ClientConnection | None = None
        self._close_task: asyncio.Future[None] | None = None
        self._fatal: BaseException | None = None
        self._snapshot_task: asyncio.Task[None] | None = None
        self._first_diff = asyncio.Event()
        self._queue: asyncio.Queue[FeedEvent] | None = None
        self._book_valid = False
        self._heard_ns = 0  # last depth message, snapshot or probe: the probe's clock
        self._suspect = False  # a silent gap was found and no depth message came since

    # -- public -----------------------------------------------------------------------------

    @property
    def synced(self) -> bool:
        """The book equals the venue's as of ``book.update_id`` (as far as the feed knows)."""
        return self._book_valid

    def stop(self) -> None:
        """Ask :meth:`run` to return; it closes the connection."""
        self._stopping.set()
        if self._ws is not None:
            # Closing wakes the receive loop at once instead of at the next message.
            self._close_task = asyncio.ensure_future(self._ws.close())

    def events(self) -> AsyncIterator[FeedEvent]:
        """Book updates, losses and trades, in order, until the feed stops.

        Call it before :meth:`run` to see every event. The buffer holds
        ``config.queue_size`` events; when a slow consumer lets it fill, the oldest are
        dropped and counted in ``queue_dropped``.
        """
        if self._queue is None:
            self._queue = asyncio.Queue(maxsize=self.config.queue_size)
        return self._drain(self._queue)

    async def _drain(self, queue: asyncio.Queue[FeedEvent]) -> AsyncIterator[FeedEvent]:
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            while True:
                if not queue.empty():
                    yield queue.get_nowait()
                    continue
                if stopper.done():
                    return
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if getter.done():
                    yield getter.result()
                else:
                    getter.cancel()
        finally:
            stopper.cancel()

    async def run(self) -> None:
        """Connect, keep the book, reconnect on failure, until :meth:`stop`.

        Network and venue failures are retried forever (counted, with backoff). An exception
        raised by a callback (for example the recorder's disk being full) ends the feed and
        propagates: carrying on would silently lose data.
        """
        if self._rest is None:
            self._rest = make_rest_client(self.config)
        try:
            attempt = 0
            while not self._stopping.is_set():
                healthy = await self._load_market() and await self._connect_once()
                if self._fatal is not None:
                    raise self._fatal
                if self._stopping.is_set():
                    break
                # A connection that got the book synced was fine: start the backoff afresh.
                attempt = 0 if healthy else attempt + 1
                delay = backoff_delay(attempt, self.config, self.rng)
                log.info("feed_reconnect", "feed reconnecting", delay_s=delay, attempt=attempt)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
        finally:
            if self._own_rest and self._rest is not None:
                await self._rest.close()
            self._stopping.set()

    # -- one connection ---------------------------------------------------------------------

    async def _load_market(self) -> bool:
        if self.market is not None:
            return True
        from ccxt.base.errors import BaseError as CcxtError

        try:
            await self._rest.load_markets()
        except (CcxtError, TimeoutError, OSError) as exc:
            self.counters.connect_failures += 1
            log.warning("feed_markets", "load_markets failed", error=repr(exc))
            return False
        # An unknown symbol is a configuration error, not a network one: let it raise.
        self.market = Market.from_ccxt(self._rest.market(self.config.symbol))
        return True

    async def _connect_once(self) -> bool:
        url = self.config.stream_url()
        try:
            ws = await connect(
                url,
                open_timeout=self.config.open_timeout,
                max_size=None,
                compression=None,
                proxy=None if _is_loopback(url) else True,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self.counters.connect_failures += 1
            log.warning("feed_connect_failed", "feed connect failed", error=repr(exc))
            return False
        self._ws = ws
        self.counters.connects += 1
        log.info("feed_connected", "feed connected", url=url)
        try:
            async with ws:
                return await self._session(ws)
        finally:
            self._ws = None

    async def _session(self, ws: ClientConnection) -> bool:
        self.sync.reset()
        self._first_diff.clear()
        self._invalidate("disconnect", emit=False)
        healthy = False
        self._start_resync(ws, wait_first=True)
        prober = self._watch(asyncio.create_task(self._probe_loop(ws)), ws)
        try:
            while True:
                if self.config.idle_timeout is None:
                    data = await ws.recv(decode=False)
                else:
                    data = await asyncio.wait_for(ws.recv(decode=False), self.config.idle_timeout)
                assert isinstance(data, bytes)
                self._on_message(self.clock(), data)
                healthy = healthy or self._book_valid
                if not self.sync.synced and not self._snapshot_running():
                    self._start_resync(ws, wait_first=False)
        except ConnectionClosed as exc:
            log.info("feed_disconnected", "feed disconnected", code=exc.rcvd)
        except TimeoutError:
            log.warning("feed_idle", "feed idle, reconnecting")
        finally:
            self.counters.disconnects += 1
            task, self._snapshot_task = self._snapshot_task, None
            for t in (prober, task):
                if t is not None:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            if self._book_valid:
                self._invalidate("disconnect")
        return healthy or self._book_valid

    def _start_resync(self, ws: ClientConnection, *, wait_first: bool) -> None:
        self._snapshot_task = self._watch(
            asyncio.create_task(self._resync(ws, wait_first=wait_first)), ws
        )

    def _watch(self, task: asyncio.Task[None], ws: ClientConnection) -> asyncio.Task[None]:
        def done(t: asyncio.Task[None]) -> None:
            # A callback that failed inside a side task must stop the feed, not vanish.
            if not t.cancelled() and t.exception() is not None and self._fatal is None:
                self._fatal = t.exception()
                self._close_task = asyncio.ensure_future(ws.close())

        task.add_done_callback(done)
        return task

    def _snapshot_running(self) -> bool:
        return self._snapshot_task is not None and not self._snapshot_task.done()

    # -- snapshots ----------------------------------------------------------------------------

    async def _resync(self, ws: ClientConnection, *, wait_first: bool) -> None:
        from ccxt.base.errors import BaseError as CcxtError

        if wait_first:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._first_diff.wait(), self.config.first_event_wait)
        try:
            for attempt in range(self.config.snapshot_attempts):
                if attempt:
                    await asyncio.sleep(self.config.snapshot_retry_delay)
                try:
                    await self._gate_wait()
                    raw, local_ns = await self._fetch_snapshot()
                except (CcxtError, TimeoutError, OSError) as exc:
                    self.counters.snapshot_errors += 1
                    log.warning("feed_snapshot_failed", "snapshot failed", error=repr(exc))
                    wait = self._retry_after(exc)
                    if wait is not None:
                        # 429/418: asking again before Retry-After earns (a longer) IP ban.
                        await asyncio.sleep(wait)
                    continue
                if self.on_raw is not None:
                    self.on_raw(local_ns, raw)
                try:
                    snap_id, bids, asks = self._parse_snapshot(raw)
                except (MarketError, KeyError, TypeError, ValueError) as exc:
                    self.counters.snapshot_errors += 1
                    log.error("feed_bad_snapshot", "bad snapshot", error=repr(exc))
                    continue
                try:
                    pending = self.sync.on_snapshot(snap_id)
                except SnapshotTooOldError as exc:
                    self.counters.stale_snapshots += 1
                    log.info("feed_stale_snapshot", "snapshot too old", error=str(exc))
                    continue
                gaps_before = self.sync.counters.gaps
                self._seed(snap_id, bids, asks, pending)
                if self.sync.synced:
                    return
                if self.sync.counters.gaps > gaps_before:
                    # A gap inside the buffered events: this snapshot cannot be used.
                    self.counters.gaps += 1
                    self.counters.resyncs += 1
                    log.warning("feed_gap", "depth gap while buffering")
            raise _RestartConnection
        except _RestartConnection:
            log.warning("feed_no_snapshot", "no usable snapshot, reconnecting")
            await ws.close()

    def _retry_after(self, exc: BaseException) -> float | None:
        """Seconds to stay away after a rate-limit answer (None if ``exc`` is not one).

        ``Retry-After`` in seconds (Binance sends an integer; a decimal is accepted), capped
        at two minutes (a ban can be days: past the cap the reconnect backoff and the
        operator take over). Missing, garbage (a date, text, a negative number, NaN): wait
        out the rest of Binance's one-minute weight window, at least a second — a short
        guess would ask again inside the window, and the third 429 there earns a 418 ban.
        """
        from ccxt.base.errors import DDoSProtection, RateLimitExceeded

        if not isinstance(exc, DDoSProtection | RateLimitExceeded):
            return None
        headers = getattr(self._rest, "last_response_headers", None) or {}
        value = next((v for k, v in headers.items() if str(k).lower() == "retry-after"), None)
        seconds = _retry_after_seconds(value)
        if seconds is None:
            into_minute = (self.clock() % (60 * NS_PER_S)) / NS_PER_S
            seconds = max(_DEFAULT_RETRY_AFTER_S, 60.0 - into_minute)
        if self.rest_gate is not None:
            # The whole venue stops, for as long as the venue said.
            self.rest_gate.block(self.clock() + int(seconds * NS_PER_S))
        return min(seconds, _MAX_RETRY_AFTER_S)

    def _gate_left_s(self) -> float:
        gate = self.rest_gate
        return 0.0 if gate is None else max(0, gate.blocked_until_ns - self.clock()) / NS_PER_S

    async def _gate_wait(self) -> None:
        # A rate-limit block or ban of the venue: a REST request now would lengthen it.
        while (left := self._gate_left_s()) > 0:
            await asyncio.sleep(min(left, 1.0))

    async def _fetch_snapshot(self) -> tuple[bytes, int]:
        assert self.market is not None
        rest = self._rest
        # ccxt's implicit binding of GET /api/v3/depth (what fetch_order_book calls). The body
        # text is kept: the recorder wants it verbatim, and it holds the exact decimal strings
        # that fetch_order_book would turn into floats.
        parsed = await rest.publicGetDepth(
            {"symbol": self.market.exchange_symbol, "limit": self.config.depth_limit}
        )
        local_ns = self.clock()
        self.counters.snapshots += 1
        body = rest.last_http_response
        raw = body.encode() if isinstance(body, str) and body else orjson.dumps(parsed)
        return raw, local_ns

    def _parse_snapshot(self, raw: bytes) -> tuple[int, Levels, Levels]:
        market = self.market
        assert market is not None
        msg = orjson.loads(raw)
        bids = [(market.price_to_ticks(p), market.qty_to_units(q)) for p, q, *_ in msg["bids"]]
        asks = [(market.price_to_ticks(p), market.qty_to_units(q)) for p, q, *_ in msg["asks"]]
        return int(msg["lastUpdateId"]), bids, asks

    def _seed(
        self, snap_id: int, bids: Levels, asks: Levels, pending: list[DepthEvent[DepthPayload]]
    ) -> None:
        book = self.book
        book.apply_snapshot(bids, asks, snap_id)
        book.exch_ts = 0
        book.local_ts = self._heard_ns = self.clock()
        if not self.sync.synced:
            return
        for event in pending:
            self._apply(event)
        if self._check_crossed():
            return
        if self._suspect:
            # After a silent gap a snapshot does not show the stream works: hold the book
            # until a diff applies on it or a probe finds nothing changed.
            log.info("feed_held", "book held until the stream proves live")
            return
        self._release()

    def _release(self) -> None:
        self._book_valid = True
        self._emit_book(snapshot=True)

    # -- liveness probe -----------------------------------------------------------------------

    async def _probe_loop(self, ws: ClientConnection) -> None:
        interval = self.config.quiet_probe_s
        if interval is None:
            return
        while True:
            wait = (self._heard_ns - self.clock()) / NS_PER_S + interval
            if wait > 0:
                await asyncio.sleep(min(wait, interval))
            elif self.sync.synced and not self._snapshot_running():
                await self._probe(ws)
            else:
                await asyncio.sleep(interval / 2)  # nothing to confirm until a snapshot lands

    async def _probe(self, ws: ClientConnection) -> None:
        from ccxt.base.errors import BaseError as CcxtError

        assert self.market is not None
        started = self._heard_ns = self.clock()  # at most one probe per quiet_probe_s
        if self._gate_left_s() > 0:
            return  # the venue is blocked: no confirmation, the staleness clock runs on
        self.counters.probes += 1
        try:
            reply = await self._rest.publicGetDepth(
                {"symbol": self.market.exchange_symbol, "limit": _PROBE_LIMIT}
            )
            rest_id = int(reply["lastUpdateId"])
        except (CcxtError, TimeoutError, OSError, KeyError, TypeError, ValueError) as exc:
            # No answer is no confirmation: the staleness clock runs on.
            self.counters.probe_errors += 1
            log.warning("feed_probe_failed", "probe failed", error=repr(exc))
            wait = self._retry_after(exc)
            if wait is not None:
                await asyncio.sleep(wait)
            return
        if not self.sync.synced or self._snapshot_running():
            return  # a gap or a resync meanwhile: the answer is about another book
        # The id now, not at the start: a diff may have landed while the request was out.
        verdict = probe_verdict(self.sync.last_update_id, rest_id)
        log.debug(
            "feed_probe",
            "probe",
            verdict=verdict.value,
            rest_id=rest_id,
            book_id=self.sync.last_update_id,
        )
        if verdict is ProbeVerdict.CONFIRMED:
            # The venue's state at some moment after ``started`` equals the book.
            self.counters.last_confirmed_ns = started
            self._suspect = False
            if not self._book_valid:
                self._release()
            return
        if verdict is ProbeVerdict.UNKNOWN:
            return
        # A diff may be in flight (Binance batches per 100 ms): give the stream a moment.
        await asyncio.sleep(self.config.probe_grace_s)
        if not self.sync.synced or self._snapshot_running() or self.sync.last_update_id >= rest_id:
            return
        self._silent_gap(ws, rest_id)

    def _silent_gap(self, ws: ClientConnection, rest_id: int) -> None:
        self.counters.silent_gaps += 1
        self.counters.gaps += 1
        restart = self._suspect
        log.warning(
            "feed_silent_gap",
            "depth stream silent but the venue's book moved",
            book_id=self.sync.last_update_id,
            rest_id=rest_id,
            restart=restart,
        )
        self._force_resync(self.clock(), "gap")
        if restart:
            # Nothing since the last silent gap either: the connection is open but dead, and
            # only a new one cures that.
            self._close_task = asyncio.ensure_future(ws.close())
            return
        self._suspect = True
        self._start_resync(ws, wait_first=False)

    # -- messages -----------------------------------------------------------------------------

    def _on_message(self, local_ns: int, data: bytes) -> None:
        counters = self.counters
        counters.messages += 1
        counters.bytes += len(data)
        counters.last_message_ns = local_ns
        if self.on_raw is not None:
            self.on_raw(local_ns, data)
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            counters.bad_messages += 1
            log.warning("feed_bad_message", "non-JSON message")
            return
        if not isinstance(msg, dict):
            counters.unknown_messages += 1
            return
        body = msg.get("data", msg) if "stream" in msg else msg
        kind = body.get("e") if isinstance(body, dict) else None
        if kind == "depthUpdate":
            counters.depth_messages += 1
            self._heard_ns = local_ns
            self._suspect = False
            self._on_depth(local_ns, body)
        elif kind == "trade":
            self._on_trade(local_ns, body)
        elif "result" in msg and "id" in msg:
            counters.control_messages += 1  # a SUBSCRIBE reply
        else:
            counters.unknown_messages += 1

    def _on_depth(self, local_ns: int, body: dict[str, Any]) -> None:
        market = self.market
        assert market is not None
        try:
            event = DepthEvent(
                first_id=int(body["U"]),
                last_id=int(body["u"]),
                prev_last_id=None,
                payload=DepthPayload(
                    bids=[(market.price_to_ticks(p), market.qty_to_units(q)) for p, q in body["b"]],
                    asks=[(market.price_to_ticks(p), market.qty_to_units(q)) for p, q in body["a"]],
                    exch_ts=_ms_to_ns(body.get("E")),
                ),
            )
        except (KeyError, TypeError, ValueError, MarketError) as exc:
            # A diff we cannot apply leaves the book wrong: count it and resync.
            self.counters.bad_messages += 1
            log.error("feed_bad_depth", "bad depth message", error=repr(exc))
            self._force_resync(local_ns, "bad_message")
            return
        self._first_diff.set()
        was_synced = self.sync.synced
        to_apply = self.sync.on_diff(event)
        if was_synced and not self.sync.synced:
            self.counters.gaps += 1
            self.counters.resyncs += 1
            log.warning(
                "feed_gap", "depth gap, resyncing", first_id=event.first_id, last_id=event.last_id
            )
            self._invalidate("gap", local_ns)
            return
        if not to_apply:
            return
        for ev in to_apply:
            self._apply(ev)
        self.book.local_ts = local_ns
        if self._check_crossed():
            return
        if self._book_valid:
            self._emit_book(snapshot=False)
        elif self.sync.synced:
            self._release()  # a book held after a silent gap: the stream is back

    def _apply(self, event: DepthEvent[DepthPayload]) -> None:
        book = self.book
        payload = event.payload
        if payload.bids:
            book.apply_side(BID, payload.bids)
        if payload.asks:
            book.apply_side(ASK, payload.asks)
        book.update_id = event.last_id
        book.exch_ts = payload.exch_ts

    def _on_trade(self, local_ns: int, body: dict[str, Any]) -> None:
        market = self.market
        assert market is not None
        try:
            trade = Trade(
                exch_ts=_ms_to_ns(body.get("T", body.get("E"))),
                local_ts=local_ns,
                trade_id=int(body["t"]),
                price=market.price_to_ticks(body["p"]),
                qty=market.qty_to_units(body["q"]),
                side=Side.SELL if body["m"] else Side.BUY,
            )
        except (KeyError, TypeError, ValueError, MarketError) as exc:
            self.counters.bad_messages += 1
            log.error("feed_bad_trade", "bad trade message", error=repr(exc))
            return
        self.counters.trades += 1
        if self.on_trade is not None:
            self.on_trade(trade)
        self._enqueue(trade)

    # -- state changes ------------------------------------------------------------------------

    def _check_crossed(self) -> bool:
        if not self.book.is_crossed:
            return False
        # A venue book is never crossed: ours is wrong, so throw it away.
        self.counters.crossed += 1
        log.error("feed_crossed", "crossed book, resyncing", update_id=self.book.update_id)
        self._force_resync(self.clock(), "crossed")
        return True

    def _force_resync(self, local_ns: int, reason: str) -> None:
        self.counters.resyncs += 1
        self.sync.reset()
        self._invalidate(reason, local_ns)

    def _invalidate(self, reason: str, local_ns: int | None = None, *, emit: bool = True) -> None:
        was_valid = self._book_valid
        self._book_valid = False
        self.book.clear()
        if emit and was_valid:
            lost = BookLost(local_ts=self.clock() if local_ns is None else local_ns, reason=reason)
            if self.on_book is not None:
                self.on_book(lost)
            self._enqueue(lost)

    def _emit_book(self, *, snapshot: bool) -> None:
        book = self.book
        self.counters.book_updates += 1
        self.counters.last_book_ns = book.local_ts
        update = BookUpdate(book, book.update_id, book.exch_ts, book.local_ts, snapshot)
        if self.on_book is not None:
            self.on_book(update)
        self._enqueue(update)

    def _enqueue(self, event: FeedEvent) -> None:
        queue = self._queue
        if queue is None:
            return
        if queue.full():
            queue.get_nowait()
            self.counters.queue_dropped += 1
        queue.put_nowait(event)
