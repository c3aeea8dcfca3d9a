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

and trading (migration 2):

* ``order_events``: every state change of every order, append-only.
* ``fills``: one row per venue trade, keyed by ``(venue, symbol, trade_id)``. Fills are
  inserted-or-ignored, so replaying the user stream or ``fills_since`` after a restart is
  idempotent; the bot writes a fill *before* acting on it, and on restart asks the venue for
  fills since :meth:`Journal.last_fill_ns`, so nothing the exchange confirmed goes missing.
* ``risk_transitions``: every change of the risk state and why.
* ``pnl_snapshots``: inventory and PnL marked at fair, as exact strings.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from os import PathLike
from typing import Any

from pegbot.execution.venue import Fill, OrderState, OrderUpdate
from pegbot.market import Side

Exact = Decimal | Fraction | int

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


@dataclass(frozen=True, slots=True)
class RiskTransition:
    """One recorded change of a risk state.

    Attributes:
        at_ns: When it changed.
        scope: Whose state (``bot`` or a venue name).
        from_state: State left (None at start).
        to_state: State entered.
        reasons: Why, as recorded.
    """

    at_ns: int
    scope: str
    from_state: str | None
    to_state: str
    reasons: tuple[str, ...]


_PNL_FIELDS = ("fair", "base", "quote", "realised", "unrealised", "fees", "total")
_FILL_COLUMNS = (
    "venue, symbol, trade_id, client_id, order_id, side, price_ticks, qty_units, fee,"
    " fee_asset, maker, ts_ns"
)


