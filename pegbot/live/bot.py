"""The live bot: the asyncio shell that wires feeds, fair value, strategy, risk and venues.

One :class:`asyncio.TaskGroup` holds everything. Per venue: a market-data task (the Binance
book feed), a user-data task (the venue's order and fill events) and a decision loop; once for
the bot: the fair-value pollers and the control task (kill, resume, halt latch).

The decision loop of each venue (:class:`~pegbot.live.runner.VenueRunner`) wakes on a book
change or on a timer and runs the shared decision step (strategy → risk → reconciler); its
orders are an :class:`~pegbot.execution.orders.OrderTracker`, the same state machine the
backtest uses. The arbitrage signaler runs after the requests went out. The bot is the
runners' :class:`~pegbot.live.context.RunnerContext`: the fair value, the aggregated
inventory, the ledger, the journal of risk changes, the signal sinks and auto-execution.

Several venues at once: each has its own book, strategy, risk and reconciler, and all see
the *aggregated* inventory (every venue's balances summed), so skew and inventory limits act
on what the desk holds in total. A halt on any venue (kill, loss, reject storm) halts all.

Start-up is a warm start. Every venue loads its market at once; then, together, the feed
connects, the rate sources are asked, the user stream runs, and each venue's recovery
(orphans, balances, fills, final order states: :mod:`pegbot.live.recovery`) settles what a
crash left. A venue's decision loop starts when its recovery is done, and risk is ``starting``
(no quote, no risk event) until its inputs are there, so the first quote goes out as soon as
the book is synced and the fair value known — no freeze to cool down from.

Safety:

* at start, every ``pegbot-`` order left on the exchange (a previous run, a kill -9) is
  cancelled and the cancel confirmed before the first quote; fills since the last journaled
  one are recovered and each counted once (the balances fetched may hold them already); a new
  run id per start means no client id is ever reused;
* a rate-limit block or ban is obeyed from a process's first request to its last: it is
  journaled when learned, a restart inside it sends nothing until it ends, and a stop during
  it reports at once what may be left instead of sending cancels into it;
* kill: ``pegbot kill`` (a sentinel file), ``SIGUSR1``, or an automatic halt cancels every
  order, confirms with an open-orders fetch, and latches until ``pegbot resume`` (the latch is
  a file, so a restart stays down); ``SIGTERM``/``SIGINT`` stop the bot the same way;
* no order is placed after shutdown began: the loops stop before the final cancel-all, which
  keeps to ``loop.shutdown_timeout_s`` (every venue at once; a rate-limit block is waited out
  only if it ends in time) and names, at ERROR, the orders it may have left;
* while cancels fail, a side never holds more than its ladder (``loop.cap_side_exposure``:
  orders being cancelled count until the cancel is confirmed).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
import string
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pegbot.config import Settings, VenueSettings
from pegbot.control import Control
from pegbot.execution.errors import RateLimitedError, VenueError
from pegbot.execution.risk import RiskLevel, RiskState, Transition
from pegbot.execution.venue import Balance, Fill, Venue
from pegbot.feeds.model import MarketFeed
from pegbot.journal import Journal
from pegbot.ledger import Holdings, Ledger, LedgerError
from pegbot.live.autoexec import AutoExecutor
from pegbot.live.collector import IdleCollector
from pegbot.live.desk import DeskLoop
from pegbot.live.runner import RunnerStatus, VenueRunner
from pegbot.live.wiring import ExtraSource, build_fair
from pegbot.logging import describe, event_log
from pegbot.market import Market, Rounding
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator, FairValue
from pegbot.peg.poll import RatePoller
from pegbot.peg.signals import SignalEvent
from pegbot.peg.sinks import SignalSinks
from pegbot.strategy import Inventory
from pegbot.timeunits import NS_PER_S

__all__ = ["Bot", "RunnerStatus", "VenueFactory", "VenueRunner", "new_run_id"]

log = event_log("pegbot.bot")

#: Builds the venue of one ``[venues.<name>]`` table for the bot's mode.
VenueFactory = Callable[[str, VenueSettings, Settings], Venue]


def new_run_id() -> str:
    """A fresh 8-character run id (client order ids carry it)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


