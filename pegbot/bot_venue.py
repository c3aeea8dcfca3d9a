"""One venue inside the live bot: its feed callbacks, the decision step, requests, user data.

:class:`VenueRunner` is the per-venue half of :mod:`pegbot.bot` (see its docstring for the
loop and the safety rules). It follows the reconciler's contract for the live set: an order is
``PENDING_NEW`` from the moment its request is sent until the venue acknowledges it,
``PENDING_CANCEL`` while its cancel is in flight, and a placement whose outcome is unknown
stays until an open-orders fetch settles it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pegbot.config import VenueSettings
from pegbot.execution.budget import RateBudget
from pegbot.execution.errors import (
    DeadlineError,
    InsufficientFundsError,
    OrderNotFoundError,
    RateLimitedError,
    RejectedError,
    VenueError,
)
from pegbot.execution.quirks import quirks_for
from pegbot.execution.reconciler import Actions, Reconciler, is_pegbot_order, parse_client_id
from pegbot.execution.risk import Risk, RiskLevel, RiskState
from pegbot.execution.venue import Balance, Fill, OrderUpdate, Venue
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.ccxt_feed import CcxtFeed, make_pro_client
from pegbot.feeds.model import BookLost, BookUpdate, FeedConfig, Trade
from pegbot.logging import describe
from pegbot.market import Market, Rounding, Side
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbSignaler
from pegbot.strategy import (
    FeedHealth,
    LiveOrder,
    MarketState,
    OrderStatus,
    Strategy,
    adapt_fair,
    load_strategy,
)
from pegbot.timeunits import NS_PER_S

if TYPE_CHECKING:
    from pegbot.bot import Bot

__all__ = ["BotStatus", "VenueRunner"]

log = logging.getLogger("pegbot.bot")
# Skip reasons of a place that goes out once a cancel is confirmed.
_WAITS = frozenset({"exposure", "cancel_pending"})


@dataclass(frozen=True, slots=True)
class _ShutdownNote:
    # A journal risk-transition record of a shutdown that left orders possibly open.
    at_ns: int
    from_level: str | None
    reasons: tuple[str, ...]
    details: tuple[str, ...]
    to_level: str = "halt"


@dataclass
class BotStatus:
    """Counters and a snapshot for the status display and the demo's summary."""

    quotes_placed: int = 0
    cancels_sent: int = 0
    fills: int = 0
    rejects: int = 0
    orphans_cancelled: int = 0
    fills_recovered: int = 0
    max_tick_to_quote_s: float = 0.0
    tick_to_quote_s: list[float] = field(default_factory=list)


