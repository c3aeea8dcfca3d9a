"""What an operator (or an adapter) does to a signal, checked against the journal.

:class:`SignalDesk` is the library behind ``pegbot signals approve|reject|executed|…``:

* :meth:`SignalDesk.decide` checks a decision against the signal's journaled state and
  expiry (an invalid one raises :class:`DeskError` before anything is written), queues it
  for the running bot and :meth:`SignalDesk.wait` returns its outcome. A decision no bot
  applied within the wait is withdrawn: an approval means "now", not "whenever a bot next
  starts".
* :meth:`SignalDesk.record_fact` records an issuer-leg fact directly (see
  :mod:`pegbot.desk.store` for why those need no bot); on ``deposited`` it computes the
  round trip's realised PnL and stores it in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pegbot.desk.pnl import RoundTrip, decimal_str, round_trip
from pegbot.desk.store import DeskAction, DeskStore
from pegbot.journal import Journal
from pegbot.logging import event_log
from pegbot.peg.signals import SignalState, SignalStateError, check_transition
from pegbot.timeunits import NS_PER_S

__all__ = ["DECISION_TARGETS", "DeskError", "SignalDesk"]

log = event_log(__name__)

#: The state each decision moves a signal to.
DECISION_TARGETS: dict[str, SignalState] = {
    "approve": SignalState.APPROVED,
    "reject": SignalState.REJECTED,
    "executed": SignalState.EXECUTED,
}


class DeskError(ValueError):
    """A refused operator action (unknown signal, forbidden transition, expired, pending)."""


class SignalDesk:
    """Operator actions on the journal (see the module docstring).

    Args:
        journal: The journal the bot writes.
        clock: Wall clock, int ns UTC.
    """

    def __init__(self, journal: Journal, clock: Callable[[], int] = time.time_ns) -> None:
        self.journal = journal
        self.store = DeskStore(journal)
        self.clock = clock

    def decide(
        self, signal_id: str, action: str, actor: str, args: Mapping[str, Any] | None = None
    ) -> int:
        """Queue a decision for the running bot after checking it; returns the action's seq.

        Raises:
            DeskError: Unknown signal, a transition the state machine forbids, an expired
                signal, or another decision on it still pending.
        """
        to = DECISION_TARGETS.get(action)
        if to is None:
            raise DeskError(f"unknown decision {action!r}")
        now = self.clock()
        with self.journal.transaction():
            record = self._record(signal_id)
            state = _checked(signal_id, record["state"], to)
            if state.live and now >= int(record["expires_ns"]):
                raise DeskError(
                    f"signal {signal_id} expired at {_iso(int(record['expires_ns']))}: "
                    f"it can no longer be {to.value}"
                )
            waiting = [a for a in self.store.actions(signal_id) if a.status == "pending"]
            if waiting:
                raise DeskError(
                    f"signal {signal_id}: {waiting[0].action} by {waiting[0].actor} is still "
                    f"pending (action {waiting[0].seq})"
                )
            seq = self.store.enqueue(signal_id, action, actor, now, dict(args or {}))
        log.info(
            "desk_action_queued",
            "%s %s queued by %s",
            action,
            signal_id,
            actor,
            signal_id=signal_id,
            action=action,
            actor=actor,
            seq=seq,
        )
        return seq

    def wait(self, seq: int, timeout_s: float, poll_s: float = 0.05) -> DeskAction:
        """Wait for the bot to apply or refuse action ``seq``; withdraw it at the timeout.

        Returns:
            The action as it ended: ``applied``, ``refused`` (with the bot's reason), or
            ``refused`` with outcome ``withdrawn: …`` when no bot took it in time.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            action = self.store.action(seq)
            if action.status != "pending":
                return action
            if time.monotonic() >= deadline:
                break
            time.sleep(poll_s)
        # The bot applies inside one write transaction, so this either withdraws a still
        # pending action or finds it finished: never both.
        self.store.finish(
            seq,
            "refused",
            f"withdrawn: no running bot applied it within {timeout_s:g} s",
            self.clock(),
        )
        return self.store.action(seq)

    def record_fact(
        self,
        signal_id: str,
        to: SignalState,
        actor: str,
        figures: Mapping[str, str] | None = None,
        reason: str = "",
        source: str = "manual",
        at_ns: int | None = None,
    ) -> dict[str, Any]:
        """Record an issuer-leg fact (requested, confirmed, settled, deposited, failed).

        Returns:
            The signal's new record.

        Raises:
            DeskError: Unknown signal, forbidden transition, or a bad figure.
        """
        at = self.clock() if at_ns is None else at_ns
        try:
            with self.journal.transaction():
                record = self.store.advance(signal_id, to, at, actor, source, figures or {}, reason)
                if to is SignalState.DEPOSITED:
                    trip = self.round_trip(signal_id)
                    if trip.pnl is not None:
                        self.store.record_round_trip(
                            signal_id, trip.kind.value, at, decimal_str(trip.pnl), trip.breakdown
                        )
        except SignalStateError as exc:
            raise DeskError(str(exc)) from exc
        except ValueError as exc:  # a figure that is not a number
            raise DeskError(f"signal {signal_id}: {exc}") from exc
        log.info(
            "issuer_leg_step",
            "%s %s by %s",
            signal_id,
            to.value,
            actor,
            signal_id=signal_id,
            state=to.value,
            actor=actor,
            source=source,
        )
        return record

    def round_trip(self, signal_id: str) -> RoundTrip:
        """The signal's round trip as far as the journal knows it."""
        try:
            return round_trip(self._record(signal_id), self.store.steps(signal_id))
        except ValueError as exc:
            raise DeskError(f"signal {signal_id}: {exc}") from exc

    def _record(self, signal_id: str) -> dict[str, Any]:
        try:
            return self.store.record(signal_id)
        except SignalStateError as exc:
            raise DeskError(str(exc)) from exc


def _checked(signal_id: str, state_value: str, to: SignalState) -> SignalState:
    try:
        state = SignalState(state_value)
    except ValueError:
        raise DeskError(f"signal {signal_id} has unknown state {state_value!r}") from None
    try:
        check_transition(signal_id, state, to)
    except SignalStateError as exc:
        raise DeskError(str(exc)) from exc
    return state


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ns / NS_PER_S))
