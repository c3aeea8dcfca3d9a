"""The running bot's side of the desk: apply queued operator decisions, export transitions.

Contract for the live loop (call from the control task, e.g. every
``loop.control_interval_s``; it never blocks on anything but the local SQLite file)::

    watcher = DeskWatcher(journal, [runner.signaler ...], bot.sinks, bot.metrics)
    ...
    events = watcher.poll(now_ns)   # decisions applied and already published to the sinks

:meth:`DeskWatcher.poll` does two cheap indexed reads:

1. pending ``desk_actions`` after its cursor (``seq`` only grows). Each one is applied to the
   signaler of the signal's venue inside one journal write transaction: the signaler moves
   the signal (approve, reject, mark_executed), the sinks publish the event (journal row,
   webhook outbox, JSON lines, metrics), the action is marked ``applied`` and the step's
   figures are stored, or the action is marked ``refused`` with the signaler's reason (an
   expired signal, an unknown one). An ``executed`` decision carrying an issuer ``ref``
   also records the issuer leg as ``requested``.
2. new ``signal_transitions`` rows after its cursor, whoever wrote them (the bot's own
   signaler, an operator, the issuer adapter, the chain): each increments
   ``pegbot_signal_transitions_total{kind,to_state}`` and sets
   ``pegbot_signal_last_transition_timestamp_seconds``; a ``deposited`` one adds its round
   trip to the PnL metrics. An ``executed`` transition written by auto-execution gets its
   exchange-leg figures from the order's journaled fills (the order id is in its reason).

It then counts the signals still open per kind and state (``pegbot_signals_open``): every
poll, since a proposal's expiry changes the count without a transition.

The returned events are only for the caller's own follow-ups (e.g. auto-execution after an
approval); they are already published.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal

from pegbot.desk.pnl import decimal_str, exchange_leg_from_fills
from pegbot.desk.store import DeskAction, DeskStore, Transition
from pegbot.journal import Journal
from pegbot.logging import event_log
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.signals import (
    ArbSignaler,
    Signal,
    SignalEvent,
    SignalKind,
    SignalState,
    SignalStateError,
)
from pegbot.peg.sinks import SignalSinks
from pegbot.timeunits import NS_PER_S

__all__ = ["DeskWatcher"]

log = event_log(__name__)

_AUTO_ORDER = re.compile(r"\b(pegbot-[A-Za-z0-9]+-arb-\d+)\b")


class DeskWatcher:
    """Applies operator decisions to the running signalers and exports every transition.

    Args:
        journal: The bot's journal (the same connection the sinks write to).
        signalers: The bot's signalers (one per venue; matched by ``signaler.venue``).
        sinks: The bot's sinks; they must write to ``journal``.
        metrics: The bot's metrics (the desk's rows).
    """

    def __init__(
        self,
        journal: Journal,
        signalers: Iterable[ArbSignaler],
        sinks: SignalSinks,
        metrics: Metrics,
    ) -> None:
        if sinks.journal is not journal:
            raise ValueError("the sinks must write to the watcher's journal (one writer)")
        self.journal = journal
        self.store = DeskStore(journal)
        self.signalers: Mapping[str, ArbSignaler] = {s.venue: s for s in signalers}
        self.sinks = sinks
        self.metrics = metrics
        first = self.store.pending()
        self._action_seq = first[0].seq - 1 if first else 0
        # Counters count from this process's start; the last-transition gauges and the
        # realised PnL come from the whole journal.
        self._transition_seq = self.store.last_transition_seq()
        for (kind, state), at_ns in self.store.last_transition_times().items():
            if _known(kind, state):
                metrics.signal_last_transition.labels(kind=kind, to_state=state).set(
                    at_ns / NS_PER_S
                )
        self._refresh_pnl()
        self._open_seen: set[tuple[str, str]] = set()

    def poll(self, now_ns: int) -> list[SignalEvent]:
        """Apply pending decisions and export new transitions (see the module docstring)."""
        events: list[SignalEvent] = []
        for action in self.store.pending(self._action_seq):
            event = self._apply(action, now_ns)
            if event is not None:
                events.append(event)
            self._action_seq = action.seq
        self._export(self.store.transitions_after(self._transition_seq))
        self._refresh_open(now_ns)
        return events

    # -- decisions --------------------------------------------------------------------------

    def _apply(self, action: DeskAction, now_ns: int) -> SignalEvent | None:
        with self.journal.transaction():
            current = self.store.action(action.seq)
            if current.status != "pending":  # withdrawn by its CLI meanwhile
                return None
            try:
                figures = self._figures(action) if action.action == "executed" else {}
                event = self._move(action, now_ns)
            except (SignalStateError, ValueError) as exc:
                self.store.finish(action.seq, "refused", str(exc), now_ns)
                self.metrics.desk_actions.labels(action=action.action, result="refused").inc()
                log.warning(
                    "desk_action_refused",
                    "%s %s refused: %s",
                    action.action,
                    action.signal_id,
                    exc,
                    signal_id=action.signal_id,
                    action=action.action,
                    actor=action.actor,
                )
                return None
            self.sinks.publish([event])
            self.store.finish(action.seq, "applied", event.signal.state.value, now_ns)
            if action.action == "executed":
                self._executed(action, event, figures, now_ns)
        self.metrics.desk_actions.labels(action=action.action, result="applied").inc()
        log.info(
            "desk_action_applied",
            "%s %s by %s",
            action.action,
            action.signal_id,
            action.actor,
            signal_id=action.signal_id,
            action=action.action,
            actor=action.actor,
        )
        return event

    def _move(self, action: DeskAction, now_ns: int) -> SignalEvent:
        venue = self._venue_of(action.signal_id)
        signaler = self.signalers.get(venue)
        if signaler is None:
            raise SignalStateError(f"no running signaler for venue {venue!r}")
        try:
            signaler.signal(action.signal_id)
        except SignalStateError:
            raise SignalStateError(
                f"signal {action.signal_id} is not live in this bot (raised by an earlier run?)"
            ) from None
        by = f"{action.action} by {action.actor}"
        reason = str(action.args.get("reason", ""))
        if action.action == "approve":
            return signaler.approve(action.signal_id, now_ns)
        if action.action == "reject":
            return signaler.reject(action.signal_id, now_ns, f"{by}: {reason or 'rejected'}")
        if action.action == "executed":
            return signaler.mark_executed(action.signal_id, now_ns, by)
        raise SignalStateError(f"unknown decision {action.action!r}")

    def _venue_of(self, signal_id: str) -> str:
        return str(self.store.record(signal_id)["venue"])

    def _figures(self, action: DeskAction) -> dict[str, str]:
        # The exchange leg's figures, resolved before the signaler moves: an order without
        # journaled fills refuses the action instead of leaving a half-applied one.
        args = action.args
        keys = ("qty", "price", "quote", "fee", "order")
        figures: dict[str, str] = {k: str(args[k]) for k in keys if k in args}
        if "order" in figures:
            venue = self._venue_of(action.signal_id)
            signaler = self.signalers.get(venue)
            if signaler is None:
                raise SignalStateError(f"no running signaler for venue {venue!r}")
            sig = signaler.signal(action.signal_id)
            figures.update(self._fills_figures(signaler.market, sig, figures["order"]))
        return figures

    def _executed(
        self, action: DeskAction, event: SignalEvent, figures: dict[str, str], now_ns: int
    ) -> None:
        self.store.add_step(
            event.signal.id, SignalState.EXECUTED, now_ns, action.actor, "manual", figures
        )
        ref = action.args.get("ref")
        if ref:
            market = self.signalers[event.signal.venue].market
            amount = decimal_str(market.units_to_qty(event.signal.size_units))
            step = {"ref": str(ref), "amount": amount}
            self.store.advance(
                event.signal.id, SignalState.REQUESTED, now_ns, action.actor, "manual", step
            )

    def _fills_figures(self, market: Market, sig: Signal, order: str) -> dict[str, str]:
        fills = self.journal.fills(sig.venue, sig.symbol, sig.created_ns)
        leg = exchange_leg_from_fills(fills, order, market)  # ValueError: the caller refuses
        return {
            k: decimal_str(v)
            for k, v in (("qty", leg.base), ("quote", leg.quote), ("fee", leg.fee))
        }

    # -- transitions -------------------------------------------------------------------------

    def _export(self, transitions: list[Transition]) -> None:
        closed = False
        for t in transitions:
            self._transition_seq = t.seq
            if not _known(t.kind, t.to_state):
                log.error(
                    "desk_unknown_state",
                    "signal %s: unknown kind or state %s/%s",
                    t.signal_id,
                    t.kind,
                    t.to_state,
                    signal_id=t.signal_id,
                )
                continue
            self.metrics.signal_transitions.labels(kind=t.kind, to_state=t.to_state).inc()
            self.metrics.signal_last_transition.labels(kind=t.kind, to_state=t.to_state).set(
                t.at_ns / NS_PER_S
            )
            if t.to_state == SignalState.EXECUTED.value:
                self._auto_executed(t)
            if t.to_state == SignalState.DEPOSITED.value:
                closed = True
                if any(r["signal_id"] == t.signal_id for r in self.store.round_trips(t.at_ns)):
                    self.metrics.round_trips.labels(kind=t.kind).inc()
        if closed:
            self._refresh_pnl()

    def _auto_executed(self, t: Transition) -> None:
        # Auto-execution marks a signal executed with its order id in the reason and no
        # figures; take the exchange leg from that order's journaled fills.
        match = _AUTO_ORDER.search(t.reason)
        if match is None or any(
            s.state is SignalState.EXECUTED for s in self.store.steps(t.signal_id)
        ):
            return
        record = self.store.record(t.signal_id)
        signaler = self.signalers.get(record["venue"])
        if signaler is None:
            return
        try:
            sig = signaler.signal(t.signal_id)
            figures = {"order": match.group(1)}
            figures.update(self._fills_figures(signaler.market, sig, match.group(1)))
        except (SignalStateError, ValueError) as exc:
            log.warning(
                "desk_exchange_leg_unknown",
                "signal %s: exchange leg unknown: %s",
                t.signal_id,
                exc,
                signal_id=t.signal_id,
            )
            return
        self.store.add_step(
            t.signal_id, SignalState.EXECUTED, t.at_ns, "auto_execute", "auto", figures
        )

    def _refresh_open(self, now_ns: int) -> None:
        counts = {k: n for k, n in self.store.open_counts(now_ns).items() if _known(*k)}
        # A (kind, state) that emptied since the last poll goes back to 0.
        for kind, state in self._open_seen | set(counts):
            self.metrics.signals_open.labels(kind=kind, state=state).set(
                counts.get((kind, state), 0)
            )
        self._open_seen = set(counts)

    def _refresh_pnl(self) -> None:
        totals: dict[str, Decimal] = {}
        for r in self.store.round_trips():
            totals[r["kind"]] = totals.get(r["kind"], Decimal(0)) + Decimal(r["pnl_quote"])
        for kind, total in totals.items():
            if _known(kind, SignalState.DEPOSITED.value):
                self.metrics.round_trip_pnl.labels(kind=kind).set(float(total))


def _known(kind: str, state: str) -> bool:
    return kind in SignalKind._value2member_map_ and state in SignalState._value2member_map_