class VenueRunner:
    """One venue: its feed, venue, core objects and live order set."""

    def __init__(self, bot: Bot, name: str, settings: VenueSettings, venue: Venue) -> None:
        """Wire one venue; :meth:`start` talks to the exchange."""
        self.bot = bot
        self.name = name
        self.settings = settings
        self.venue = venue
        self.market: Market = Market.kgst_usdt()
        self.symbol = settings.symbol
        self.live: dict[str, LiveOrder] = {}
        self.balances: dict[str, Balance] = {}
        self.status = BotStatus()
        self.book_changed = asyncio.Event()
        self.feed: BinanceFeed | CcxtFeed | None = None
        self.strategy: Strategy | None = None
        self.risk: Risk | None = None
        self.reconciler: Reconciler | None = None
        self.budget: RateBudget | None = None
        self.signaler: ArbSignaler | None = None
        self.risk_state: RiskState | None = None
        self.user_connected = False
        self.rejects = 0
        self.last_book_ns = 0  # local receive time of the last book change
        # Receive time of the first book message not yet decided upon (0: none pending).
        self._book_wake_ns = 0
        self.book_lost = False
        self.halt_confirmed = False
        self.need_recover = False
        self.reported_reconnects = 0
        self._inflight: set[asyncio.Task[None]] = set()
        self._unknown: set[str] = set()  # placements whose outcome the venue did not tell
        self._acked_ns: dict[str, int] = {}
        # Finished client ids (a late ack never revives one) and applied trade ids, newest
        # last; bounded (the oldest forgotten first) so a bot running for months stays flat.
        self._done: OrderedDict[str, None] = OrderedDict()
        self._seen_trades: OrderedDict[str, None] = OrderedDict()
        self.id_memory = ID_MEMORY
        self._last_fill_ns = 0
        self._last_signal_ns = 0
        self._halt_task: asyncio.Task[None] | None = None
        # The final cancel-all was confirmed by the venue (set by :meth:`shutdown`).
        self.shutdown_confirmed = False
        self._balance_task: asyncio.Task[None] | None = None

    # -- start-up ----------------------------------------------------------------------------

    async def start(self, first: bool = True) -> None:
        """Load the market, cancel orphans, load balances, recover fills, build the core."""
        bot = self.bot
        self.market = await self.venue.start()
        s = bot.settings
        self.strategy = load_strategy(s.strategy.name, self.market, s.strategy.params)
        self.risk = Risk(s.risk, self.market, bot.clock())
        # One budget per venue: the venue feeds it from the exchange's weight headers and
        # 429s, the reconciler spends it on what it decides to send.
        shared = getattr(self.venue, "budget", None)
        self.budget = (
            shared
            if isinstance(shared, RateBudget)
            else RateBudget.binance_spot(safety=s.loop.rate_safety, now_ns=bot.clock())
        )
        self.reconciler = Reconciler(
            self.market,
            bot.run_id,
            price_tolerance_ticks=s.loop.price_tolerance_ticks,
            size_tolerance=s.loop.size_tolerance,
            budget=self.budget,
            wait_for_cancel=s.loop.wait_for_cancel,
            cap_exposure=s.loop.cap_side_exposure,
        )
        if s.peg.signals_enabled:
            self.signaler = ArbSignaler(
                self.market, s.peg.costs.build(), s.peg.signals.build(), self.name, bot.metrics
            )
        await self.cancel_orphans()
        await self.refresh_balances()
        await self.recover_fills(bot.journal_last_fill_ns(self.name))

    async def cancel_orphans(self) -> None:
        """Cancel every ``pegbot-`` order not of this run and confirm none is left."""
        for attempt in range(5):
            opened = await self.venue.open_orders()
            stale = [
                o.client_id
                for o in opened
                if is_pegbot_order(o.client_id) and o.client_id not in self.live
            ]
            if not stale:
                return
            for cid in stale:
                with contextlib.suppress(OrderNotFoundError):
                    await self.venue.cancel(cid)
                    self.status.orphans_cancelled += 1
                    log.warning(
                        "cancelled orphan order",
                        extra={"event": "orphan_cancelled", "venue": self.name,
                               "client_order_id": cid},
                    )  # fmt: skip
            await asyncio.sleep(0.05 * (attempt + 1))
        raise RuntimeError(f"{self.name}: orphaned pegbot orders are still open after 5 rounds")

    async def refresh_balances(self) -> None:
        """Fetch balances (the inventory every venue's strategy sees)."""
        self.balances = await self.venue.balances()

    async def recover_fills(self, since_ns: int) -> None:
        """Fetch fills since ``since_ns`` and record those the journal misses."""
        fills = await self.venue.fills_since(since_ns)
        for f in fills:
            if self.bot.record_fill(self, f, recovered=True):
                self.status.fills_recovered += 1

    # -- feed --------------------------------------------------------------------------------

    def make_feed(self) -> BinanceFeed | CcxtFeed:
        """The market-data feed of this venue, as its quirks (or ``market_data``) say.

        ``binance_stream``: Binance's combined stream + REST snapshots; ``ccxt``: ccxt.pro
        ``watch_order_book`` / ``watch_trades`` of the venue's exchange.
        """
        vs = self.settings
        quirks = quirks_for(vs.exchange)
        kind = vs.market_data or quirks.market_data
        cfg = FeedConfig(
            symbol=vs.symbol,
            ws_url=vs.ws_url or FeedConfig.ws_url,
            rest_url=vs.rest_url or FeedConfig.rest_url,
            depth_limit=vs.depth_limit,
            quiet_probe_s=vs.quiet_probe_s,
            backoff_initial=0.2,
            backoff_max=5.0,
        )
        if kind == "ccxt":
            client = make_pro_client(quirks, vs.rest_url, vs.ws_url if vs.rest_url else None)
            self.feed = CcxtFeed(
                cfg, self.market, client, clock=self.bot.clock,
                on_book=self._on_book, on_trade=self._on_trade,
            )  # fmt: skip
            return self.feed
        self.feed = BinanceFeed(
            cfg, self.market, clock=self.bot.clock, on_book=self._on_book, on_trade=self._on_trade
        )
        return self.feed

    def _on_book(self, ev: BookUpdate | BookLost) -> None:
        if isinstance(ev, BookUpdate):
            self.last_book_ns = ev.local_ts
            if not self._book_wake_ns:
                self._book_wake_ns = ev.local_ts
            self.book_lost = False
        else:
            self.book_lost = True
            reason = ev.reason if ev.reason in ("gap", "crossed", "bad_message") else "reconnect"
            self.bot.metrics.book_resync(self.name, self.symbol, reason)
        hook = getattr(self.venue, "on_book", None)  # the paper venue fills against the book
        if hook is not None and self.feed is not None and isinstance(ev, BookUpdate):
            hook(self.feed.book, ev.local_ts)
        self.book_changed.set()

    def _on_trade(self, trade: Trade) -> None:
        hook = getattr(self.venue, "on_trade", None)
        if hook is not None:
            hook(trade)

    # -- the decision step -------------------------------------------------------------------

    def feed_health(self) -> FeedHealth:
        """What risk needs to know about the inputs."""
        feed = self.feed
        synced = feed is not None and feed.synced and not self.book_lost
        # A quiet Binance book sends nothing: a REST probe finding no change confirms it too.
        confirmed = feed.counters.confirmed_ns if feed is not None else 0
        return FeedHealth(
            book_ts_ns=max(self.last_book_ns, confirmed),
            book_synced=synced,
            ws_connected=synced and self.user_connected and self._venue_stream_up(),
            rejects_total=self.rejects,
        )

    def venue_stream_up(self) -> bool:
        """The venue's user-data stream is up (venues without one count as up)."""
        return self._venue_stream_up()

    def _venue_stream_up(self) -> bool:
        # CcxtVenue reports its user stream; venues without one (paper) count as up.
        return bool(getattr(self.venue, "stream_connected", True))

    def decide(self, now_ns: int, fair: FairValue | None) -> Actions | None:
        """Run the pure core once and dispatch its requests; returns the actions sent."""
        assert self.strategy is not None and self.risk is not None and self.reconciler is not None
        assert self.feed is not None
        wake, self._book_wake_ns = self._book_wake_ns, 0
        view = adapt_fair(fair, self.market) if fair is not None else None
        state = MarketState(
            now_ns=now_ns,
            book=self.feed.book,
            fair=view,
            inventory=self.bot.inventory(self.market),
            live_orders=tuple(self.live.values()),
            mode=self.bot.settings.mode,
            feed=self.feed_health(),
        )
        desired = self.strategy.quote(state)
        out, rs = self.risk.apply(state, desired)
        self.risk_state = rs
        if rs.transition is not None:
            self.bot.on_transition(self, rs)
            self.risk.drain_transitions()  # journaled just now: the list need not grow
        if rs.cancel_all:
            if not self.halt_confirmed and self._halt_task is None:
                self._halt_task = asyncio.create_task(self._halt())
            return None
        self.halt_confirmed = False
        actions = self.reconciler.diff(out, list(self.live.values()), now_ns)
        self._dispatch(actions, now_ns, wake)
        if wake and not actions.places and any(s.reason in _WAITS for s in actions.skipped):
            # The requote this book message asked for waits for a cancel: tick-to-quote is
            # measured when it goes out, from this message on.
            pending = self._book_wake_ns
            self._book_wake_ns = min(wake, pending) if pending else wake
        return actions

    def _dispatch(self, actions: Actions, now_ns: int, wake: int = 0) -> None:
        for rb in actions.rebinds:
            order = self.live.get(rb.client_id)
            if order is not None:
                self.live[rb.client_id] = replace(order, level_id=rb.level_id)
        for c in actions.cancels:
            order = self.live.get(c.client_id)
            if order is None:
                continue
            self.live[c.client_id] = replace(order, status=OrderStatus.PENDING_CANCEL)
            self._spawn(self._cancel(c.client_id, order.side))
        if actions.places and wake:
            # Book message received -> order request sent, for decisions a book message woke
            # (the request leaves in its task at the next loop turn, waiting on nothing else).
            latency = max(0.0, (self.bot.clock() - wake) / NS_PER_S)
            self.bot.metrics.observe_tick_to_quote(self.name, self.symbol, latency)
            self.status.tick_to_quote_s.append(latency)
            if len(self.status.tick_to_quote_s) > 10_000:
                del self.status.tick_to_quote_s[:5_000]
        for p in actions.places:
            q = p.quote
            self.live[p.client_id] = LiveOrder(
                p.client_id, q.level_id, q.side, q.price_ticks, q.lots, OrderStatus.PENDING_NEW
            )
            self._spawn(self._place(p.client_id, q.side, q.price_ticks, q.lots, p.post_only))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def drain(self, timeout_s: float) -> None:
        """Wait for the requests in flight (shutdown)."""
        if self._inflight:
            await asyncio.wait(set(self._inflight), timeout=timeout_s)

    # -- requests ----------------------------------------------------------------------------

    async def _place(self, cid: str, side: Side, price: int, lots: int, post_only: bool) -> None:
        bot = self.bot
        t0 = time.perf_counter()
        bot.metrics.order_submitted(self.name, self.symbol, side)
        self.status.quotes_placed += 1
        try:
            upd = await self.venue.place(side, price, lots, cid, post_only)
        except VenueError as exc:
            self._on_error(exc, "place", cid)
            if exc.outcome_unknown:
                self._unknown.add(cid)  # stays PENDING_NEW until an open-orders fetch
                self.need_recover = True
            else:
                self._finish(cid)
            return
        bot.metrics.observe_ack(self.name, "submit", time.perf_counter() - t0)
        self._acked_ns[cid] = bot.clock()
        self.apply_update(upd, journal=True)

    async def _cancel(self, cid: str, side: Side) -> None:
        t0 = time.perf_counter()
        self.bot.metrics.order_cancelled(self.name, self.symbol, side)
        self.status.cancels_sent += 1
        try:
            upd = await self.venue.cancel(cid)
        except OrderNotFoundError:
            self._finish(cid)  # filled or gone already: its fill comes as an event
            return
        except VenueError as exc:
            self._on_error(exc, "cancel", cid)
            order = self.live.get(cid)
            if order is not None and order.status is OrderStatus.PENDING_CANCEL:
                self.live[cid] = replace(order, status=OrderStatus.OPEN)  # try again later
            return
        self.bot.metrics.observe_ack(self.name, "cancel", time.perf_counter() - t0)
        self.apply_update(upd, journal=True)

    def _on_error(self, exc: VenueError, action: str, cid: str) -> None:
        if exc.counts_as_reject:
            self.rejects += 1
            self.status.rejects += 1
        self.bot.metrics.order_rejected(self.name, self.symbol, exc.reason)
        if isinstance(exc, RateLimitedError) and self.budget is not None:
            self.budget.on_rate_limited(self.bot.clock())
        log.warning(
            "%s failed: %s", action, exc,
            extra={"event": f"{action}_failed", "venue": self.name, "client_order_id": cid,
                   "reason": exc.reason},
        )  # fmt: skip
        if isinstance(exc, InsufficientFundsError):
            # Our balances are wrong (a withdrawal, another tool): re-deciding now would send
            # the same order into the same reject. Refetch first; risk then trims that side.
            if self._balance_task is None:
                self._balance_task = asyncio.create_task(self._refresh_after_reject())
            return
        if isinstance(exc, RejectedError):
            return  # the same request would fail again now: the next timer tick retries
        self.book_changed.set()  # a temporary failure: re-decide soon

    async def _refresh_after_reject(self) -> None:
        try:
            await self.refresh_balances()
        except VenueError as exc:
            log.warning("balance refetch failed: %s", exc,
                        extra={"event": "balances_failed", "venue": self.name})  # fmt: skip
        finally:
            self._balance_task = None
            self.book_changed.set()

    def _finish(self, cid: str) -> None:
        self.live.pop(cid, None)
        self._unknown.discard(cid)
        self._acked_ns.pop(cid, None)
        self.retire(cid)

    def retire(self, cid: str) -> None:
        """Never let ``cid`` (a finished order, or one quoting must not own) into the live set."""
        _remember(self._done, cid, self.id_memory)

    def apply_update(self, upd: OrderUpdate, journal: bool = False) -> None:
        """Fold an order update (ack, event, fetch) into the live set.

        Args:
            upd: The update.
            journal: Append it to the journal's order events (acks and stream events; the
                periodic open-orders fetch repeats what is known and is not journaled).
        """
        j = self.bot.journal
        if journal and j is not None:
            j.record_order(self.name, self.symbol, upd, self.bot.clock())
        cid = upd.client_id
        if not upd.state.is_open:
            self._finish(cid)
            self.book_changed.set()
            return
        if cid in self._done:
            return
        order = self.live.get(cid)
        lots = self.market.units_to_lots(upd.remaining_units, Rounding.DOWN)
        if order is None:
            parsed = parse_client_id(cid)
            if parsed is None or parsed.run != self.bot.run_id:
                return  # not ours (another run's orders are orphans, cancelled at start)
            order = LiveOrder(cid, parsed.level_id, upd.side, upd.price_ticks, lots)
        status = order.status
        if status is OrderStatus.PENDING_NEW:
            status = OrderStatus.OPEN
        self._unknown.discard(cid)
        self.live[cid] = replace(order, price_ticks=upd.price_ticks, lots=lots, status=status)
        if self.risk is not None and self.risk.level is RiskLevel.HALT and self.halt_confirmed:
            # An order of ours is open although the halt was confirmed: cancel all again.
            self.halt_confirmed = False
            self.book_changed.set()

    async def recover_orders(self) -> None:
        """Settle unknown placements and missed updates with an open-orders fetch."""
        self.need_recover = False
        started = self.bot.clock()
        opened = {o.client_id: o for o in await self.venue.open_orders()}
        for cid, o in opened.items():
            if not is_pegbot_order(cid):
                continue
            parsed = parse_client_id(cid)
            if parsed is None or parsed.run != self.bot.run_id or cid in self._done:
                with contextlib.suppress(OrderNotFoundError, VenueError):
                    await self.venue.cancel(cid)  # an orphan, or one we already gave up on
                continue
            self.apply_update(o)
        for cid in list(self.live):
            if cid in opened:
                continue
            acked = self._acked_ns.get(cid)
            if cid in self._unknown or (acked is not None and acked < started):
                self._finish(cid)
        self.book_changed.set()

    async def _halt(self) -> None:
        # Cancel everything and confirm with the exchange; retried until it holds.
        try:
            # Requests already in flight land first, so none can rest after the confirmation.
            await self.drain(5.0)
            while True:
                try:
                    await self.venue.cancel_all()
                    left = [
                        o for o in await self.venue.open_orders() if is_pegbot_order(o.client_id)
                    ]
                except VenueError as exc:
                    log.error("cancel-all failed: %s", exc,
                              extra={"event": "cancel_all_failed", "venue": self.name})  # fmt: skip
                    await asyncio.sleep(0.5)
                    continue
                if not left:
                    break
            for cid in list(self.live):
                self._finish(cid)
            self.halt_confirmed = True
            log.warning("all orders cancelled and confirmed",
                        extra={"event": "kill", "venue": self.name})  # fmt: skip
        finally:
            self._halt_task = None

    # -- user data ---------------------------------------------------------------------------

    async def user_data(self, stop: asyncio.Event) -> None:
        """Consume order and fill events until ``stop`` (the venue recovers after drops)."""
        events = aiter(self.venue.events())
        stopper = asyncio.ensure_future(stop.wait())
        self.user_connected = True
        try:
            while True:
                nxt = asyncio.ensure_future(anext(events))
                await asyncio.wait({nxt, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not nxt.done():
                    nxt.cancel()
                    return
                try:
                    ev = nxt.result()
                except StopAsyncIteration:
                    return
                if isinstance(ev, Fill):
                    self.bot.record_fill(self, ev)
                else:
                    self.apply_update(ev, journal=True)
        finally:
            stopper.cancel()
            self.user_connected = False

    def on_fill(self, f: Fill) -> bool:
        """Fold a fill into balances and the live set; False for a duplicate."""
        if f.trade_id in self._seen_trades:
            return False
        _remember(self._seen_trades, f.trade_id, self.id_memory)
        self._last_fill_ns = max(self._last_fill_ns, f.ts_ns)
        m = self.market
        qty = m.units_to_qty(f.qty_units)
        notional = m.ticks_to_price(f.price_ticks) * qty
        sign = Decimal(int(f.side))
        self._adjust(m.base, sign * qty)
        self._adjust(m.quote, -sign * notional)
        if f.fee:
            self._adjust(f.fee_asset, -f.fee)
        order = self.live.get(f.client_id)
        if order is not None:
            left = order.lots - m.units_to_lots(f.qty_units, Rounding.UP)
            if left <= 0:
                self._finish(f.client_id)
            else:
                self.live[f.client_id] = replace(order, lots=left)
        self.status.fills += 1
        self.bot.metrics.fill(
            self.name, self.symbol, f.side, "maker" if f.maker else "taker", float(notional)
        )
        self.book_changed.set()
        return True

    def _adjust(self, asset: str, delta: Decimal) -> None:
        b = self.balances.get(asset, Balance(asset, Decimal(0), Decimal(0)))
        self.balances[asset] = Balance(asset, b.free + delta, b.locked)

    # -- loops -------------------------------------------------------------------------------

    async def decision_loop(self, stop: asyncio.Event) -> None:
        """Wake on a book change or the timer, decide, repeat until ``stop``."""
        s = self.bot.settings.loop
        last = 0.0
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.book_changed.wait(), s.interval_s)
            self.book_changed.clear()
            if stop.is_set():
                return
            if s.min_interval_s:
                wait = last + s.min_interval_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            last = time.monotonic()
            now = self.bot.clock()
            fair = self.bot.fair(now)
            self.decide(now, fair)
            self.bot.after_decision(self, now, fair)
            if self.need_recover:
                self._spawn(self._recover_safely())

    async def _recover_safely(self) -> None:
        try:
            await self.recover_orders()
        except VenueError as exc:
            self.need_recover = True
            log.warning("open-orders fetch failed: %s", exc,
                        extra={"event": "recover_failed", "venue": self.name})  # fmt: skip

    async def housekeeping(self, stop: asyncio.Event) -> None:
        """Refresh balances and reconcile with the exchange now and then."""
        period = self.bot.settings.loop.balance_refresh_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), period)
            if stop.is_set():
                return
            # Raced against stop: a venue call can wait out a long rate-limit block, and the
            # shutdown must not wait for it (its own cancel-all has a deadline).
            work = asyncio.ensure_future(self._housekeep_once())
            stopper = asyncio.ensure_future(stop.wait())
            try:
                await asyncio.wait({work, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
            if not work.done():
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work
                return
            try:
                work.result()
            except VenueError as exc:
                log.warning("housekeeping failed: %s", exc,
                            extra={"event": "housekeeping_failed", "venue": self.name})  # fmt: skip

    async def _housekeep_once(self) -> None:
        await self.refresh_balances()
        await self.recover_orders()
        self.bot.snapshot_pnl(self)

    async def shutdown(self, timeout_s: float) -> list[str]:
        """Cancel everything and confirm it, within ``timeout_s``; returns what may be left.

        One venue cancel-all (a single ``DELETE openOrders`` per symbol where it touches only
        our orders) is retried until it is confirmed or the deadline comes. A rate-limit
        block is waited out only while it ends before the deadline. When the deadline wins,
        the client ids still believed open are logged at ERROR (``shutdown_incomplete``),
        counted in ``pegbot_order_rejects_total{reason="deadline"}`` and journaled as a risk
        transition with reason ``shutdown_incomplete`` (the ids in its details).

        Returns:
            Client ids of our orders that may still be open: [] when confirmed none is (see
            :attr:`shutdown_confirmed`; unconfirmed with no order known also gives []).
        """
        self.shutdown_confirmed = False
        loop = asyncio.get_running_loop()
        # A little of the time is kept back to log and journal what is left.
        end = loop.time() + timeout_s - min(0.5, timeout_s * 0.1)
        await self.drain(min(2.0, timeout_s / 4))
        last: BaseException | None = None
        attempt = 0
        while (remaining := end - loop.time()) > 0:
            try:
                await asyncio.wait_for(self.venue.cancel_all(timeout_s=remaining), remaining)
            except (VenueError, TimeoutError) as exc:
                last = exc
                log.error("shutdown cancel-all failed: %s", describe(exc),
                          extra={"event": "cancel_all_failed", "venue": self.name})  # fmt: skip
                if isinstance(exc, DeadlineError | TimeoutError):
                    break  # the venue already used up the time it was given
                attempt += 1
                await asyncio.sleep(max(0.0, min(0.2 * attempt, end - loop.time())))
                continue
            self.live.clear()
            self.shutdown_confirmed = True
            return []
        left = sorted(self.live)
        self._report_left(left, last, timeout_s)
        return left

    def _report_left(self, left: list[str], cause: BaseException | None, timeout_s: float) -> None:
        bot = self.bot
        log.error(
            "shutdown deadline hit: %d order(s) of ours may still be open on %s: %s",
            len(left), self.name, ", ".join(left) or "(none known)",
            extra={"event": "shutdown_incomplete", "venue": self.name, "open_order_ids": left,
                   "timeout_s": timeout_s, "cause": describe(cause) if cause else None},
        )  # fmt: skip
        bot.metrics.order_rejected(self.name, self.symbol, DeadlineError.reason)
        if bot.journal is not None:
            level = self.risk.level.label if self.risk is not None else None
            note = _ShutdownNote(bot.clock(), level, ("shutdown_incomplete",), tuple(left))
            try:
                bot.journal.record_risk_transition(self.name, self.symbol, note)
            except Exception as exc:  # the journal may be what failed; the log line stands
                log.error("could not journal the shutdown report: %s", describe(exc),
                          extra={"event": "journal_failed", "venue": self.name})  # fmt: skip


#: Ids each bounded memory of a runner keeps (finished orders, applied trades).
ID_MEMORY = 20_000


def _remember(memory: OrderedDict[str, None], key: str, limit: int) -> None:
    memory[key] = None
    memory.move_to_end(key)
    if len(memory) > limit:
        memory.popitem(last=False)
