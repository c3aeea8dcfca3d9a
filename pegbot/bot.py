"""The live bot: the asyncio shell that wires feeds, fair value, strategy, risk and venues.

One :class:`asyncio.TaskGroup` holds everything. Per venue: a market-data task (the Binance
book feed), a user-data task (the venue's order and fill events) and a decision loop; once for
the bot: the fair-value pollers and the control task (kill, resume, halt latch).

The decision loop wakes on a book change or on a timer, and runs the pure core in one
synchronous step: :class:`~pegbot.strategy.MarketState` → ``Strategy.quote`` →
``Risk.apply`` → ``Reconciler.diff``. The resulting requests are sent as tasks, so the loop
never waits on a round trip; the live set follows the reconciler's contract (its module
docstring): ``PENDING_NEW`` until the ack, ``PENDING_CANCEL`` until the cancel is known, an
outcome-unknown placement kept until an open-orders fetch says whether it exists — never
re-sent under a new id before that. The arbitrage signaler runs after the requests went out.

Several venues at once: each has its own book, strategy, risk and reconciler, and all see
the *aggregated* inventory (every venue's balances summed), so skew and inventory limits act
on what the desk holds in total. A halt on any venue (kill, loss, reject storm) halts all.

Safety (``anchors.md`` §1 weaknesses pegbot must not repeat):

* at start, every ``pegbot-`` order left on the exchange (a previous run, a kill -9) is
  cancelled and the cancel confirmed before the first quote; fills since the last journaled
  one are recovered; a new run id per start means no client id is ever reused;
* kill: ``pegbot kill`` (a sentinel file), ``SIGUSR1``, or an automatic halt cancels every
  order, confirms with an open-orders fetch, and latches until ``pegbot resume`` (the latch is
  a file, so a restart stays down); ``SIGTERM``/``SIGINT`` stop the bot the same way;
* no order is placed after shutdown began: the loops stop before the final cancel-all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import string
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pegbot.config import Settings, VenueSettings
from pegbot.control import Control
from pegbot.execution.budget import RateBudget
from pegbot.execution.errors import OrderNotFoundError, RateLimitedError, VenueError
from pegbot.execution.reconciler import Actions, Reconciler, is_pegbot_order, parse_client_id
from pegbot.execution.risk import Risk, RiskLevel, RiskState
from pegbot.execution.venue import Balance, Fill, OrderUpdate, Venue
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.model import BookLost, BookUpdate, FeedConfig, Trade
from pegbot.journal import Journal
from pegbot.ledger import Ledger, LedgerError
from pegbot.market import Market, Rounding, Side
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator, FairValue
from pegbot.peg.poll import RatePoller
from pegbot.peg.signals import ArbSignaler
from pegbot.peg.sinks import SignalSinks, export_fair
from pegbot.strategy import (
    FeedHealth,
    Inventory,
    LiveOrder,
    MarketState,
    OrderStatus,
    Strategy,
    adapt_fair,
    load_strategy,
)

__all__ = ["Bot", "BotStatus", "VenueFactory", "VenueRunner", "new_run_id"]

log = logging.getLogger("pegbot.bot")
_NS = 1_000_000_000

#: Builds the venue of one ``[venues.<name>]`` table for the bot's mode.
VenueFactory = Callable[[str, VenueSettings, Settings], Venue]


def new_run_id() -> str:
    """A fresh 8-character run id (client order ids carry it)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


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
        self.feed: BinanceFeed | None = None
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
        self._inflight: set[asyncio.Task[None]] = set()
        self._unknown: set[str] = set()  # placements whose outcome the venue did not tell
        self._acked_ns: dict[str, int] = {}
        self._done: set[str] = set()  # finished client ids: a late ack never revives one
        self._seen_trades: set[str] = set()
        self._last_fill_ns = 0
        self._last_signal_ns = 0
        self._halt_task: asyncio.Task[None] | None = None

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

    def make_feed(self) -> BinanceFeed:
        """The market-data feed of this venue (Binance combined stream + REST snapshots)."""
        vs = self.settings
        cfg = FeedConfig(
            symbol=vs.symbol,
            ws_url=vs.ws_url or FeedConfig.ws_url,
            rest_url=vs.rest_url or FeedConfig.rest_url,
            depth_limit=vs.depth_limit,
            backoff_initial=0.2,
            backoff_max=5.0,
        )
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
        last_msg = feed.counters.last_message_ns if feed is not None else 0
        return FeedHealth(
            book_ts_ns=max(self.last_book_ns, last_msg),
            book_synced=synced,
            ws_connected=synced and self.user_connected and self._venue_stream_up(),
            rejects_total=self.rejects,
        )

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
        if rs.cancel_all:
            if not self.halt_confirmed and self._halt_task is None:
                self._halt_task = asyncio.create_task(self._halt())
            return None
        self.halt_confirmed = False
        actions = self.reconciler.diff(out, list(self.live.values()), now_ns)
        self._dispatch(actions, now_ns, wake)
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
            latency = max(0.0, (self.bot.clock() - wake) / _NS)
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
        self.book_changed.set()  # re-decide soon

    def _finish(self, cid: str) -> None:
        self.live.pop(cid, None)
        self._unknown.discard(cid)
        self._acked_ns.pop(cid, None)
        self._done.add(cid)
        if len(self._done) > 50_000:
            self._done.clear()

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
        self._seen_trades.add(f.trade_id)
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
            try:
                await self.refresh_balances()
                await self.recover_orders()
                self.bot.snapshot_pnl(self)
            except VenueError as exc:
                log.warning("housekeeping failed: %s", exc,
                            extra={"event": "housekeeping_failed", "venue": self.name})  # fmt: skip

    async def shutdown(self) -> list[OrderUpdate]:
        """Cancel everything, confirm it, and return what the exchange still shows open."""
        await self.drain(2.0)
        for attempt in range(5):
            try:
                await self.venue.cancel_all()
                left = [o for o in await self.venue.open_orders() if is_pegbot_order(o.client_id)]
            except VenueError as exc:
                log.error("shutdown cancel-all failed: %s", exc,
                          extra={"event": "cancel_all_failed", "venue": self.name})  # fmt: skip
                await asyncio.sleep(0.2 * (attempt + 1))
                continue
            if not left:
                self.live.clear()
                return []
        return [o for o in await self.venue.open_orders() if is_pegbot_order(o.client_id)]


