"""One venue inside the live bot: its feed callbacks, the decision step, requests, user data.

A :class:`VenueRunner` owns everything about one venue — feed, venue, strategy, risk,
reconciler, our orders, balances — and reaches the bot around it only through
:class:`~pegbot.live.context.RunnerContext`.

Each decision is :class:`~pegbot.execution.decision.DecisionStep` on the state the runner
builds, and the live set is an :class:`~pegbot.execution.orders.OrderTracker`: the backtest
uses the very same two objects, so "what is resting" means the same in both worlds. The
resulting requests are sent as tasks, so the loop never waits on a round trip; every answer
(ack, reject, unknown outcome, cancel, fill, stream event, open-orders snapshot) is folded
into the tracker.

Safety rules kept here:

* at start every ``pegbot-`` order left on the exchange (another run, a kill -9) is cancelled
  and the cancel confirmed before the first quote, and the fills, balances and final order
  states a crash left unrecorded are settled first (:mod:`pegbot.live.recovery`);
* each fill moves the balances once, whether it arrives before or after the balance fetch
  that may already hold it (:mod:`pegbot.live.holdings`);
* on a halt, in-flight requests land first, then one cancel-all is retried until an
  open-orders fetch confirms nothing of ours is left;
* an insufficient-balance reject refetches balances before the next decision, so the same
  order is not sent into the same reject;
* the final cancel-all keeps to its deadline and names, at ERROR, what it may have left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine, Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any

from pegbot.book import BookWithout
from pegbot.config import VenueSettings
from pegbot.execution.budget import RateBudget
from pegbot.execution.decision import DecisionStep
from pegbot.execution.errors import (
    InsufficientFundsError,
    RateLimitedError,
    RejectedError,
    VenueError,
)
from pegbot.execution.orders import OrderTracker
from pegbot.execution.quirks import quirks_for
from pegbot.execution.reconciler import Actions, Reconciler, is_pegbot_order
from pegbot.execution.risk import Risk, RiskLevel, RiskState
from pegbot.execution.venue import Balance, Fill, OrderUpdate, Venue
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.ccxt_feed import CcxtFeed, make_pro_client
from pegbot.feeds.model import BookLost, BookUpdate, FeedConfig, MarketFeed, Trade
from pegbot.live import recovery, shutdown
from pegbot.live.context import RunnerContext, RunnerStatus
from pegbot.live.holdings import VenueHoldings
from pegbot.live.requests import RequestSender
from pegbot.logging import event_log
from pegbot.market import Market, Rounding, Side
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbSignaler
from pegbot.peg.sinks import export_fair
from pegbot.scorecard import OrderKind, ScorecardSettings
from pegbot.scorecard.live import LiveScorecard
from pegbot.strategy import (
    DesiredQuotes,
    FeedHealth,
    LiveOrder,
    MarketState,
    Strategy,
    adapt_fair,
    load_strategy,
)
from pegbot.timeunits import NS_PER_S

__all__ = ["RunnerStatus", "VenueRunner"]

log = event_log("pegbot.bot")
# Skip reasons of a place that goes out once a cancel is confirmed.
_WAITS = frozenset({"exposure", "cancel_pending"})
# The displays and the arbitrage signaler are for humans: five times a second is plenty.
_OBSERVE_EVERY_NS = NS_PER_S // 5


class VenueRunner:
    """One venue: its feed, venue, core objects and our orders (see the module docstring).

    Args:
        ctx: The bot around it.
        name: The venue's name (``[venues.<name>]``).
        settings: Its settings.
        venue: The venue.
    """

    def __init__(
        self, ctx: RunnerContext, name: str, settings: VenueSettings, venue: Venue
    ) -> None:
        self.ctx = ctx
        self.name = name
        self.settings = settings
        self.venue = venue
        self.symbol = settings.symbol
        self.log = log.bind(venue=name)
        self.orders = OrderTracker(ctx.run_id)
        #: Balances: the venue's last snapshot plus the fills after it.
        self.holdings = VenueHoldings()
        self.status = RunnerStatus()
        self.book_changed = asyncio.Event()
        self.feed: MarketFeed | None = None
        self.strategy: Strategy | None = None
        self.risk: Risk | None = None
        self.reconciler: Reconciler | None = None
        self.step: DecisionStep | None = None
        self.budget: RateBudget | None = None
        self.signaler: ArbSignaler | None = None
        #: Two-sided uptime, FX-jump timings, obligations, as the evaluations measure them.
        self.scorecard: LiveScorecard | None = None
        self.risk_state: RiskState | None = None
        #: What the strategy asked for at the last decision (None before one).
        self.last_desired: DesiredQuotes | None = None
        self.user_connected = False
        self.rejects = 0
        self.last_book_ns = 0  # local receive time of the last book change
        self.book_lost = False
        self.halt_confirmed = False
        self.need_recover = False
        #: Start-up recovery is done (orphans cancelled, fills and final states settled).
        self.recovered = False
        # The final cancel-all was confirmed by the venue (set by :meth:`shutdown`).
        self.shutdown_confirmed = False
        self._market: Market | None = None
        # Receive time of the first book message not yet decided upon (0: none pending).
        self._book_wake_ns = 0
        self.requests = RequestSender(name, settings.symbol, venue, self.orders, ctx, self)
        self._halt_task: asyncio.Task[None] | None = None
        self._balance_task: asyncio.Task[None] | None = None
        self._last_observed_ns = 0
        self._reported_reconnects = 0

    @property
    def market(self) -> Market:
        """The venue's market (known once :meth:`start` loaded it)."""
        if self._market is None:
            raise RuntimeError(f"{self.name}: the market is known only after start()")
        return self._market

    @property
    def started(self) -> bool:
        """:meth:`start` has loaded the market and built the core."""
        return self.step is not None

    @property
    def balances(self) -> dict[str, Balance]:
        """Balances by asset: the venue's last snapshot plus the fills after it (read-only)."""
        return self.holdings.balances

    @property
    def live(self) -> Mapping[str, LiveOrder]:
        """Our orders believed to be on the venue, by client id (read-only)."""
        return MappingProxyType({o.client_id: o for o in self.orders.live_orders()})

    # -- start-up ----------------------------------------------------------------------------

    async def start(self) -> None:
        """:meth:`prepare`, then :meth:`recover` (the bot runs them apart, the feed between)."""
        await self.prepare()
        await self.recover()

    async def prepare(self) -> None:
        """Load the market and build the core (strategy, risk, reconciler, signaler).

        A rate-limit block or ban remembered in the journal holds from the first request on:
        the venue's first request waits it out instead of lengthening it.
        """
        ctx = self.ctx
        s = ctx.settings
        budget = self.venue.budget
        if budget is not None:
            journal = ctx.journal
            until = journal.venue_blocked_until(self.name) if journal is not None else 0
            if until > ctx.clock():
                self.log.error(
                    "venue_blocked",
                    "%s is rate-limited or banned for another %.1f s: nothing is sent until then",
                    self.name,
                    (until - ctx.clock()) / NS_PER_S,
                    until_ns=until,
                )
                budget.block(until)
            ctx.metrics.set_venue_blocked(self.name, max(until, budget.blocked_until_ns))
            budget.on_block = self._blocked
        market = self._market = await self.venue.start()
        self.holdings.market = market
        self.strategy = load_strategy(s.strategy.name, market, s.strategy.params)
        self.risk = Risk(s.risk, market, ctx.clock())
        # One budget per venue: the venue feeds it from the exchange's limits, weight
        # headers and 429s; the reconciler spends it on what it decides to send.
        self.budget = self.venue.budget
        self.reconciler = Reconciler(
            market,
            ctx.run_id,
            price_tolerance_ticks=s.loop.price_tolerance_ticks,
            size_tolerance=s.loop.size_tolerance,
            budget=self.budget,
            wait_for_cancel=s.loop.wait_for_cancel,
            cap_exposure=s.loop.cap_side_exposure,
            amend=s.loop.amend and self.venue.capabilities.amend,
            replace=s.loop.replace and self.venue.capabilities.replace,
        )
        self.step = DecisionStep(self.strategy, self.risk, self.reconciler)
        self.scorecard = LiveScorecard(
            market,
            self.name,
            self.symbol,
            ScorecardSettings(obligations=s.obligations),
            ctx.metrics,
        )
        if s.peg.signals_enabled:
            self.signaler = ArbSignaler(
                market, s.peg.costs.build(), s.peg.signals.build(), self.name, ctx.metrics
            )

    def _blocked(self, until_ns: int) -> None:
        # A 429/418 (here or in the feed): remembered at once, so a restart inside it waits.
        ctx = self.ctx
        if ctx.journal is not None:
            ctx.journal.record_venue_block(self.name, until_ns, ctx.clock())
        ctx.metrics.set_venue_blocked(self.name, until_ns)

    async def recover(self) -> None:
        """Settle what a crash left: orphans, balances, fills, final states (in parallel)."""
        report = await recovery.recover(self)
        self.status.orphans_cancelled += report.orphans_cancelled
        self.status.fills_recovered += report.fills_recovered
        self.recovered = True

    async def refresh_balances(self) -> None:
        """Fetch balances (the inventory every venue's strategy sees)."""
        await recovery.refresh_balances(self)

    async def recover_fills(self, since_ns: int) -> None:
        """Fetch fills since ``since_ns`` and record those the journal misses."""
        _, new = await recovery.recover_fills(self, since_ns)
        self.status.fills_recovered += new

    # -- feed --------------------------------------------------------------------------------

    def make_feed(self) -> MarketFeed:
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
            # The stream is subscribed once connected (its URL names the streams): a
            # snapshot taken at once cannot miss a diff, and a quiet book sends none to wait for.
            first_event_wait=0.1,
        )
        clock = self.ctx.clock
        feed: MarketFeed
        if kind == "ccxt":
            client = make_pro_client(quirks, vs.rest_url, vs.ws_url if vs.rest_url else None)
            feed = CcxtFeed(
                cfg,
                self.market,
                client,
                clock=clock,
                on_book=self._on_book,
                on_trade=self._on_trade,
            )
        else:
            feed = BinanceFeed(
                cfg,
                self.market,
                clock=clock,
                on_book=self._on_book,
                on_trade=self._on_trade,
                rest_gate=self.venue.budget,  # one rate limit per venue, whoever meets it
            )
        self.feed = feed
        return feed

    def _on_book(self, ev: BookUpdate | BookLost) -> None:
        if isinstance(ev, BookUpdate):
            self.last_book_ns = ev.local_ts
            if not self._book_wake_ns:
                self._book_wake_ns = ev.local_ts
            self.book_lost = False
            if self.feed is not None:
                self.venue.on_book(self.feed.book, ev.local_ts)  # the paper venue fills here
        else:
            self.book_lost = True
            reason = ev.reason if ev.reason in ("gap", "crossed", "bad_message") else "reconnect"
            self.ctx.metrics.book_resync(self.name, self.symbol, reason)
        self.book_changed.set()

    def _on_trade(self, trade: Trade) -> None:
        self.venue.on_trade(trade)

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
            ws_connected=synced and self.user_connected and self.venue.stream_connected,
            rejects_total=self.rejects,
        )

    def market_view(self, live: tuple[LiveOrder, ...] | None = None) -> BookWithout:
        """The feed's book without our own orders (every order of ours may be resting)."""
        assert self.feed is not None
        upl = self.market.units_per_lot
        out: dict[Side, dict[int, int]] = {Side.BUY: {}, Side.SELL: {}}
        for o in self.orders.live_orders() if live is None else live:
            side = out[o.side]
            side[o.price_ticks] = side.get(o.price_ticks, 0) + o.lots * upl
        return BookWithout(self.feed.book, out[Side.BUY], out[Side.SELL])

    def decide(self, now_ns: int, fair: FairValue | None) -> Actions | None:
        """Run the decision step once and send its requests; returns the actions decided."""
        assert self.step is not None and self.feed is not None and self.risk is not None
        wake, self._book_wake_ns = self._book_wake_ns, 0
        live = self.orders.live_orders()
        state = MarketState(
            now_ns=now_ns,
            book=self.feed.book,
            fair=adapt_fair(fair, self.market) if fair is not None else None,
            inventory=self.ctx.inventory(self.market),
            live_orders=live,
            mode=self.ctx.settings.mode,
            feed=self.feed_health(),
            market=self.market_view(live),
        )
        decision = self.step.decide(state)
        self.risk_state, self.last_desired = decision.risk, decision.desired
        # Every level change since the last decision, including the operator's kill and
        # resume (made outside a decision), is reported once and forgotten.
        for t in self.risk.drain_transitions():
            self.ctx.risk_changed(self.name, self.symbol, t)
        if decision.cancel_all:
            if not self.halt_confirmed and self._halt_task is None:
                self._halt_task = asyncio.create_task(self._halt())
            return None
        self.halt_confirmed = False
        actions = decision.actions
        self._dispatch(actions, wake)
        if wake and not actions.places and any(s.reason in _WAITS for s in actions.skipped):
            # The requote this book message asked for waits for a cancel: tick-to-quote is
            # measured when it goes out, from this message on.
            pending = self._book_wake_ns
            self._book_wake_ns = min(wake, pending) if pending else wake
        return actions

    def _dispatch(self, actions: Actions, wake: int = 0) -> None:
        sent = self.orders.apply(actions)
        for r in sent.refused:  # the reconciler asked for something unsafe: never sent
            self.status.refused += 1
            self.log.error(
                "action_refused",
                "refused to send %s for %s: %s",
                r.client_id,
                r.level_id,
                r.reason,
                client_order_id=r.client_id,
                reason=r.reason,
            )
        req = self.requests
        for c in sent.cancels:
            order = self.orders.get(c.client_id)
            if order is not None:
                req.submit(req.cancel(c.client_id, order.side))
        for rp in sent.replaces:
            req.submit(req.replace(rp.cancel.client_id, rp.place))
        for a in sent.amends:
            req.submit(req.amend(a.client_id, a.lots))
        if (sent.places or sent.replaces) and wake:
            # Book message received -> order request sent, for decisions a book message woke
            # (the request leaves in its task at the next loop turn, waiting on nothing else).
            latency = max(0.0, (self.ctx.clock() - wake) / NS_PER_S)
            self.ctx.metrics.observe_tick_to_quote(self.name, self.symbol, latency)
            ttq = self.status.tick_to_quote_s
            ttq.append(latency)
            if len(ttq) > 10_000:
                del ttq[:5_000]
        for p in sent.places:
            q = p.quote
            req.submit(req.place(p.client_id, q.side, q.price_ticks, q.lots, p.post_only))

    def observe(self, now_ns: int, fair: FairValue | None) -> None:
        """Per-venue metrics and the arbitrage signaler, after the requests went out."""
        m = self.ctx.metrics
        rs = self.risk_state
        if rs is not None:
            m.set_risk(self.name, self.symbol, rs.level.label, rs.reasons)
        feed = self.feed
        if self.scorecard is not None:
            # Every decision, not throttled: a side empty for 50 ms must show in the uptime.
            synced = feed is not None and feed.synced and not self.book_lost
            price = fair.price if fair is not None else None
            book = feed.book if synced and feed is not None else None
            self.scorecard.observe(now_ns, book, self.orders.live_orders(), price)
        if now_ns - self._last_observed_ns < _OBSERVE_EVERY_NS or feed is None:
            return
        self._last_observed_ns = now_ns
        market = self.market
        fair_ticks = float(fair.price / Fraction(market.tick_size)) if fair and fair.price else None
        if feed.synced:
            m.observe_book(
                self.name,
                self.symbol,
                feed.book,
                market,
                fair_ticks,
                now_ns,
                confirmed_ns=self.feed_health().book_ts_ns,
            )
        self._observe_connectivity(now_ns)
        quotes = [(o.side, o.price_ticks, market.lots_to_units(o.lots)) for o in self.live.values()]
        m.observe_quotes(self.name, self.symbol, quotes, market, fair_ticks)
        if fair is not None:
            export_fair(m, self.name, self.symbol, fair)
            if self.signaler is not None and feed.synced:
                # The market without our quotes: we never trade against ourselves.
                events = list(self.signaler.evaluate(now_ns, self.market_view(), fair))
                if events:
                    self.ctx.signals_raised(self.name, events, fair, now_ns)
        base = self.balances.get(market.base)
        limit = self.ctx.settings.risk.max_base_lots
        held = float(base.total) if base is not None else 0.0
        ratio = held / float(market.lots_to_qty(limit)) if limit else 0.0
        m.set_inventory(self.name, self.symbol, held, ratio)

    def _observe_connectivity(self, now_ns: int) -> None:
        m = self.ctx.metrics
        feed = self.feed
        up = feed is not None and feed.synced and not self.book_lost
        m.set_ws_connected(self.name, "depth", up)
        m.set_ws_connected(self.name, "trades", up and bool(feed and feed.config.trades))
        m.set_ws_connected(self.name, "user", self.user_connected and self.venue.stream_connected)
        if feed is not None:
            # Reconnects of the market stream, counted from the feed's own counter.
            new = feed.counters.connects - 1 - self._reported_reconnects
            for _ in range(max(0, new)):
                m.ws_reconnected(self.name, "depth")
            self._reported_reconnects += max(0, new)
        budget = self.budget
        if budget is not None:
            # Share of the tightest bucket in use (0 = idle, 1 = exhausted).
            used = max((1 - b.tokens(now_ns) / b.limit.limit for b in budget.buckets), default=0.0)
            m.set_rate_limit(self.name, max(0.0, used))

    # -- requests ----------------------------------------------------------------------------

    def submit(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a request as a task the shutdown waits for (:meth:`drain`)."""
        self.requests.submit(coro)

    async def drain(self, timeout_s: float) -> None:
        """Wait for the requests in flight (shutdown, halt)."""
        await self.requests.drain(timeout_s)

    def wake(self) -> None:
        """Re-decide at the next loop turn."""
        self.book_changed.set()

    def request_recovery(self) -> None:
        """Settle unknown outcomes with an open-orders fetch after the next decision."""
        self.need_recover = True

    def on_error(self, exc: VenueError, action: str, cid: str) -> None:
        """A request failed: count it, back off on a rate limit, refetch on a funds error."""
        if exc.counts_as_reject:
            self.rejects += 1
            self.status.rejects += 1
        self.ctx.metrics.order_rejected(self.name, self.symbol, exc.reason)
        if isinstance(exc, RateLimitedError) and self.budget is not None:
            self.budget.on_rate_limited(self.ctx.clock())
        self.log.warning(
            f"{action}_failed", "%s failed: %s", action, exc, client_order_id=cid, reason=exc.reason
        )
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
            self.log.warning("balances_failed", "balance refetch failed: %s", exc)
        finally:
            self._balance_task = None
            self.book_changed.set()

    # -- our orders ----------------------------------------------------------------------------

    def retire(self, cid: str) -> None:
        """Never let ``cid`` (a finished order, or one quoting must not own) into the live set."""
        self.orders.retire(cid)

    def apply_update(self, upd: OrderUpdate, journal: bool = False) -> None:
        """Fold an order update (ack, stream event, fetch) into our orders.

        Args:
            upd: The update.
            journal: Append it to the journal's order events (acks and stream events; the
                periodic open-orders fetch repeats what is known and is not journaled).
        """
        j = self.ctx.journal
        if journal and j is not None:
            j.record_order(self.name, self.symbol, upd, self.ctx.clock())
        if not upd.state.is_open:
            self.orders.on_closed(upd.client_id)
            self.book_changed.set()
            return
        lots = self.market.units_to_lots(upd.remaining_units, Rounding.DOWN)
        known = self.orders.on_open(
            upd.client_id, self.ctx.clock(), upd.side, upd.price_ticks, lots
        )
        halted = self.risk is not None and self.risk.level is RiskLevel.HALT
        if known and halted and self.halt_confirmed:
            # An order of ours is open although the halt was confirmed: cancel all again.
            self.halt_confirmed = False
            self.book_changed.set()

    async def recover_orders(self) -> None:
        """Settle unknown placements and missed updates with an open-orders fetch."""
        self.need_recover = False
        await recovery.reconcile_orders(self)

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
                    self.log.error("cancel_all_failed", "cancel-all failed: %s", exc)
                    await asyncio.sleep(0.5)
                    continue
                if not left:
                    break
            self.orders.finish_all()
            self.halt_confirmed = True
            self.log.warning("kill", "all orders cancelled and confirmed")
        finally:
            self._halt_task = None

    def halt(self, now_ns: int, reason: str) -> None:
        """Engage the kill switch on this venue (the next decision cancels everything)."""
        if self.risk is not None:
            self.risk.kill(now_ns, reason)
        self.halt_confirmed = False
        self.book_changed.set()

    def resume(self, now_ns: int) -> None:
        """Leave the halt (to ``freeze``; risk steps down after its cooldown)."""
        if self.risk is not None:
            self.risk.resume(now_ns)
        self.book_changed.set()

    # -- user data -----------------------------------------------------------------------------

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
                    self.record_fill(ev)
                else:
                    self.apply_update(ev, journal=True)
        finally:
            stopper.cancel()
            self.user_connected = False

    def order_accepted(self, kind: OrderKind, side: Side) -> None:
        """The venue accepted an order request of ours (the scorecard's orders per fill)."""
        if self.scorecard is not None:
            self.scorecard.order(self.ctx.clock(), kind, side)

    def record_fill(self, f: Fill, recovered: bool = False) -> bool:
        """Journal a fill (before acting on it), then fold it in once.

        Returns:
            True for a fill the journal had not seen (False: a repeat, or one a previous run
            journaled; either way balances and the ledger count it at most once).
        """
        journal = self.ctx.journal
        new = journal.record_fill(f, self.ctx.clock()) if journal is not None else True
        m = self.market
        if not self.orders.on_fill(
            f.client_id, f.trade_id, filled_lots=m.units_to_lots(f.qty_units, Rounding.UP)
        ):
            return False
        self.holdings.apply(f)
        if self.scorecard is not None and not recovered:  # a recovered one is from the past
            self.scorecard.fill(self.ctx.clock(), f.side, f.price_ticks, f.qty_units, f.maker)
        if new:
            self.status.fills += 1
            notional = m.ticks_to_price(f.price_ticks) * m.units_to_qty(f.qty_units)
            liquidity = "maker" if f.maker else "taker"
            self.ctx.metrics.fill(self.name, self.symbol, f.side, liquidity, float(notional))
        self.ctx.fill_applied(self.name, f, recovered, new)
        self.book_changed.set()
        return new

    # -- loops ---------------------------------------------------------------------------------

    async def decision_loop(self, stop: asyncio.Event) -> None:
        """Wake on a book change or the timer, decide, repeat until ``stop``."""
        s = self.ctx.settings.loop
        last = 0.0
        while not stop.is_set():
            # asyncio.timeout, not wait_for: no task wrapped around the wait, so a book change
            # resumes this loop at the next turn rather than a turn later.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(s.interval_s):
                    await self.book_changed.wait()
            self.book_changed.clear()
            if stop.is_set():
                return
            if s.min_interval_s:
                wait = last + s.min_interval_s - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
            last = time.monotonic()
            now = self.ctx.clock()
            fair = self.ctx.fair(now)
            actions = self.decide(now, fair)
            if actions is not None and actions.requests:
                # Let the request tasks reach the transport before the bookkeeping below:
                # tick-to-quote ends when a request is handed over, not after the metrics.
                await asyncio.sleep(0)
            self.observe(now, fair)
            if self.risk_state is not None:
                self.ctx.decided(self.name, now, fair, self.risk_state)
            if self.need_recover:
                self.submit(self._recover_safely())
            if not self.book_changed.is_set():
                self.ctx.idle()

    async def _recover_safely(self) -> None:
        try:
            await self.recover_orders()
        except VenueError as exc:
            self.need_recover = True
            self.log.warning("recover_failed", "open-orders fetch failed: %s", exc)

    async def housekeeping(self, stop: asyncio.Event) -> None:
        """Refresh balances and reconcile with the exchange now and then."""
        period = self.ctx.settings.loop.balance_refresh_s
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
                self.log.warning("housekeeping_failed", "housekeeping failed: %s", exc)

    async def _housekeep_once(self) -> None:
        await self.refresh_balances()
        await self.recover_orders()
        await self.ctx.housekept(self.name)

    # -- shutdown ------------------------------------------------------------------------------

    async def shutdown(self, timeout_s: float) -> list[str]:
        """Cancel everything and confirm it within ``timeout_s``; returns what may be left.

        See :func:`pegbot.live.shutdown.cancel_everything`; :attr:`shutdown_confirmed` says
        whether the venue confirmed nothing of ours is left. Fills made while the orders were
        being cancelled (the user stream is no longer read) are then fetched and journaled,
        and the final state of every order the journal does not show finished, within what is
        left of ``timeout_s`` (what does not fit, the next start settles).
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout_s
        since = self.ctx.clock() - 60 * NS_PER_S
        left, self.shutdown_confirmed = await shutdown.cancel_everything(self, timeout_s)
        if self.shutdown_confirmed and self.recovered and (rest := end - loop.time()) > 0.2:
            try:
                await asyncio.wait_for(self._settle_last(since), rest - 0.1)
            except (VenueError, TimeoutError) as exc:
                self.log.warning("final_settle_failed", "final settle failed: %s", exc)
        return left

    async def _settle_last(self, since_ns: int) -> None:
        fetched, new = await recovery.recover_fills(self, since_ns)
        self.status.fills_recovered += new
        await recovery.settle_final_states(self, set(), (f.client_id for f in fetched))
