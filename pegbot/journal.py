"""The SQLite journal: pegbot's durable memory of what it decided and what it still owes.

One file, WAL mode (readers never block the writer; a crash loses at most the transaction in
flight), ``synchronous=NORMAL`` (durable at WAL checkpoints, safe against corruption).

Schema changes are numbered migrations applied in order and recorded in ``PRAGMA
user_version``; later rooms (orders, fills, risk transitions, PnL) append migrations to
:data:`MIGRATIONS` and methods to :class:`Journal` without touching the existing tables.

It holds arbitrage signals:

* ``signals``: the latest record of each signal (JSON) and its state.
* ``signal_transitions``: every state change, append-only (the audit trail).
* ``outbox``: events owed to an external sink (the webhook). The event and its outbox rows
  are written in one transaction, so an event the journal knows is an event some sink will
  deliver, across crashes and restarts ("transactional outbox").

and trading (migrations 2, 3 and 5; the methods live in :mod:`pegbot.journal_trading`):
``order_events``, ``fills`` (idempotent by venue trade), ``risk_transitions``,
``pnl_snapshots`` and ``venue_blocks``.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any

from pegbot.journal_trading import Exact, RiskTransition, TradingJournal, TransitionLike

__all__ = ["MIGRATIONS", "Delivery", "Exact", "Journal", "RiskTransition", "TransitionLike"]

#: Migration n (1-based) brings ``user_version`` from n-1 to n. Append; never edit.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE signals (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        venue       TEXT NOT NULL,
        symbol      TEXT NOT NULL,
        state       TEXT NOT NULL,
        created_ns  INTEGER NOT NULL,
        updated_ns  INTEGER NOT NULL,
        expires_ns  INTEGER NOT NULL,
        record      TEXT NOT NULL
    );
    CREATE INDEX signals_state ON signals(state, created_ns);
    CREATE TABLE signal_transitions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id   TEXT NOT NULL REFERENCES signals(id),
        from_state  TEXT,
        to_state    TEXT NOT NULL,
        at_ns       INTEGER NOT NULL,
        reason      TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE outbox (
        id              INTEGER PRIMARY KEY AUTOINCREMENT,
        sink            TEXT NOT NULL,
        key             TEXT NOT NULL,
        payload         TEXT NOT NULL,
        created_ns      INTEGER NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_ns INTEGER NOT NULL,
        delivered_ns    INTEGER,
        dead            INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT NOT NULL DEFAULT '',
        UNIQUE (sink, key)
    );
    CREATE INDEX outbox_due ON outbox(sink, delivered_ns, dead, next_attempt_ns);
    """,
    # 2: trading — every order state change, fills (unique per venue trade), risk state
    # changes, PnL snapshots. Money is TEXT (exact Decimal or Fraction strings), never REAL.
    """
    CREATE TABLE order_events (
        seq           INTEGER PRIMARY KEY AUTOINCREMENT,
        venue         TEXT NOT NULL,
        symbol        TEXT NOT NULL,
        client_id     TEXT NOT NULL,
        order_id      TEXT NOT NULL,
        side          INTEGER NOT NULL,
        price_ticks   INTEGER NOT NULL,
        qty_units     INTEGER NOT NULL,
        filled_units  INTEGER NOT NULL,
        state         TEXT NOT NULL,
        ts_ns         INTEGER NOT NULL,
        reason        TEXT NOT NULL DEFAULT '',
        recorded_ns   INTEGER NOT NULL
    );
    CREATE INDEX order_events_client ON order_events(venue, symbol, client_id, seq);
    CREATE TABLE fills (
        venue        TEXT NOT NULL,
        symbol       TEXT NOT NULL,
        trade_id     TEXT NOT NULL,
        client_id    TEXT NOT NULL,
        order_id     TEXT NOT NULL,
        side         INTEGER NOT NULL,
        price_ticks  INTEGER NOT NULL,
        qty_units    INTEGER NOT NULL,
        fee          TEXT NOT NULL,
        fee_asset    TEXT NOT NULL,
        maker        INTEGER NOT NULL,
        ts_ns        INTEGER NOT NULL,
        recorded_ns  INTEGER NOT NULL,
        PRIMARY KEY (venue, symbol, trade_id)
    );
    CREATE INDEX fills_time ON fills(venue, symbol, ts_ns);
    CREATE TABLE risk_transitions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ns       INTEGER NOT NULL,
        scope       TEXT NOT NULL,
        from_state  TEXT,
        to_state    TEXT NOT NULL,
        reasons     TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE pnl_snapshots (
        seq          INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ns        INTEGER NOT NULL,
        venue        TEXT NOT NULL,
        symbol       TEXT NOT NULL,
        fair         TEXT NOT NULL,
        base         TEXT NOT NULL,
        quote        TEXT NOT NULL,
        realised     TEXT NOT NULL,
        unrealised   TEXT NOT NULL,
        fees         TEXT NOT NULL,
        total        TEXT NOT NULL
    );
    CREATE INDEX pnl_time ON pnl_snapshots(venue, symbol, at_ns);
    """,
    # 3: risk transitions carry the symbol and the triggers' details.
    """
    ALTER TABLE risk_transitions ADD COLUMN symbol TEXT NOT NULL DEFAULT '';
    ALTER TABLE risk_transitions ADD COLUMN details TEXT NOT NULL DEFAULT '[]'
    """,
    # 4: the desk (pegbot.desk): operator actions (the running bot applies the pending ones,
    # in seq order), the figures of each step of a signal's legs, closed round trips, chain
    # events seen and the desk's cursors (last chain block, last supply).
    """
    CREATE TABLE desk_actions (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id   TEXT NOT NULL,
        action      TEXT NOT NULL,
        actor       TEXT NOT NULL,
        at_ns       INTEGER NOT NULL,
        args        TEXT NOT NULL DEFAULT '{}',
        status      TEXT NOT NULL,
        outcome     TEXT NOT NULL DEFAULT '',
        done_ns     INTEGER
    );
    CREATE INDEX desk_actions_status ON desk_actions(status, seq);
    CREATE TABLE signal_steps (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        signal_id   TEXT NOT NULL REFERENCES signals(id),
        state       TEXT NOT NULL,
        at_ns       INTEGER NOT NULL,
        actor       TEXT NOT NULL,
        source      TEXT NOT NULL,
        figures     TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX signal_steps_signal ON signal_steps(signal_id, seq);
    CREATE TABLE round_trips (
        signal_id   TEXT PRIMARY KEY REFERENCES signals(id),
        kind        TEXT NOT NULL,
        closed_ns   INTEGER NOT NULL,
        pnl_quote   TEXT NOT NULL,
        breakdown   TEXT NOT NULL
    );
    CREATE TABLE chain_events (
        tx_hash     TEXT NOT NULL,
        log_index   INTEGER NOT NULL,
        block       INTEGER NOT NULL,
        what        TEXT NOT NULL,
        from_addr   TEXT NOT NULL,
        to_addr     TEXT NOT NULL,
        amount      TEXT NOT NULL,
        signal_id   TEXT,
        seen_ns     INTEGER NOT NULL,
        PRIMARY KEY (tx_hash, log_index)
    );
    CREATE INDEX chain_events_signal ON chain_events(signal_id);
    CREATE TABLE desk_cursors (
        name        TEXT PRIMARY KEY,
        value       TEXT NOT NULL
    )
    """,
    # 5: rate-limit blocks and bans per venue (until when nothing may be sent), so a restart
    # inside a ban sends nothing.
    """
    CREATE TABLE venue_blocks (
        venue       TEXT PRIMARY KEY,
        until_ns    INTEGER NOT NULL,
        at_ns       INTEGER NOT NULL
    )
    """,
)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One outbox row: a payload owed to a sink.

    Attributes:
        id: Row id.
        sink: Sink name (e.g. ``webhook``).
        key: Idempotency key, unique per sink (the receiver may see it twice, never lose it).
        payload: The exact text to send (signed as stored).
        attempts: Failed attempts so far.
        next_attempt_ns: Not before this time.
    """

    id: int
    sink: str
    key: str
    payload: str
    attempts: int
    next_attempt_ns: int


class Journal(TradingJournal):
    """A SQLite journal file (or ``":memory:"``). Not thread-safe: one per thread/loop."""

    def __init__(self, path: str | PathLike[str]) -> None:
        """Open (creating if needed) and migrate the journal at ``path``."""
        self.path = str(path)
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=5.0)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def _migrate(self) -> None:
        version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"journal {self.path} has schema {version}, newer than this pegbot "
                f"({len(MIGRATIONS)}): refusing to touch it"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            with self.transaction():
                for statement in _statements(MIGRATIONS[number - 1]):
                    self.conn.execute(statement)
                self.conn.execute(f"PRAGMA user_version = {number}")

    def transaction(self) -> _Transaction:
        """``with journal.transaction():`` groups writes atomically.

        Nested use is a savepoint of the outer transaction, so a method that writes in its
        own transaction can be grouped with others (all commit together or none does).
        """
        return _Transaction(self.conn)

    @property
    def schema_version(self) -> int:
        """The applied migration count."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    # -- signals --------------------------------------------------------------------------

    def record_signal(
        self,
        record: dict[str, Any],
        previous_state: str | None,
        at_ns: int,
        outbox: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Store a signal's new state, its transition and what sinks are owed, atomically.

        Args:
            record: The signal as a JSON-ready dict (needs id, kind, venue, symbol, state,
                created_ns, updated_ns, expires_ns, reason).
            previous_state: The state it left, None when new.
            at_ns: Time of the transition.
            outbox: ``(sink, key, payload)`` rows to enqueue with it.
        """
        text = json.dumps(record, sort_keys=True, separators=(",", ":"))
        with self.transaction():
            self.conn.execute(
                "INSERT INTO signals (id, kind, venue, symbol, state, created_ns, updated_ns,"
                " expires_ns, record) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET state = excluded.state,"
                " updated_ns = excluded.updated_ns, record = excluded.record",
                (
                    record["id"],
                    record["kind"],
                    record["venue"],
                    record["symbol"],
                    record["state"],
                    record["created_ns"],
                    record["updated_ns"],
                    record["expires_ns"],
                    text,
                ),
            )
            self.conn.execute(
                "INSERT INTO signal_transitions (signal_id, from_state, to_state, at_ns, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                (record["id"], previous_state, record["state"], at_ns, record.get("reason", "")),
            )
            for sink, key, payload in outbox:
                self.conn.execute(
                    "INSERT OR IGNORE INTO outbox (sink, key, payload, created_ns,"
                    " next_attempt_ns) VALUES (?, ?, ?, ?, ?)",
                    (sink, key, payload, at_ns, at_ns),
                )

    def signal_records(self, states: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Stored signal records, oldest first, optionally only those in ``states``."""
        sql = "SELECT record FROM signals"
        args: tuple[str, ...] = ()
        if states:
            sql += f" WHERE state IN ({','.join('?' * len(states))})"
            args = tuple(states)
        rows = self.conn.execute(sql + " ORDER BY created_ns, id", args).fetchall()
        return [json.loads(r[0]) for r in rows]

    def transitions(self, signal_id: str) -> list[tuple[str | None, str, int, str]]:
        """``(from, to, at_ns, reason)`` of a signal, in order."""
        rows = self.conn.execute(
            "SELECT from_state, to_state, at_ns, reason FROM signal_transitions"
            " WHERE signal_id = ? ORDER BY seq",
            (signal_id,),
        ).fetchall()
        return [(r[0], r[1], int(r[2]), r[3]) for r in rows]

    # -- outbox ---------------------------------------------------------------------------

    def due_deliveries(self, sink: str, now_ns: int, limit: int = 100) -> list[Delivery]:
        """Undelivered, not dead rows of ``sink`` whose next attempt is due, oldest first."""
        rows = self.conn.execute(
            "SELECT id, sink, key, payload, attempts, next_attempt_ns FROM outbox"
            " WHERE sink = ? AND delivered_ns IS NULL AND dead = 0 AND next_attempt_ns <= ?"
            " ORDER BY id LIMIT ?",
            (sink, now_ns, limit),
        ).fetchall()
        return [Delivery(*r) for r in rows]

    def pending_count(self, sink: str) -> int:
        """Rows of ``sink`` still owed (not delivered, not dead)."""
        row = self.conn.execute(
            "SELECT COUNT(*) FROM outbox WHERE sink = ? AND delivered_ns IS NULL AND dead = 0",
            (sink,),
        ).fetchone()
        return int(row[0])

    def next_due_ns(self, sink: str) -> int | None:
        """When the earliest pending row of ``sink`` is due, None if nothing is pending."""
        row = self.conn.execute(
            "SELECT MIN(next_attempt_ns) FROM outbox"
            " WHERE sink = ? AND delivered_ns IS NULL AND dead = 0",
            (sink,),
        ).fetchone()
        return None if row[0] is None else int(row[0])

    def mark_delivered(self, delivery_id: int, now_ns: int) -> None:
        """The sink accepted the row."""
        with self.transaction():
            self.conn.execute(
                "UPDATE outbox SET delivered_ns = ? WHERE id = ?", (now_ns, delivery_id)
            )

    def mark_failed(
        self, delivery_id: int, next_attempt_ns: int, error: str, dead: bool = False
    ) -> None:
        """An attempt failed: count it, schedule the next one, or give up (``dead``).

        A dead row stays in the journal with its last error, for a human to replay.
        """
        with self.transaction():
            self.conn.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ns = ?,"
                " last_error = ?, dead = ? WHERE id = ?",
                (next_attempt_ns, error[:500], int(dead), delivery_id),
            )

    def delivery_status(self, sink: str, key: str) -> dict[str, Any] | None:
        """One outbox row as a dict (for tests and the ops CLI), None if absent."""
        cur = self.conn.execute(
            "SELECT id, attempts, next_attempt_ns, delivered_ns, dead, last_error FROM outbox"
            " WHERE sink = ? AND key = ?",
            (sink, key),
        )
        row = cur.fetchone()
        if row is None:
            return None
        names = [d[0] for d in cur.description]
        return dict(zip(names, row, strict=True))


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.savepoint = ""

    def __enter__(self) -> sqlite3.Connection:
        if self.conn.in_transaction:
            self.savepoint = f"sp{id(self)}"
            self.conn.execute(f"SAVEPOINT {self.savepoint}")
        else:
            # IMMEDIATE takes the write lock now: a read-then-write in here cannot be
            # overtaken by another connection's write (the other waits up to the timeout).
            self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self.savepoint:
            if exc_type is not None:
                self.conn.execute(f"ROLLBACK TO {self.savepoint}")
            self.conn.execute(f"RELEASE {self.savepoint}")
            return
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; run statements one by one instead.
    return [s.strip() for s in script.split(";") if s.strip()]
