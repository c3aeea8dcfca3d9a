"""Optional auto-execution of an arbitrage signal's exchange leg (``[peg.auto_execute]``).

Off unless ``enabled`` is set. When on, a *newly proposed* signal is approved and its
exchange leg goes out as one LIMIT IOC order at the signal's limit price: it takes what the
book offers up to that price and never rests, so it cannot trade beyond the price the signal
was computed for. Its size is the signal's, cut to the caps (base per signal, quote notional
and executions per UTC day) and to the free balance, in whole lots. The mint/redeem leg stays
the issuer's human process.

Outcome: something filled → the signal is ``executed`` (its reason records the filled size
and the order); nothing filled → ``rejected`` with the reason. The fills arrive like any other
(user stream or recovery), so inventory, the ledger and the journal see them as usual.

Never while the fair value is not ``ok``, the venue's risk level is not ``normal``, the kill
switch is engaged or the bot is stopping: the signal then stays proposed for a human.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from pegbot.config import AutoExecuteSettings
from pegbot.execution.errors import VenueError
from pegbot.execution.risk import RiskLevel
from pegbot.journal import Journal
from pegbot.live.runner import VenueRunner
from pegbot.logging import event_log
from pegbot.market import Rounding, Side
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairState, FairValue
from pegbot.peg.signals import Signal, SignalEvent, SignalKind, SignalState, SignalStateError
from pegbot.timeunits import NS_PER_DAY

__all__ = ["AutoExecutor", "Plan"]

log = event_log("pegbot.bot")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one auto-execution will send (or why it will not: ``skip`` is set)."""

    side: Side
    price_ticks: int
    lots: int
    notional: Decimal
    skip: str = ""


