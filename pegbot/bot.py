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
import logging
import secrets
import string
import time
from collections.abc import Callable, Coroutine
from decimal import Decimal
from fractions import Fraction
from typing import Any

from pegbot.bot_autoexec import AutoExecutor
from pegbot.bot_venue import BotStatus, VenueRunner
from pegbot.config import Settings, VenueSettings
from pegbot.control import Control
from pegbot.execution.risk import RiskLevel, RiskState
from pegbot.execution.venue import Fill, Venue
from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.ccxt_feed import CcxtFeed
from pegbot.journal import Journal
from pegbot.ledger import Ledger, LedgerError
from pegbot.logging import describe
from pegbot.market import Market, Rounding
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairEstimator, FairValue
from pegbot.peg.poll import RatePoller
from pegbot.peg.sinks import SignalSinks, export_fair
from pegbot.strategy import (
    Inventory,
)
from pegbot.timeunits import NS_PER_S

__all__ = ["Bot", "BotStatus", "VenueFactory", "VenueRunner", "new_run_id"]

log = logging.getLogger("pegbot.bot")

#: Builds the venue of one ``[venues.<name>]`` table for the bot's mode.
VenueFactory = Callable[[str, VenueSettings, Settings], Venue]


def new_run_id() -> str:
    """A fresh 8-character run id (client order ids carry it)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(8))


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
        self.auto: AutoExecutor | None = None  # ``[peg.auto_execute]`` (off by default)
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
        return int(value) if value else self.clock() - 24 * 3600 * NS_PER_S

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
            if self.killed is None and not self.stop_event.is_set():
                quoting = all(r.risk_state is None or r.risk_state.quoting for r in self.runners)
                m.set_state("quoting" if quoting else "paused")
        if now_ns - runner._last_signal_ns < 200_000_000 or runner.feed is None:
            return  # the rest is for humans: five times a second is plenty
        runner._last_signal_ns = now_ns
        market = runner.market
        fair_ticks = float(fair.price / Fraction(market.tick_size)) if fair and fair.price else None
        if runner.feed.synced:
            m.observe_book(
                runner.name, runner.symbol, runner.feed.book, market, fair_ticks, now_ns,
                confirmed_ns=runner.feed_health().book_ts_ns,
            )  # fmt: skip
        self._connectivity(runner, now_ns)
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
                events = list(runner.signaler.evaluate(now_ns, runner.feed.book, fair))
                self.sinks.publish(events)
                if self.auto is not None and events:
                    self.auto.consider(runner, events, fair, now_ns)
        if fair is not None and fair.price is not None:
            self._update_pnl(runner, fair.price)
        base = runner.balances.get(market.base)
        limit = self.settings.risk.max_base_lots
        held = float(base.total) if base is not None else 0.0
        ratio = held / float(market.lots_to_qty(limit)) if limit else 0.0
        m.set_inventory(runner.name, runner.symbol, held, ratio)

    def _connectivity(self, runner: VenueRunner, now_ns: int) -> None:
        m = self.metrics
        feed = runner.feed
        up = feed is not None and feed.synced and not runner.book_lost
        m.set_ws_connected(runner.name, "depth", up)
        m.set_ws_connected(runner.name, "trades", up and bool(feed and feed.config.trades))
        m.set_ws_connected(runner.name, "user", runner.user_connected and runner.venue_stream_up())
        if feed is not None:
            # Reconnects of the market stream, counted from the feed's own counter.
            new = feed.counters.connects - 1 - runner.reported_reconnects
            if new > 0:
                for _ in range(new):
                    m.ws_reconnected(runner.name, "depth")
                runner.reported_reconnects += new
        budget = runner.budget
        if budget is not None:
            # Share of the tightest bucket in use (0 = idle, 1 = exhausted).
            used = max((1 - b.tokens(now_ns) / b.limit.limit for b in budget.buckets), default=0.0)
            m.set_rate_limit(runner.name, max(0.0, used))

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
                try:
                    await r.start()
                except Exception as exc:
                    # The cause, named: str() of a time-out is empty (see describe()).
                    log.error("start of venue %s failed: %s", r.name, describe(exc),
                              extra={"event": "start_failed", "venue": r.name,
                                     "error": repr(exc)})  # fmt: skip
                    raise
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
            # Start-up built large long-lived structures (ccxt's markets, strategy tables):
            # move them out of the collector's reach so a full collection cannot stall a tick.
            gc.collect()
            gc.freeze()
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
            # Every venue at once, each within the one deadline (shutdown_timeout_s).
            timeout = self.settings.loop.shutdown_timeout_s
            results = await asyncio.gather(
                *(self._shutdown_venue(r, timeout) for r in self.runners)
            )
            left.update(zip((r.name for r in self.runners), results, strict=True))
            if self.http_session is not None:
                await self.http_session.close()
            if self._own_journal and self.journal is not None:
                self.journal.close()
        return self.summary(left)

    async def _shutdown_venue(self, r: VenueRunner, timeout_s: float) -> int:
        # Orders possibly left open on ``r`` (-1: unknown), then the venue closed.
        try:
            # The runner keeps to the deadline itself; this is a backstop for a venue call
            # that ignores its time-out.
            still = await asyncio.wait_for(r.shutdown(timeout_s), timeout_s + 1.0)
            n = len(still) if still or r.shutdown_confirmed else -1  # -1: not confirmed
        except Exception as exc:  # report, then close the rest anyway
            log.error("shutdown of %s failed: %s; orders may still be open: %s", r.name,
                      describe(exc), ", ".join(sorted(r.live)) or "(none known)",
                      extra={"event": "shutdown_failed", "venue": r.name,
                             "open_order_ids": sorted(r.live)})  # fmt: skip
            n = -1
        with contextlib.suppress(Exception):
            await asyncio.wait_for(r.venue.close(), 2.0)
        return n

    async def _run_feed(self, feed: BinanceFeed | CcxtFeed, stop: asyncio.Event) -> None:
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
        if self.settings.peg.auto_execute.enabled:
            self.auto = AutoExecutor(self, self.settings.peg.auto_execute)
            log.warning("auto-execution of the exchange leg is ON",
                        extra={"event": "auto_execute_enabled"})  # fmt: skip

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