class Bot:
    """The whole bot (see the module docstring).

    Args:
        settings: The configuration.
        venue_factory: Builds each venue (default: by mode, see :mod:`pegbot.bot_wiring`).
        metrics: Metrics to update (a private registry if None).
        clock: Wall clock in int ns UTC.
        journal: The SQLite journal (None: the bot opens ``settings.journal.path`` itself
            and closes it when it stops).
    """

    def __init__(
        self,
        settings: Settings,
        venue_factory: VenueFactory,
        metrics: Metrics | None = None,
        clock: Callable[[], int] = time.time_ns,
        journal: Journal | None = None,
        sources: list[Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics or Metrics()
        self._own_journal = journal is None
        if journal is None:
            settings.journal.path.parent.mkdir(parents=True, exist_ok=True)
            journal = Journal(settings.journal.path)
        self.journal: Journal | None = journal
        self.run_id = settings.run_id or new_run_id()
        self.control = Control(settings.loop.control_dir)
        self.stop_event = asyncio.Event()
        self.runners = [
            VenueRunner(self, name, vs, venue_factory(name, vs, settings))
            for name, vs in settings.venues.items()
        ]
        self.sources = sources or []
        self.estimator: FairEstimator | None = None
        self.pollers: list[RatePoller] = []
        self.sinks: SignalSinks | None = None
        self._fair: FairValue | None = None
        self._fair_ns = -1
        self.http_session: Any = None  # aiohttp session of HTTP rate sources, if any
        # Realised/unrealised PnL and fees, from the balances at the first fair value on.
        self.ledger: Ledger | None = None
        self.killed: str | None = None
        self.started = asyncio.Event()

    # -- shared state --------------------------------------------------------------------------

    def inventory(self, market: Market) -> Inventory:
        """Holdings summed over every venue, in ``market``'s qty units."""
        base = Decimal(0)
        quote = Decimal(0)
        target = Decimal(0)
        for r in self.runners:
            b = r.balances.get(market.base)
            q = r.balances.get(market.quote)
            base += b.total if b else 0
            quote += q.total if q else 0
            target += Decimal(str(r.settings.target_base))
        return Inventory(
            market.qty_to_units(max(base, Decimal(0)), Rounding.DOWN),
            market.qty_to_units(max(quote, Decimal(0)), Rounding.DOWN),
            market.qty_to_units(target, Rounding.DOWN),
        )

    def fair(self, now_ns: int) -> FairValue | None:
        """The fair value at ``now_ns`` (evaluated once per instant, shared by the venues)."""
        if self.estimator is None:
            return None
        if now_ns > self._fair_ns:
            self._fair = self.estimator.evaluate(now_ns)
            self._fair_ns = now_ns
        return self._fair

    def journal_last_fill_ns(self, venue: str) -> int:
        """Time of the newest journaled fill of ``venue`` (0: recover from the start of day)."""
        value = self.journal.last_fill_ns(venue) if self.journal is not None else None
        return int(value) if value else self.clock() - 24 * 3600 * _NS

    def record_fill(self, runner: VenueRunner, f: Fill, recovered: bool = False) -> bool:
        """Journal a fill (before acting on it), then fold it in; False for a duplicate."""
        if self.journal is not None:
            self.journal.record_fill(f, self.clock())
        fresh = runner.on_fill(f)
        if fresh and self.ledger is not None:
            try:
                self.ledger.apply(f)
            except LedgerError as exc:
                log.error("ledger refused a fill: %s", exc,
                          extra={"event": "ledger_error", "venue": runner.name})  # fmt: skip
        if fresh:
            log.info(
                "fill", extra={"event": "fill_recovered" if recovered else "fill",
                               "venue": runner.name, "client_order_id": f.client_id,
                               "side": f.side.name.lower(), "price_ticks": f.price_ticks,
                               "qty_units": f.qty_units},
            )  # fmt: skip
        return fresh

    def on_transition(self, runner: VenueRunner, rs: RiskState) -> None:
        """Log, journal and publish a risk level change; a halt anywhere halts everywhere."""
        t = rs.transition
        assert t is not None
        log.warning(
            "risk %s -> %s", t.from_level.label, t.to_level.label,
            extra={"event": "risk_transition", "venue": runner.name, "reason": ",".join(t.reasons),
                   "details": list(t.details)},
        )  # fmt: skip
        if self.journal is not None:
            self.journal.record_risk_transition(runner.name, runner.symbol, t)
        if t.to_level is RiskLevel.HALT and self.killed is None:
            self.kill(",".join(t.reasons), t.at_ns)

    def after_decision(self, runner: VenueRunner, now_ns: int, fair: FairValue | None) -> None:
        """Metrics and the arbitrage signaler, after the requests went out."""
        m = self.metrics
        m.heartbeat(now_ns)
        rs = runner.risk_state
        if rs is not None:
            m.set_risk(runner.name, runner.symbol, rs.level.label, rs.reasons)
        if now_ns - runner._last_signal_ns < 200_000_000 or runner.feed is None:
            return  # the rest is for humans: five times a second is plenty
        runner._last_signal_ns = now_ns
        market = runner.market
        fair_ticks = float(fair.price / Fraction(market.tick_size)) if fair and fair.price else None
        if runner.feed.synced:
            m.observe_book(runner.name, runner.symbol, runner.feed.book, market, fair_ticks, now_ns)
        m.observe_quotes(
            runner.name,
            runner.symbol,
            [(o.side, o.price_ticks, market.lots_to_units(o.lots)) for o in runner.live.values()],
            market,
            fair_ticks,
        )
        if fair is not None:
            export_fair(m, runner.name, runner.symbol, fair)
            if runner.signaler is not None and runner.feed.synced and self.sinks is not None:
                self.sinks.publish(runner.signaler.evaluate(now_ns, runner.feed.book, fair))
        if fair is not None and fair.price is not None:
            self._update_pnl(runner, fair.price)
        base = runner.balances.get(market.base)
        limit = self.settings.risk.max_base_lots
        held = float(base.total) if base is not None else 0.0
        ratio = held / float(market.lots_to_qty(limit)) if limit else 0.0
        m.set_inventory(runner.name, runner.symbol, held, ratio)

    def snapshot_pnl(self, runner: VenueRunner) -> None:
        """Journal the venue's PnL marked at the current fair value (housekeeping)."""
        fair = self._fair
        if self.journal is None or self.ledger is None or fair is None or fair.price is None:
            return
        p = self.ledger.pnl(fair.price, runner.name)
        self.journal.record_pnl(self.clock(), runner.name, runner.symbol, **p.journal_values())

    def _update_pnl(self, runner: VenueRunner, fair: Fraction) -> None:
        market = runner.market
        if self.ledger is None:
            self.ledger = Ledger(market)
            for r in self.runners:
                b = r.balances.get(market.base)
                q = r.balances.get(market.quote)
                self.ledger.set_balances(
                    r.name, b.total if b else 0, q.total if q else 0, cost_price=fair
                )
        pnl = self.ledger.pnl(fair, runner.name)
        self.metrics.set_pnl(
            runner.name,
            runner.symbol,
            {"realized": float(pnl.realised), "unrealized": float(pnl.unrealised),
             "fees": float(pnl.fees)},
        )  # fmt: skip

    # -- kill switch ---------------------------------------------------------------------------

    def kill(self, reason: str, now_ns: int | None = None) -> None:
        """Halt every venue and latch (until :meth:`resume` / ``pegbot resume``)."""
        now = now_ns if now_ns is not None else self.clock()
        self.killed = reason
        self.control.latch(reason, now)
        for r in self.runners:
            if r.risk is not None:
                r.risk.kill(now, reason)
            r.halt_confirmed = False
            self.metrics.set_kill_switch(r.name, True)
            r.book_changed.set()
        self.metrics.set_state("killed")
        log.warning("kill switch engaged: %s", reason, extra={"event": "kill", "reason": reason})

    def resume(self, now_ns: int | None = None) -> None:
        """Leave the halt on every venue (to ``freeze``; risk steps down after its cooldown)."""
        now = now_ns if now_ns is not None else self.clock()
        self.killed = None
        for r in self.runners:
            if r.risk is not None:
                r.risk.resume(now)
            self.metrics.set_kill_switch(r.name, False)
            r.book_changed.set()
        self.metrics.set_state("quoting")
        log.warning("resumed", extra={"event": "resume"})

    async def control_loop(self) -> None:
        """Check the sentinel files: kill requests, resume requests."""
        period = self.settings.loop.control_interval_s
        while not self.stop_event.is_set():
            reason = self.control.kill_requested()
            if reason is not None:
                self.kill(f"operator: {reason}")
                self.control.take_kill()
            if self.control.resume_requested():
                if self.killed is not None or any(
                    r.risk is not None and r.risk.level is RiskLevel.HALT for r in self.runners
                ):
                    self.resume()
                self.control.take_resume()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), period)

    def stop(self) -> None:
        """Ask the bot to stop: loops end, then everything is cancelled and confirmed."""
        self.stop_event.set()
        for r in self.runners:
            r.book_changed.set()

    # -- run -----------------------------------------------------------------------------------

    async def run(
        self, on_started: Callable[[Bot], Coroutine[Any, Any, None]] | None = None
    ) -> dict[str, Any]:
        """Start every venue, run until :meth:`stop`, cancel everything, return a summary."""
        m = self.metrics
        m.set_build_info(self.settings.mode)
        m.init_bot([r.name for r in self.runners], sorted({r.symbol for r in self.runners}))
        left: dict[str, int] = {}
        stop = self.stop_event
        try:
            for r in self.runners:
                await r.start()
                m.init_peg(r.name, r.symbol, [s.name for s in self.sources])
            self._build_fair()
            latched = self.control.latched()
            if latched is not None:
                self.kill(f"latched: {latched}")
            elif self.control.resume_requested():
                self.control.take_resume()
            if self.killed is None:
                m.set_state("quoting")
            for p in self.pollers:
                await p.poll_once()  # a fair value before the first decision, if a source answers
            async with asyncio.TaskGroup() as tg:
                for r in self.runners:
                    feed = r.make_feed()
                    tg.create_task(self._run_feed(feed, stop))
                    tg.create_task(r.user_data(stop))
                    tg.create_task(r.decision_loop(stop))
                    tg.create_task(r.housekeeping(stop))
                for p in self.pollers:
                    tg.create_task(p.run(stop))
                tg.create_task(self.control_loop())
                self.started.set()
                if on_started is not None:
                    tg.create_task(on_started(self))
        finally:
            m.set_state("stopping")
            stop.set()
            for r in self.runners:
                try:
                    still = await asyncio.wait_for(
                        r.shutdown(), self.settings.loop.shutdown_timeout_s
                    )
                except Exception as exc:  # report, then close the rest anyway
                    log.error("shutdown of %s failed: %s", r.name, exc,
                              extra={"event": "shutdown_failed", "venue": r.name})  # fmt: skip
                    still = []
                    left[r.name] = -1
                else:
                    left[r.name] = len(still)
                with contextlib.suppress(Exception):
                    await r.venue.close()
            if self.http_session is not None:
                await self.http_session.close()
            if self._own_journal and self.journal is not None:
                self.journal.close()
        return self.summary(left)

    async def _run_feed(self, feed: BinanceFeed, stop: asyncio.Event) -> None:
        waiter = asyncio.create_task(stop.wait())
        runner = asyncio.create_task(feed.run())
        await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        feed.stop()
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner

    def _build_fair(self) -> None:
        from pegbot.bot_wiring import build_fair  # keeps HTTP sources out of the core import

        self.estimator, self.pollers = build_fair(self, self.sources)
        self.sinks = SignalSinks(self.runners[0].market, self.journal, None, self.metrics)

    def summary(self, left: dict[str, int] | None = None) -> dict[str, Any]:
        """Counters and the final state, JSON-able."""
        lat = sorted(x for r in self.runners for x in r.status.tick_to_quote_s)

        def pct(q: float) -> float | None:
            return lat[min(len(lat) - 1, int(q * len(lat)))] if lat else None

        levels = [r.risk.level for r in self.runners if r.risk is not None]
        return {
            "run_id": self.run_id,
            "mode": self.settings.mode,
            "venues": [r.name for r in self.runners],
            "quotes_placed": sum(r.status.quotes_placed for r in self.runners),
            "cancels_sent": sum(r.status.cancels_sent for r in self.runners),
            "fills": sum(r.status.fills for r in self.runners),
            "rejects": sum(r.status.rejects for r in self.runners),
            "orphans_cancelled": sum(r.status.orphans_cancelled for r in self.runners),
            "fills_recovered": sum(r.status.fills_recovered for r in self.runners),
            "final_state": "killed"
            if self.killed
            else (max(levels).label if levels else "unknown"),
            "risk_levels": {r.name: r.risk.level.label for r in self.runners if r.risk},
            "open_orders_after_shutdown": sum(max(0, v) for v in (left or {}).values()),
            "tick_to_quote_p50_s": pct(0.5),
            "tick_to_quote_p99_s": pct(0.99),
            "pnl": self._pnl_summary(),
        }

    def _pnl_summary(self) -> dict[str, str] | None:
        if self.ledger is None or self._fair is None or self._fair.price is None:
            return None
        p = self.ledger.pnl(self._fair.price)
        return {
            "realised": f"{float(p.realised):.6f}",
            "unrealised": f"{float(p.unrealised):.6f}",
            "fees": f"{float(p.fees):.6f}",
            "total": f"{float(p.total):.6f}",
        }