class AutoExecutor:
    """Approves and executes new signals within the caps (see the module docstring).

    Args:
        settings: The ``[peg.auto_execute]`` table.
        run_id: The run's id (in the IOC's client order id).
        metrics: Where outcomes are counted.
        journal: Where the IOC's answer is journaled (None: not journaled).
        clock: Wall clock, int ns UTC.
        bot_block: Why the bot as a whole forbids sending now (``kill_switch``,
            ``stopping``), "" when it does not.
        publish: Sends signal events to the sinks.
    """

    def __init__(
        self,
        settings: AutoExecuteSettings,
        run_id: str,
        metrics: Metrics,
        journal: Journal | None,
        clock: Callable[[], int],
        bot_block: Callable[[], str],
        publish: Callable[[list[SignalEvent]], None],
    ) -> None:
        self.settings = settings
        self.run_id = run_id
        self.metrics = metrics
        self.journal = journal
        self.clock = clock
        self.bot_block = bot_block
        self.publish = publish
        self.day = -1
        self.signals_today = 0
        self.quote_today = Decimal(0)
        self.sent = 0  # orders sent since start (all days)
        self.skipped: dict[str, int] = {}
        self._seq = 0

    def consider(
        self, runner: VenueRunner, events: list[SignalEvent], fair: FairValue, now_ns: int
    ) -> None:
        """Execute each signal first proposed in ``events``, if allowed."""
        if not self.settings.enabled:
            return
        for ev in events:
            if ev.previous is None and ev.signal.state is SignalState.PROPOSED:
                self._one(runner, ev.signal, fair, now_ns)

    def blocked(self, runner: VenueRunner, fair: FairValue) -> str:
        """Why nothing may be sent now on ``runner`` ("" when it may)."""
        blocked = self.bot_block()
        if blocked:
            return blocked
        if fair.state is not FairState.OK or fair.price is None:
            return "fair_not_ok"
        rs = runner.risk_state
        if rs is None or rs.level is not RiskLevel.NORMAL:
            return "risk_not_normal"
        if "IOC" not in runner.venue.capabilities.time_in_force:
            return "venue_without_ioc"
        return ""

    def plan(self, runner: VenueRunner, sig: Signal, now_ns: int) -> Plan:
        """Side, price and size of the IOC for ``sig`` under the caps (pure but for state)."""
        s = self.settings
        m = runner.market
        self._roll(now_ns)
        side = Side.SELL if sig.kind is SignalKind.MINT_AND_SELL else Side.BUY
        price = m.ticks_to_price(sig.limit_ticks)
        if self.signals_today >= s.max_signals_per_day:
            return Plan(side, sig.limit_ticks, 0, Decimal(0), "max_signals_per_day")
        units = min(sig.size_units, m.qty_to_units(s.max_base_per_signal, Rounding.DOWN))
        quote_left = s.max_quote_per_day - self.quote_today
        units = min(units, m.qty_to_units(max(quote_left, Decimal(0)) / price, Rounding.DOWN))
        if side is Side.SELL:
            held = runner.balances.get(m.base)
            free = held.free if held is not None else Decimal(0)
        else:
            held = runner.balances.get(m.quote)
            free = (held.free if held is not None else Decimal(0)) / price
        units = min(units, m.qty_to_units(max(free, Decimal(0)), Rounding.DOWN))
        lots = m.units_to_lots(max(units, 0), Rounding.DOWN)
        if lots <= 0:
            return Plan(side, sig.limit_ticks, 0, Decimal(0), "caps_or_balance")
        return Plan(side, sig.limit_ticks, lots, m.lots_to_qty(lots) * price)

    def _roll(self, now_ns: int) -> None:
        day = now_ns // NS_PER_DAY
        if day != self.day:
            self.day, self.signals_today, self.quote_today = day, 0, Decimal(0)

    def _skip(self, runner: VenueRunner, sig: Signal, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1
        self.metrics.auto_execution(runner.name, f"skipped_{reason}")
        log.info(
            "auto_execute_skipped",
            "auto-execution skipped: %s",
            reason,
            venue=runner.name,
            signal_id=sig.id,
            reason=reason,
        )

    def _one(self, runner: VenueRunner, sig: Signal, fair: FairValue, now_ns: int) -> None:
        reason = self.blocked(runner, fair)
        plan = self.plan(runner, sig, now_ns) if not reason else None
        if plan is not None and plan.skip:
            reason = plan.skip
        if reason or plan is None:
            self._skip(runner, sig, reason)
            return
        signaler = runner.signaler
        assert signaler is not None
        try:
            approved = signaler.approve(sig.id, now_ns)
        except SignalStateError as exc:  # expired meanwhile
            self._skip(runner, sig, "not_live")
            log.info("auto_execute_skipped", "auto-execution: %s", exc, venue=runner.name)
            return
        self.publish([approved])
        # Caps are taken when the order is sent, so two signals can never both pass them.
        self.signals_today += 1
        self.quote_today += plan.notional
        self._seq += 1
        cid = f"pegbot-{self.run_id}-arb-{self._seq}"
        # A late stream event of this order must never enter the quoting live set.
        runner.retire(cid)
        self.sent += 1
        runner.submit(self._execute(runner, sig, plan, cid))

    async def _execute(self, runner: VenueRunner, sig: Signal, plan: Plan, cid: str) -> None:
        m = runner.market
        log.warning(
            "auto_execute",
            "auto-executing signal",
            venue=runner.name,
            signal_id=sig.id,
            client_order_id=cid,
            side=plan.side.name.lower(),
            price=m.format_price(plan.price_ticks),
            qty=m.format_qty(m.lots_to_units(plan.lots)),
        )
        self.metrics.order_submitted(runner.name, runner.symbol, plan.side)
        try:
            upd = await runner.venue.place(
                plan.side, plan.price_ticks, plan.lots, cid, post_only=False, time_in_force="IOC"
            )
        except VenueError as exc:
            self.metrics.auto_execution(runner.name, "error")
            self.metrics.order_rejected(runner.name, runner.symbol, exc.reason)
            if exc.outcome_unknown:
                # It may have traded: its fills come through recovery; a human decides.
                log.error(
                    "auto_execute_unknown",
                    "auto-execution outcome unknown: %s",
                    exc,
                    venue=runner.name,
                    signal_id=sig.id,
                )
                runner.need_recover = True
                return
            self._release(plan)
            self._finish(runner, sig, SignalState.REJECTED, f"auto_execute: order failed: {exc}")
            return
        if self.journal is not None:
            self.journal.record_order(runner.name, runner.symbol, upd, self.clock())
        filled = upd.filled_units
        if filled > 0:
            self.metrics.auto_execution(runner.name, "executed")
            # Only what traded counts against the daily notional.
            self.quote_today -= plan.notional - m.units_to_qty(filled) * m.ticks_to_price(
                plan.price_ticks
            )
            reason = (
                f"auto_execute: filled {m.format_qty(filled)} of "
                f"{m.format_qty(m.lots_to_units(plan.lots))} (signal "
                f"{m.format_qty(sig.size_units)}) order {cid}"
            )
            self._finish(runner, sig, SignalState.EXECUTED, reason)
        else:
            self.metrics.auto_execution(runner.name, "nothing_filled")
            self._release(plan)
            reason = f"auto_execute: nothing filled at {m.format_price(plan.price_ticks)} ({cid})"
            self._finish(runner, sig, SignalState.REJECTED, reason)
        runner.book_changed.set()

    def _release(self, plan: Plan) -> None:
        self.quote_today -= plan.notional

    def _finish(self, runner: VenueRunner, sig: Signal, to: SignalState, reason: str) -> None:
        signaler = runner.signaler
        assert signaler is not None
        now = self.clock()
        try:
            if to is SignalState.EXECUTED:
                ev = signaler.mark_executed(sig.id, now, reason)
            else:
                ev = signaler.reject(sig.id, now, reason)
        except SignalStateError as exc:
            log.error(
                "auto_execute_state",
                "auto-execution: signal state: %s",
                exc,
                venue=runner.name,
                signal_id=sig.id,
            )
            return
        self.publish([ev])