class Journal:
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
        """``with journal.transaction():`` groups writes atomically."""
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

    # -- orders ---------------------------------------------------------------------------

    def record_order(self, venue: str, symbol: str, update: OrderUpdate, recorded_ns: int) -> None:
        """Append one state change of an order."""
        with self.transaction():
            self._insert_order(venue, symbol, update, recorded_ns)

    def record_orders(
        self, venue: str, symbol: str, updates: Iterable[OrderUpdate], recorded_ns: int
    ) -> None:
        """Append several state changes in one transaction."""
        with self.transaction():
            for update in updates:
                self._insert_order(venue, symbol, update, recorded_ns)

    def _insert_order(self, venue: str, symbol: str, u: OrderUpdate, recorded_ns: int) -> None:
        self.conn.execute(
            "INSERT INTO order_events (venue, symbol, client_id, order_id, side, price_ticks,"
            " qty_units, filled_units, state, ts_ns, reason, recorded_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                venue,
                symbol,
                u.client_id,
                u.order_id,
                int(u.side),
                u.price_ticks,
                u.qty_units,
                u.filled_units,
                u.state.value,
                u.ts_ns,
                u.reason,
                recorded_ns,
            ),
        )

    def order_history(self, venue: str, symbol: str, client_id: str) -> list[OrderUpdate]:
        """Every recorded state of one order, in order."""
        rows = self.conn.execute(
            "SELECT client_id, order_id, side, price_ticks, qty_units, filled_units, state,"
            " ts_ns, reason FROM order_events WHERE venue = ? AND symbol = ? AND client_id = ?"
            " ORDER BY seq",
            (venue, symbol, client_id),
        ).fetchall()
        return [_order(r) for r in rows]

    def latest_orders(
        self, venue: str, symbol: str, open_only: bool = False
    ) -> dict[str, OrderUpdate]:
        """The last recorded state of each order by client id (optionally only open ones)."""
        rows = self.conn.execute(
            "SELECT client_id, order_id, side, price_ticks, qty_units, filled_units, state,"
            " ts_ns, reason FROM order_events WHERE seq IN (SELECT MAX(seq) FROM order_events"
            " WHERE venue = ? AND symbol = ? GROUP BY client_id) ORDER BY seq",
            (venue, symbol),
        ).fetchall()
        latest = {r[0]: _order(r) for r in rows}
        if open_only:
            return {k: v for k, v in latest.items() if v.state.is_open}
        return latest

    # -- fills ----------------------------------------------------------------------------

    def record_fill(self, fill: Fill, recorded_ns: int) -> bool:
        """Store a fill; False if it was already there (a replay), True if new."""
        with self.transaction():
            return self._insert_fill(fill, recorded_ns)

    def record_fills(self, fills: Iterable[Fill], recorded_ns: int) -> int:
        """Store several fills in one transaction; returns how many were new."""
        with self.transaction():
            return sum(self._insert_fill(f, recorded_ns) for f in fills)

    def _insert_fill(self, f: Fill, recorded_ns: int) -> bool:
        cur = self.conn.execute(
            f"INSERT OR IGNORE INTO fills ({_FILL_COLUMNS}, recorded_ns)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                f.venue,
                f.symbol,
                f.trade_id,
                f.client_id,
                f.order_id,
                int(f.side),
                f.price_ticks,
                f.qty_units,
                str(f.fee),
                f.fee_asset,
                int(f.maker),
                f.ts_ns,
                recorded_ns,
            ),
        )
        return cur.rowcount == 1

    def fills(
        self, venue: str | None = None, symbol: str | None = None, since_ns: int = 0
    ) -> list[Fill]:
        """Stored fills from ``since_ns`` on, oldest first (by venue time, then trade id)."""
        sql = f"SELECT {_FILL_COLUMNS} FROM fills WHERE ts_ns >= ?"
        args: list[Any] = [since_ns]
        if venue is not None:
            sql += " AND venue = ?"
            args.append(venue)
        if symbol is not None:
            sql += " AND symbol = ?"
            args.append(symbol)
        rows = self.conn.execute(sql + " ORDER BY ts_ns, venue, trade_id", args).fetchall()
        return [
            Fill(
                venue=r[0],
                symbol=r[1],
                trade_id=r[2],
                client_id=r[3],
                order_id=r[4],
                side=Side(r[5]),
                price_ticks=int(r[6]),
                qty_units=int(r[7]),
                fee=Decimal(r[8]),
                fee_asset=r[9],
                maker=bool(r[10]),
                ts_ns=int(r[11]),
            )
            for r in rows
        ]

    def fill_count(self, venue: str | None = None) -> int:
        """Number of stored fills (of one venue, or all)."""
        if venue is None:
            row = self.conn.execute("SELECT COUNT(*) FROM fills").fetchone()
        else:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM fills WHERE venue = ?", (venue,)
            ).fetchone()
        return int(row[0])

    def last_fill_ns(self, venue: str, symbol: str) -> int | None:
        """Venue time of the newest stored fill; where recovery's ``fills_since`` starts."""
        row = self.conn.execute(
            "SELECT MAX(ts_ns) FROM fills WHERE venue = ? AND symbol = ?", (venue, symbol)
        ).fetchone()
        return None if row[0] is None else int(row[0])

    # -- risk -----------------------------------------------------------------------------

    def record_risk_transition(
        self,
        at_ns: int,
        from_state: str | None,
        to_state: str,
        reasons: Sequence[str] = (),
        scope: str = "bot",
    ) -> None:
        """Append a risk state change and its reasons."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO risk_transitions (at_ns, scope, from_state, to_state, reasons)"
                " VALUES (?, ?, ?, ?, ?)",
                (at_ns, scope, from_state, to_state, json.dumps(list(reasons))),
            )

    def risk_transitions(self, scope: str | None = None) -> list[RiskTransition]:
        """Recorded risk state changes, in order."""
        sql = "SELECT at_ns, scope, from_state, to_state, reasons FROM risk_transitions"
        args: tuple[str, ...] = ()
        if scope is not None:
            sql += " WHERE scope = ?"
            args = (scope,)
        rows = self.conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [
            RiskTransition(int(r[0]), r[1], r[2], r[3], tuple(json.loads(r[4] or "[]")))
            for r in rows
        ]

    def last_risk_state(self, scope: str = "bot") -> str | None:
        """The state the last transition entered (None if none was recorded)."""
        row = self.conn.execute(
            "SELECT to_state FROM risk_transitions WHERE scope = ? ORDER BY seq DESC LIMIT 1",
            (scope,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- PnL ------------------------------------------------------------------------------

    def record_pnl(self, at_ns: int, venue: str, symbol: str, **values: Exact) -> None:
        """Append a PnL snapshot; ``values`` are exact numbers named as in the table.

        Args:
            at_ns: Snapshot time.
            venue: Venue name (``total`` for the aggregate over venues).
            symbol: Symbol.
            **values: ``fair``, ``base``, ``quote``, ``realised``, ``unrealised``, ``fees``,
                ``total`` as Decimal, Fraction or int (floats are refused: not exact).
        """
        missing = set(_PNL_FIELDS) - set(values)
        extra = set(values) - set(_PNL_FIELDS)
        if missing or extra:
            raise ValueError(f"PnL snapshot: missing {sorted(missing)}, unknown {sorted(extra)}")
        texts = []
        for name in _PNL_FIELDS:
            value = values[name]
            if not isinstance(value, Decimal | Fraction | int) or isinstance(value, bool):
                raise TypeError(f"PnL field {name} must be Decimal, Fraction or int, not {value!r}")
            texts.append(str(value))
        with self.transaction():
            self.conn.execute(
                "INSERT INTO pnl_snapshots (at_ns, venue, symbol, fair, base, quote, realised,"
                " unrealised, fees, total) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (at_ns, venue, symbol, *texts),
            )

    def pnl_snapshots(
        self, venue: str | None = None, symbol: str | None = None
    ) -> list[dict[str, Any]]:
        """Stored snapshots, oldest first; numbers come back as exact Fractions."""
        sql = "SELECT at_ns, venue, symbol, " + ", ".join(_PNL_FIELDS) + " FROM pnl_snapshots"
        clauses, args = [], []
        if venue is not None:
            clauses.append("venue = ?")
            args.append(venue)
        if symbol is not None:
            clauses.append("symbol = ?")
            args.append(symbol)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        out = []
        for r in self.conn.execute(sql + " ORDER BY seq", args).fetchall():
            row: dict[str, Any] = {"at_ns": int(r[0]), "venue": r[1], "symbol": r[2]}
            row.update(
                {name: Fraction(text) for name, text in zip(_PNL_FIELDS, r[3:], strict=True)}
            )
            out.append(row)
        return out


def _order(r: Sequence[Any]) -> OrderUpdate:
    return OrderUpdate(
        client_id=r[0],
        order_id=r[1],
        side=Side(r[2]),
        price_ticks=int(r[3]),
        qty_units=int(r[4]),
        filled_units=int(r[5]),
        state=OrderState(r[6]),
        ts_ns=int(r[7]),
        reason=r[8],
    )


class _Transaction:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.conn.execute("ROLLBACK" if exc_type is not None else "COMMIT")


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; run statements one by one instead.
    return [s.strip() for s in script.split(";") if s.strip()]
