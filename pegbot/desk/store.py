"""The desk's tables in the journal: operator actions, step figures, round trips, cursors.

The journal stays the single source of truth, shared by the running bot and the ``pegbot
signals`` commands (two processes, two connections to one WAL file). Two kinds of writes:

* **Decisions** on a live signal (approve, reject, executed) belong to the bot: its
  :class:`~pegbot.peg.signals.ArbSignaler` owns expiry, caps and cooldowns, so a second
  writer of those states would race it. The CLI *enqueues* a decision (``desk_actions``,
  status ``pending``); the bot's :class:`~pegbot.desk.watcher.DeskWatcher` applies pending
  actions in ``seq`` order and marks each ``applied`` or ``refused`` with the reason.
* **Issuer-leg facts** (requested, confirmed, settled, deposited, failed) come after the
  signaler is done with a signal. Whoever learns one (an operator, the issuer's API, the
  chain) records it with :meth:`DeskStore.advance`: one ``BEGIN IMMEDIATE`` transaction
  reads the state, checks the transition against the one state machine
  (:func:`~pegbot.peg.signals.check_transition`) and writes the new state, the audit-trail
  transition, the step's figures and the action row. SQLite's write lock serialises it
  against the bot's writes, so neither side loses or overwrites the other's.

Money figures are exact decimal strings, never REAL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pegbot.journal import Journal
from pegbot.peg.signals import SignalState, SignalStateError, check_transition

__all__ = [
    "ACTION_STATUSES",
    "DECISIONS",
    "DeskAction",
    "DeskStore",
    "Step",
    "Transition",
]

#: Actions the running bot applies (the signaler owns live signals).
DECISIONS: tuple[str, ...] = ("approve", "reject", "executed")
#: ``desk_actions.status`` values.
ACTION_STATUSES: tuple[str, ...] = ("pending", "applied", "refused")


@dataclass(frozen=True, slots=True)
class DeskAction:
    """One row of ``desk_actions``: who asked for what, and what became of it.

    Attributes:
        seq: Monotonically increasing id (the watcher's cursor).
        signal_id: The signal acted on.
        action: ``approve``, ``reject``, ``executed`` or an issuer-leg state.
        actor: Who (``--by``, an adapter name, ``chain``).
        at_ns: When it was asked.
        args: Its arguments (reason, ref, figures).
        status: ``pending``, ``applied`` or ``refused``.
        outcome: Why it was refused, or what it did.
        done_ns: When it was applied or refused.
    """

    seq: int
    signal_id: str
    action: str
    actor: str
    at_ns: int
    args: dict[str, Any]
    status: str
    outcome: str
    done_ns: int | None


@dataclass(frozen=True, slots=True)
class Step:
    """The figures recorded when a signal entered ``state`` (a row of ``signal_steps``)."""

    seq: int
    signal_id: str
    state: SignalState
    at_ns: int
    actor: str
    source: str
    figures: dict[str, str]


@dataclass(frozen=True, slots=True)
class Transition:
    """A row of ``signal_transitions`` with the signal's kind (for metrics)."""

    seq: int
    signal_id: str
    kind: str
    from_state: str | None
    to_state: str
    at_ns: int
    reason: str


_ACTION_COLUMNS = "seq, signal_id, action, actor, at_ns, args, status, outcome, done_ns"


def _action(r: Sequence[Any]) -> DeskAction:
    return DeskAction(
        int(r[0]),
        r[1],
        r[2],
        r[3],
        int(r[4]),
        json.loads(r[5]),
        r[6],
        r[7],
        None if r[8] is None else int(r[8]),
    )


class DeskStore:
    """The desk's reads and writes on one journal connection (see the module docstring).

    Args:
        journal: An open journal (migrated to the desk's tables).
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.conn = journal.conn

    # -- signals ---------------------------------------------------------------------------

    def record(self, signal_id: str) -> dict[str, Any]:
        """The stored record of a signal.

        Raises:
            SignalStateError: No such signal in the journal.
        """
        row = self.conn.execute("SELECT record FROM signals WHERE id = ?", (signal_id,)).fetchone()
        if row is None:
            raise SignalStateError(f"unknown signal {signal_id!r}")
        record: dict[str, Any] = json.loads(row[0])
        return record

    def records(
        self,
        states: Sequence[str] = (),
        kinds: Sequence[str] = (),
        since_ns: int | None = None,
        until_ns: int | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Signal records, newest first, filtered by state, kind and creation time."""
        sql = "SELECT record FROM signals WHERE 1 = 1"
        args: list[Any] = []
        if states:
            sql += f" AND state IN ({','.join('?' * len(states))})"
            args += list(states)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        if since_ns is not None:
            sql += " AND created_ns >= ?"
            args.append(since_ns)
        if until_ns is not None:
            sql += " AND created_ns < ?"
            args.append(until_ns)
        sql += " ORDER BY created_ns DESC, id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        return [json.loads(r[0]) for r in self.conn.execute(sql, args).fetchall()]

    def advance(
        self,
        signal_id: str,
        to: SignalState,
        at_ns: int,
        actor: str,
        source: str,
        figures: Mapping[str, str] | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        """Record an issuer-leg fact: move the signal to ``to`` with the step's figures.

        Returns:
            The signal's new record.

        Raises:
            SignalStateError: Unknown signal, or a transition the state machine forbids
                (also when the journal holds a state this pegbot does not know).
        """
        if to.live or to in (SignalState.EXECUTED, SignalState.EXPIRED, SignalState.REJECTED):
            raise SignalStateError(f"{to.value} is the bot's decision, not an issuer-leg fact")
        with self.journal.transaction():
            record = self.record(signal_id)
            check_transition(signal_id, _state(record["state"], signal_id), to)
            previous = record["state"]
            record.update(state=to.value, updated_ns=at_ns, reason=reason)
            self.conn.execute(
                "UPDATE signals SET state = ?, updated_ns = ?, record = ? WHERE id = ?",
                (
                    to.value,
                    at_ns,
                    json.dumps(record, sort_keys=True, separators=(",", ":")),
                    signal_id,
                ),
            )
            self.conn.execute(
                "INSERT INTO signal_transitions (signal_id, from_state, to_state, at_ns, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                (signal_id, previous, to.value, at_ns, reason),
            )
            self.add_step(signal_id, to, at_ns, actor, source, figures or {})
            args = {"reason": reason, **(figures or {})}
            self.conn.execute(
                f"INSERT INTO desk_actions ({_ACTION_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?,"
                " 'applied', 'ok', ?)",
                (signal_id, to.value, actor, at_ns, json.dumps(args, sort_keys=True), at_ns),
            )
        return record

    def add_step(
        self,
        signal_id: str,
        state: SignalState,
        at_ns: int,
        actor: str,
        source: str,
        figures: Mapping[str, str],
    ) -> None:
        """Store the figures of one step (the exchange leg's on ``executed``)."""
        text = json.dumps(dict(figures), sort_keys=True)
        self.conn.execute(
            "INSERT INTO signal_steps (signal_id, state, at_ns, actor, source, figures)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (signal_id, state.value, at_ns, actor, source, text),
        )

    def steps(self, signal_id: str) -> list[Step]:
        """Every recorded step of a signal, in order."""
        rows = self.conn.execute(
            "SELECT seq, signal_id, state, at_ns, actor, source, figures FROM signal_steps"
            " WHERE signal_id = ? ORDER BY seq",
            (signal_id,),
        ).fetchall()
        return [
            Step(int(r[0]), r[1], _state(r[2], r[1]), int(r[3]), r[4], r[5], json.loads(r[6]))
            for r in rows
        ]

    def transitions_after(self, seq: int, limit: int = 1000) -> list[Transition]:
        """Transitions of every signal with ``seq`` greater than ``seq``, in order."""
        rows = self.conn.execute(
            "SELECT t.seq, t.signal_id, s.kind, t.from_state, t.to_state, t.at_ns, t.reason"
            " FROM signal_transitions t JOIN signals s ON s.id = t.signal_id"
            " WHERE t.seq > ? ORDER BY t.seq LIMIT ?",
            (seq, limit),
        ).fetchall()
        return [Transition(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6]) for r in rows]

    def last_transition_seq(self) -> int:
        """The newest transition's seq (0 when there is none)."""
        row = self.conn.execute("SELECT MAX(seq) FROM signal_transitions").fetchone()
        return 0 if row[0] is None else int(row[0])

    def last_transition_times(self) -> dict[tuple[str, str], int]:
        """When a signal of each kind last entered each state, from the whole journal."""
        rows = self.conn.execute(
            "SELECT s.kind, t.to_state, MAX(t.at_ns) FROM signal_transitions t"
            " JOIN signals s ON s.id = t.signal_id GROUP BY s.kind, t.to_state"
        ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    def open_counts(self, now_ns: int) -> dict[tuple[str, str], int]:
        """Signals per ``(kind, state)`` in a state they can still leave, at ``now_ns``.

        A proposed or approved signal past its expiry counts as gone: the signaler that
        would journal its expiry may have stopped (an earlier run), and it can no longer be
        decided (:class:`~pegbot.desk.operator.SignalDesk` refuses it).
        """
        open_states = [s.value for s in SignalState if not s.final]
        live = [s.value for s in SignalState if s.live]
        rows = self.conn.execute(
            f"SELECT kind, state, COUNT(*) FROM signals WHERE state IN "
            f"({','.join('?' * len(open_states))}) AND NOT (state IN "
            f"({','.join('?' * len(live))}) AND expires_ns <= ?) GROUP BY kind, state",
            (*open_states, *live, now_ns),
        ).fetchall()
        return {(r[0], r[1]): int(r[2]) for r in rows}

    # -- actions ---------------------------------------------------------------------------

    def enqueue(
        self, signal_id: str, action: str, actor: str, at_ns: int, args: Mapping[str, Any]
    ) -> int:
        """Queue a decision for the running bot; returns its seq."""
        if action not in DECISIONS:
            raise ValueError(f"{action!r} is not a decision the bot applies")
        with self.journal.transaction():
            cur = self.conn.execute(
                f"INSERT INTO desk_actions ({_ACTION_COLUMNS}) VALUES (NULL, ?, ?, ?, ?, ?,"
                " 'pending', '', NULL)",
                (signal_id, action, actor, at_ns, json.dumps(dict(args), sort_keys=True)),
            )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def pending(self, after_seq: int = 0) -> list[DeskAction]:
        """Pending decisions after ``after_seq``, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM desk_actions WHERE status = 'pending' AND seq > ?"
            " ORDER BY seq",
            (after_seq,),
        ).fetchall()
        return [_action(r) for r in rows]

    def finish(self, seq: int, status: str, outcome: str, done_ns: int) -> None:
        """Mark a pending action applied or refused (inside the caller's transaction if any)."""
        if status not in ("applied", "refused"):
            raise ValueError(f"bad action status {status!r}")
        with self.journal.transaction():
            self.conn.execute(
                "UPDATE desk_actions SET status = ?, outcome = ?, done_ns = ?"
                " WHERE seq = ? AND status = 'pending'",
                (status, outcome[:500], done_ns, seq),
            )

    def action(self, seq: int) -> DeskAction:
        """One action by seq."""
        row = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM desk_actions WHERE seq = ?", (seq,)
        ).fetchone()
        if row is None:
            raise KeyError(seq)
        return _action(row)

    def actions(self, signal_id: str) -> list[DeskAction]:
        """Every action on a signal, oldest first."""
        rows = self.conn.execute(
            f"SELECT {_ACTION_COLUMNS} FROM desk_actions WHERE signal_id = ? ORDER BY seq",
            (signal_id,),
        ).fetchall()
        return [_action(r) for r in rows]

    # -- round trips -----------------------------------------------------------------------

    def record_round_trip(
        self, signal_id: str, kind: str, closed_ns: int, pnl: str, breakdown: Mapping[str, Any]
    ) -> None:
        """Store a closed round trip's realised PnL (idempotent per signal)."""
        self.conn.execute(
            "INSERT OR REPLACE INTO round_trips (signal_id, kind, closed_ns, pnl_quote, breakdown)"
            " VALUES (?, ?, ?, ?, ?)",
            (signal_id, kind, closed_ns, pnl, json.dumps(dict(breakdown), sort_keys=True)),
        )

    def round_trips(self, since_ns: int = 0) -> list[dict[str, Any]]:
        """Closed round trips from ``since_ns`` on, oldest first."""
        rows = self.conn.execute(
            "SELECT signal_id, kind, closed_ns, pnl_quote, breakdown FROM round_trips"
            " WHERE closed_ns >= ? ORDER BY closed_ns, signal_id",
            (since_ns,),
        ).fetchall()
        return [
            {
                "signal_id": r[0],
                "kind": r[1],
                "closed_ns": int(r[2]),
                "pnl_quote": r[3],
                "breakdown": json.loads(r[4]),
            }
            for r in rows
        ]

    # -- cursors ---------------------------------------------------------------------------

    def cursor(self, name: str) -> str | None:
        """A stored cursor value (None when unset)."""
        row = self.conn.execute("SELECT value FROM desk_cursors WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_cursor(self, name: str, value: str) -> None:
        """Store a cursor value (inside the caller's transaction if any)."""
        self.conn.execute(
            "INSERT INTO desk_cursors (name, value) VALUES (?, ?)"
            " ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )


def _state(value: str, signal_id: str) -> SignalState:
    try:
        return SignalState(value)
    except ValueError:
        raise SignalStateError(f"signal {signal_id} has unknown state {value!r}") from None