class Bot:
    """The whole bot (see the module docstring); the runners' context.

    Args:
        settings: The configuration.
        venue_factory: Builds each venue (default: by mode, see :mod:`pegbot.live.wiring`).
        metrics: Metrics to update (a private registry if None).
        clock: Wall clock in int ns UTC.
        journal: The SQLite journal (None: the bot opens ``settings.journal.path`` itself
            and closes it when it stops).
        sources: Ready-made rate sources besides the configured ones (tests, the demo).
    """

    def __init__(
        self,
        settings: Settings,
        venue_factory: VenueFactory,
        metrics: Metrics | None = None,
        clock: Callable[[], int] = time.time_ns,
        journal: Journal | None = None,
        sources: Sequence[ExtraSource] = (),
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
        self._by_name = {r.name: r for r in self.runners}
        self.sources = list(sources)
        self.estimator: FairEstimator | None = None
        self.pollers: list[RatePoller] = []
        self.sinks: SignalSinks | None = None
        self.auto: AutoExecutor | None = None  # ``[peg.auto_execute]`` (off by default)
        self.desk: DeskLoop | None = None  # operator decisions, rebalancing, issuer, chain
        self._capacity_ns: dict[str, int] = {}
        self._run_t0 = time.monotonic()
        self._quoting: set[str] = set()  # venues that quoted since the start
        self._fair: FairValue | None = None
        self._fair_ns = -1
        self._http_session: Any = None  # aiohttp session of HTTP rate sources, if any
        # Realised/unrealised PnL and fees, from the balances at the first fair value on.
        self.ledger: Ledger | None = None
        # Per venue: a ledger difference seen once (confirmed at the next round), and the
        # venue time up to which the ledger last agreed with the venue's balances.
        self._ledger_suspect: dict[str, Holdings] = {}
        self._ledger_agreed_ns: dict[str, int] = {}
        self.killed: str | None = None
        self.started = asyncio.Event()
        #: Collects garbage between decisions (installed while :meth:`run` serves).
        self.collector = IdleCollector()
        #: What the last :meth:`run` returned (None before one ended).
        self.final_summary: dict[str, Any] | None = None

    # -- the runners' context ----------------------------------------------------------------

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

    def fill_applied(self, venue: str, fill: Fill, recovered: bool, new: bool) -> None:
        """A fill of ``venue``, first seen by this process: into the ledger, and logged.

        The ledger counts it once, and not at all when it is in the balances its venue
        account started from. A fill a previous run journaled (``new`` False) is not logged
        again.
        """
        ledger = self.ledger
        if ledger is not None and venue in ledger.venues:
            try:
                ledger.apply(fill)
            except LedgerError as exc:
                log.error("ledger_error", "ledger refused a fill: %s", exc, venue=venue)
        if not new:
            return
        log.info(
            "fill_recovered" if recovered else "fill",
            "fill",
            venue=venue,
            client_order_id=fill.client_id,
            trade_id=fill.trade_id,
            side=fill.side.name.lower(),
            price_ticks=fill.price_ticks,
            qty_units=fill.qty_units,
        )

    def risk_changed(self, venue: str, symbol: str, transition: Transition) -> None:
        """Log, journal and publish a risk level change; a halt anywhere halts everywhere."""
        t = transition
        log.warning(
            "risk_transition",
            "risk %s -> %s",
            t.from_level.label,
            t.to_level.label,
            venue=venue,
            reason=",".join(t.reasons),
            details=list(t.details),
        )
        if self.journal is not None:
            self.journal.record_risk_transition(venue, symbol, t)
        if t.to_level is RiskLevel.HALT and self.killed is None:
            self.kill(",".join(t.reasons), t.at_ns)

    def signals_raised(
        self, venue: str, events: list[SignalEvent], fair: FairValue, now_ns: int
    ) -> None:
        """Publish signal events; auto-execution considers the new ones."""
        if self.sinks is not None:
            self.sinks.publish(events)
        if self.auto is not None:
            self.auto.consider(self._by_name[venue], events, fair, now_ns)

    def decided(self, venue: str, now_ns: int, fair: FairValue | None, risk: RiskState) -> None:
        """Bot-wide metrics after a decision: heartbeat, state, PnL."""
        m = self.metrics
        m.heartbeat(now_ns)
        if self.killed is None and not self.stop_event.is_set():
            states = [r.risk_state for r in self.runners]
            if any(rs is None or rs.starting for rs in states):
                m.set_state("starting")
            else:
                quoting = all(rs is not None and rs.quoting for rs in states)
                m.set_state("quoting" if quoting else "paused")
        runner = self._by_name[venue]
        if risk.quoting and venue not in self._quoting:
            self._quoting.add(venue)
            took = time.monotonic() - self._run_t0
            log.info("quoting", "%s quoting %.2f s after start", venue, took, venue=venue)
        if fair is not None and fair.price is not None:
            self._update_pnl(runner, fair.price)
        if self.desk is not None and now_ns - self._capacity_ns.get(venue, 0) >= NS_PER_S:
            self._capacity_ns[venue] = now_ns
            self.desk.observe_capacity(
                venue, runner.market, runner.last_desired, runner.balances, now_ns, runner.scorecard
            )

    def _bot_block(self) -> str:
        # Why auto-execution may send nothing now, bot-wide ("" when it may).
        if self.killed is not None:
            return "kill_switch"
        if self.stop_event.is_set():
            return "stopping"
        return ""

    def idle(self) -> None:
        """A decision loop has nothing waiting: the garbage collector's turn."""
        self.collector.collect_if_due()

    async def housekept(self, venue: str) -> None:
        """A housekeeping round of ``venue`` ended: its ledger checked, its PnL journaled."""
        fair = self._fair
        runner = self._by_name[venue]
        if self.desk is not None:
            self.desk.balances_refreshed(venue, runner.market, runner.balances, fair, self.clock())
        if self.ledger is None or fair is None or fair.price is None:
            return
        if not await self._check_ledger(runner, fair.price):
            return  # a difference seen once: no snapshot until the next round tells
        if self.journal is not None:
            p = self.ledger.pnl(fair.price, venue)
            self.journal.record_pnl(self.clock(), venue, runner.symbol, **p.journal_values())

    async def _check_ledger(self, runner: VenueRunner, fair: Fraction) -> bool:
        # The ledger against the balances just fetched. A difference can be fills the stream
        # has not delivered yet: fetch them and look again. One still there is confirmed at
        # the next round (a fill in the very millisecond of the balances' time can fall
        # either side), then logged, counted and re-synced. True: the ledger agrees now.
        ledger, venue = self.ledger, runner.name
        if ledger is None or venue not in ledger.venues:
            return False
        holdings, market = runner.holdings, runner.market
        as_of = holdings.as_of_ns
        base, quote = _totals(holdings.snapshot, market.base, market.quote)
        diff = ledger.check(venue, base, quote, as_of)
        if diff is not None and (diff.base or diff.quote):
            since = self._ledger_agreed_ns.get(venue, ledger.as_of(venue))
            try:
                await runner.recover_fills(max(0, since - NS_PER_S))
            except VenueError as exc:
                log.warning("fills_fetch_failed", "fills fetch failed: %s", exc, venue=venue)
                return False
            diff = ledger.check(venue, base, quote, as_of)
        if diff is None:
            log.warning("ledger_unchecked", "too many fills to check the ledger", venue=venue)
            return False
        if not diff.base and not diff.quote:
            self._ledger_suspect.pop(venue, None)
            self._ledger_agreed_ns[venue] = as_of
            return True
        if venue not in self._ledger_suspect:
            self._ledger_suspect[venue] = diff
            log.info(
                "ledger_differs",
                "ledger differs from the balances; checking again next round",
                venue=venue,
                base_difference=str(diff.base),
                quote_difference=str(diff.quote),
            )
            return False
        del self._ledger_suspect[venue]
        ledger.resync(venue, base, quote, as_of, fair)
        self._ledger_agreed_ns[venue] = as_of
        self.metrics.ledger_mismatch(venue)
        log.error(
            "ledger_mismatch",
            "ledger differed from %s's balances twice running: re-synced to them",
            venue,
            venue=venue,
            base_difference=str(diff.base),
            quote_difference=str(diff.quote),
            as_of_ns=as_of,
        )
        return True

    def _update_pnl(self, runner: VenueRunner, fair: Fraction) -> None:
        if self.ledger is None:
            self.ledger = Ledger(runner.market)
        ledger = self.ledger
        if runner.name not in ledger.venues and runner.recovered:
            # The venue's balances as of their time, then the fills on top of them.
            holdings, market = runner.holdings, runner.market
            base, quote = _totals(holdings.snapshot, market.base, market.quote)
            ledger.set_balances(
                runner.name, base, quote, cost_price=fair, as_of_ns=holdings.as_of_ns
            )
            self._ledger_agreed_ns[runner.name] = holdings.as_of_ns
            for f in holdings.fills_after():
                self.fill_applied(runner.name, f, recovered=False, new=False)
        if runner.name not in ledger.venues:
            return
        pnl = ledger.pnl(fair, runner.name)
        self.metrics.set_pnl(
            runner.name,
            runner.symbol,
            {
                "realized": float(pnl.realised),
                "unrealized": float(pnl.unrealised),
                "fees": float(pnl.fees),
            },
        )

    # -- kill switch ---------------------------------------------------------------------------

    def kill(self, reason: str, now_ns: int | None = None) -> None:
        """Halt every venue and latch (until :meth:`resume` / ``pegbot resume``)."""
        now = now_ns if now_ns is not None else self.clock()
        self.killed = reason
        self.control.latch(reason, now)
        for r in self.runners:
            r.halt(now, reason)
            self.metrics.set_kill_switch(r.name, True)
        self.metrics.set_state("killed")
        log.warning("kill", "kill switch engaged: %s", reason, reason=reason)

    def resume(self, now_ns: int | None = None) -> None:
        """Leave the halt on every venue (to ``freeze``; risk steps down after its cooldown)."""
        now = now_ns if now_ns is not None else self.clock()
        self.killed = None
        for r in self.runners:
            r.resume(now)
            self.metrics.set_kill_switch(r.name, False)
        self.metrics.set_state("quoting")
        log.warning("resume", "resumed")

    async def control_loop(self) -> None:
        """Check the sentinel files: kill requests, resume requests."""
        period = self.settings.loop.control_interval_s
        while not self.stop_event.is_set():
            reason = self.control.kill_requested()
            if reason is not None:
                self.kill(f"operator: {reason}")
                self.control.take_kill()
            if self.desk is not None:
                self.desk.poll(self.clock())
            fair_decision = self.control.take_fair_decision()
            if fair_decision is not None:
                self.decide_fair_jump(*fair_decision)
            if self.control.resume_requested():
                if self.killed is not None or any(
                    r.risk is not None and r.risk.level is RiskLevel.HALT for r in self.runners
                ):
                    self.resume()
                self.control.take_resume()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), period)

    def handle_signals(self) -> None:
        """SIGTERM/SIGINT stop the bot (cancel all, confirm); SIGUSR1 engages the kill switch."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGUSR1, lambda: self.kill("signal SIGUSR1"))

    def stop(self) -> None:
        """Ask the bot to stop: loops end, then everything is cancelled and confirmed."""
        self.stop_event.set()
        self._wake()

    def _wake(self) -> None:
        # Every venue re-decides now (a new rate, an operator's word, the stop).
        for r in self.runners:
            r.book_changed.set()

    def decide_fair_jump(self, decision: str, by: str) -> bool:
        """Apply an operator's ``ack`` or ``reject`` of a pending fair-value jump.

        Returns:
            False when no jump was pending (nothing changed).
        """
        if self.estimator is None:
            return False
        now = self.clock()
        done = (
            self.estimator.acknowledge_jump(now)
            if decision == "ack"
            else self.estimator.reject_jump(now)
        )
        log.warning(
            "fair_jump_" + ("acknowledged" if decision == "ack" else "rejected"),
            "operator %s %s the fair-value jump%s",
            by,
            "acknowledged" if decision == "ack" else "rejected",
            "" if done else " (none was pending)",
            by=by,
            applied=done,
        )
        self._wake()
        return done

    # -- run -----------------------------------------------------------------------------------

    async def run(
        self, on_started: Callable[[Bot], Coroutine[Any, Any, None]] | None = None
    ) -> dict[str, Any]:
        """Start every venue, run until :meth:`stop`, cancel everything, return a summary."""
        m = self.metrics
        m.set_build_info(self.settings.mode)
        m.init_bot([r.name for r in self.runners], sorted({r.symbol for r in self.runners}))
        m.set_state("starting")
        self._run_t0 = time.monotonic()
        left: dict[str, int] = {}
        stop = self.stop_event
        try:
            # Every venue's market at once; a stop meanwhile (waiting out a ban) ends here.
            if await _until_stopped(self._prepare_venues(), stop):
                await self._serve(stop, on_started)
        finally:
            self.collector.restore()
            m.set_state("stopping")
            stop.set()
            # Every venue at once, each within the one deadline (shutdown_timeout_s).
            timeout = self.settings.loop.shutdown_timeout_s
            results = await asyncio.gather(
                *(self._shutdown_venue(r, timeout) for r in self.runners)
            )
            left.update(zip((r.name for r in self.runners), results, strict=True))
            if self._http_session is not None:
                await self._http_session.close()
            if self._own_journal and self.journal is not None:
                self.journal.close()
        self.final_summary = self.summary(left)
        return self.final_summary

    async def _prepare_venues(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for r in self.runners:
                    tg.create_task(self._start_step(r, "start", r.prepare))
        except ExceptionGroup as group:
            # Each failure was logged, named; the caller sees the first one as it is.
            raise group.exceptions[0] from None
        for r in self.runners:
            self.metrics.init_peg(r.name, r.symbol, self._source_names())

    async def _start_step(
        self, r: VenueRunner, what: str, step: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        # One start-up step of a venue. A 429/418 blocks the venue (the guard waits it out
        # before the next request), and the step is tried again after it; anything else
        # fails the start, named.
        while True:
            try:
                await step()
                return
            except RateLimitedError as exc:
                log.warning(
                    "start_rate_limited",
                    "%s of venue %s rate-limited: trying again once the block ends: %s",
                    what,
                    r.name,
                    describe(exc),
                    venue=r.name,
                )
            except Exception as exc:
                # The cause, named: str() of a time-out is empty (see describe()).
                log.error(
                    "start_failed",
                    "%s of venue %s failed: %s",
                    what,
                    r.name,
                    describe(exc),
                    venue=r.name,
                    error=repr(exc),
                )
                raise

    async def _serve(
        self,
        stop: asyncio.Event,
        on_started: Callable[[Bot], Coroutine[Any, Any, None]] | None,
    ) -> None:
        self._build_fair()
        latched = self.control.latched()
        if latched is not None:
            self.kill(f"latched: {latched}")
        elif self.control.resume_requested():
            self.control.take_resume()
        # Start-up built large long-lived structures (ccxt's markets, strategy tables): move
        # them out of the collector's reach so a full collection cannot stall a tick.
        gc.collect()
        gc.freeze()
        async with asyncio.TaskGroup() as tg:
            ups = []
            for r in self.runners:
                tg.create_task(self._run_feed(r.make_feed(), stop))
                tg.create_task(r.user_data(stop))
                ups.append(tg.create_task(_until_stopped(self._bring_up(r, tg, stop), stop)))
            for p in self.pollers:
                tg.create_task(p.run(stop))  # asks at once: the fair value comes meanwhile
            if self.desk is not None:
                tg.create_task(self.desk.run(stop))
            tg.create_task(self.control_loop())
            tg.create_task(self._when_up(ups, on_started, tg))

    async def _bring_up(self, r: VenueRunner, tg: asyncio.TaskGroup, stop: asyncio.Event) -> None:
        # The venue's recovery, then its loops: no decision before orphans are gone.
        await self._start_step(r, "recovery", r.recover)
        r.book_changed.set()  # decide at once: the book and fair value may be in already
        tg.create_task(r.decision_loop(stop))
        tg.create_task(r.housekeeping(stop))

    async def _when_up(
        self,
        ups: list[asyncio.Task[bool]],
        on_started: Callable[[Bot], Coroutine[Any, Any, None]] | None,
        tg: asyncio.TaskGroup,
    ) -> None:
        if not all(await asyncio.gather(*ups)):
            return  # stopped during start-up
        # And what the venues' start built (markets, clients, feeds): a full collection then
        # scanned them all, a ~100 ms stall while quoting. No collect first: that would stall
        # the first decisions; the little garbage frozen with them is never freed.
        gc.freeze()
        self.collector.install()
        self.started.set()
        log.info(
            "started",
            "every venue recovered in %.2f s: %d orphans cancelled, %d fills recovered",
            time.monotonic() - self._run_t0,
            sum(r.status.orphans_cancelled for r in self.runners),
            sum(r.status.fills_recovered for r in self.runners),
            elapsed_s=round(time.monotonic() - self._run_t0, 3),
        )
        if on_started is not None:
            tg.create_task(on_started(self))

    async def _shutdown_venue(self, r: VenueRunner, timeout_s: float) -> int:
        # Orders possibly left open on ``r`` (-1: unknown), then the venue closed.
        try:
            # The runner keeps to the deadline itself; this is a backstop for a venue call
            # that ignores its time-out.
            still = await asyncio.wait_for(r.shutdown(timeout_s), timeout_s + 1.0)
            n = len(still) if still or r.shutdown_confirmed else -1  # -1: not confirmed
        except Exception as exc:  # report, then close the rest anyway
            ids = r.orders.client_ids()
            log.error(
                "shutdown_failed",
                "shutdown of %s failed: %s; orders may still be open: %s",
                r.name,
                describe(exc),
                ", ".join(ids) or "(none known)",
                venue=r.name,
                open_order_ids=ids,
            )
            n = -1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(r.venue.close(), 2.0)
        return n

    async def _run_feed(self, feed: MarketFeed, stop: asyncio.Event) -> None:
        waiter = asyncio.create_task(stop.wait())
        runner = asyncio.create_task(feed.run())
        try:
            await asyncio.wait({waiter, runner}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Also when another task failed and this one is cancelled: no feed outlives the run.
            feed.stop()
            waiter.cancel()
            await asyncio.wait({runner}, timeout=2.0)
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner

    def _source_names(self) -> list[str]:
        configured = [c.name for c in self.settings.peg.sources]
        return configured + [spec.name for _, spec, _ in self.sources]

    def _session(self) -> Any:
        # The aiohttp session HTTP rate sources share, created on first use.
        if self._http_session is None:
            import aiohttp  # only when a configured source speaks HTTP

            self._http_session = aiohttp.ClientSession()
        return self._http_session

    def _build_fair(self) -> None:
        market = self.runners[0].market
        self.estimator, self.pollers = build_fair(
            self.settings,
            market,
            self.clock,
            self.metrics,
            self._session,
            self.sources,
            on_observation=lambda _obs: self._wake(),
        )
        self.sinks = SignalSinks(market, self.journal, None, self.metrics)
        if self.settings.peg.auto_execute.enabled:
            self.auto = AutoExecutor(
                self.settings.peg.auto_execute,
                self.run_id,
                self.metrics,
                self.journal,
                self.clock,
                self._bot_block,
                self.sinks.publish,
            )
            log.warning("auto_execute_enabled", "auto-execution of the exchange leg is ON")
        signalers = {r.name: r.signaler for r in self.runners if r.signaler is not None}
        if self.journal is not None and signalers:
            self.metrics.init_desk(
                [r.name for r in self.runners], wallets=list(self.settings.desk.chain.wallets)
            )
            self.desk = DeskLoop(
                self.settings,
                self.journal,
                self.sinks,
                signalers,
                self.metrics,
                self.clock,
                self._session,
            )

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
            "signals": sum(len(r.signaler.signals()) for r in self.runners if r.signaler),
            "final_state": "killed"
            if self.killed
            else (max(levels).label if levels else "unknown"),
            "risk_levels": {r.name: r.risk.level.label for r in self.runners if r.risk},
            "open_orders_after_shutdown": sum(max(0, v) for v in (left or {}).values()),
            # False when a venue's cancel-all was not confirmed (its count may be unknown).
            "shutdown_complete": all(v == 0 for v in (left or {}).values()),
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


async def _until_stopped(work: Coroutine[Any, Any, None], stop: asyncio.Event) -> bool:
    """Run ``work`` unless ``stop`` comes first (then cancel it); True when it finished."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()  # its failure, if any
        return True
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return False


def _totals(balances: Mapping[str, Balance], base: str, quote: str) -> tuple[Decimal, Decimal]:
    """Total (free + locked) of the base and quote assets."""
    b, q = balances.get(base), balances.get(quote)
    return (b.total if b else Decimal(0)), (q.total if q else Decimal(0))
