"""The journal's trading tables (migrations 2, 3, 5): orders, fills, risk, PnL, venue blocks.

A mixin of :class:`pegbot.journal.Journal`, kept apart so each file stays one concern:
the signal/outbox half and the trading half share one SQLite connection and one
migration sequence (:data:`pegbot.journal.MIGRATIONS`).

* ``order_events``: every state change of every order, append-only.
* ``fills``: one row per venue trade, keyed by ``(venue, symbol, trade_id)``. Fills are
  inserted-or-ignored, so replaying the user stream or ``fills_since`` after a restart is
  idempotent. The bot writes a fill *before* acting on it and, on restart, asks the venue
  for fills since :meth:`TradingJournal.last_fill_ns`: nothing the exchange confirmed goes
  missing across a kill -9.
* ``risk_transitions``: every change of a risk level, its triggers and their details.
* ``pnl_snapshots``: inventory and PnL marked at fair, as exact strings (never REAL).
* ``venue_blocks``: until when a venue must not be sent anything (a 429's ``Retry-After``, a
  418 ban). A ban outlives the process that earned it: the next start reads it here and
  waits instead of sending the request that would lengthen it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Protocol

from pegbot.execution.venue import Fill, OrderState, OrderUpdate
from pegbot.market import Side

__all__ = ["Exact", "RiskTransition", "TradingJournal", "TransitionLike"]

#: An exact number the PnL tables accept.
Exact = Decimal | Fraction | int


class TransitionLike(Protocol):
    """What :meth:`Journal.record_risk_transition` reads of a risk transition."""

    @property
    def at_ns(self) -> int:
        """When."""
        ...

    @property
    def from_level(self) -> Any:
        """Level left (with a ``label``, or a string; None at start)."""
        ...

    @property
    def to_level(self) -> Any:
        """Level entered."""
        ...

    @property
    def reasons(self) -> Sequence[str]:
        """Trigger names."""
        ...


@dataclass(frozen=True, slots=True)
class RiskTransition:
    """One recorded change of a risk state.

    Attributes:
        at_ns: When it changed.
        scope: Whose level (a venue name, or ``bot``).
        symbol: The symbol quoted there.
        from_state: Level left (None at start).
        to_state: Level entered.
        reasons: The triggers, as recorded.
        details: The triggers' details.
    """

    at_ns: int
    scope: str
    symbol: str
    from_state: str | None
    to_state: str
    reasons: tuple[str, ...]
    details: tuple[str, ...] = ()


_PNL_FIELDS = ("fair", "base", "quote", "realised", "unrealised", "fees", "total")
_FILL_COLUMNS = (
    "venue, symbol, trade_id, client_id, order_id, side, price_ticks, qty_units, fee,"
    " fee_asset, maker, ts_ns"
)


class TradingJournal:
    """Trading tables over the journal's connection (mixed into ``Journal``)."""

    conn: sqlite3.Connection

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """``with journal.transaction():`` groups writes atomically (``Journal`` provides it)."""
        raise NotImplementedError

    # -- orders ---------------------------------------------------------------------------

    def record_order(
        self, venue: str, symbol: str, update: OrderUpdate, recorded_ns: int | None = None
    ) -> None:
        """Append one state change of an order (``recorded_ns``: local time, default now)."""
        with self.transaction():
            self._insert_order(venue, symbol, update, _now(recorded_ns))

    def record_orders(
        self,
        venue: str,
        symbol: str,
        updates: Iterable[OrderUpdate],
        recorded_ns: int | None = None,
    ) -> None:
        """Append several state changes in one transaction."""
        at = _now(recorded_ns)
        with self.transaction():
            for update in updates:
                self._insert_order(venue, symbol, update, at)

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

    def record_fill(self, fill: Fill, recorded_ns: int | None = None) -> bool:
        """Store a fill; False if it was already there (a replay), True if new.

        Committed when this returns: call it before acting on the fill.
        """
        with self.transaction():
            return self._insert_fill(fill, _now(recorded_ns))

    def record_fills(self, fills: Iterable[Fill], recorded_ns: int | None = None) -> int:
        """Store several fills in one transaction; returns how many were new."""
        at = _now(recorded_ns)
        with self.transaction():
            return sum(self._insert_fill(f, at) for f in fills)

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

    def last_fill_ns(self, venue: str, symbol: str | None = None) -> int | None:
        """Venue time of the newest stored fill; where recovery's ``fills_since`` starts."""
        if symbol is None:
            row = self.conn.execute(
                "SELECT MAX(ts_ns) FROM fills WHERE venue = ?", (venue,)
            ).fetchone()
        else:
            row = self.conn.execute(
                "SELECT MAX(ts_ns) FROM fills WHERE venue = ? AND symbol = ?", (venue, symbol)
            ).fetchone()
        return None if row[0] is None else int(row[0])

    # -- risk -----------------------------------------------------------------------------

    def record_risk_transition(self, scope: str, symbol: str, transition: TransitionLike) -> None:
        """Append a risk level change (a :class:`pegbot.execution.risk.Transition`).

        Args:
            scope: Whose level changed (a venue name, or ``bot``).
            symbol: The symbol quoted there.
            transition: ``at_ns``, ``from_level``, ``to_level`` (levels with a ``label``, or
                strings), ``reasons`` and optionally ``details``.
        """
        with self.transaction():
            self.conn.execute(
                "INSERT INTO risk_transitions (at_ns, scope, symbol, from_state, to_state,"
                " reasons, details) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    int(transition.at_ns),
                    scope,
                    symbol,
                    _label(transition.from_level),
                    _label(transition.to_level),
                    json.dumps(list(transition.reasons)),
                    json.dumps(list(getattr(transition, "details", ()) or ())),
                ),
            )

    def risk_transitions(self, scope: str | None = None) -> list[RiskTransition]:
        """Recorded risk level changes, in order."""
        sql = (
            "SELECT at_ns, scope, symbol, from_state, to_state, reasons, details"
            " FROM risk_transitions"
        )
        args: tuple[str, ...] = ()
        if scope is not None:
            sql += " WHERE scope = ?"
            args = (scope,)
        rows = self.conn.execute(sql + " ORDER BY seq", args).fetchall()
        return [
            RiskTransition(
                at_ns=int(r[0]),
                scope=r[1],
                symbol=r[2],
                from_state=r[3],
                to_state=r[4],
                reasons=tuple(json.loads(r[5] or "[]")),
                details=tuple(json.loads(r[6] or "[]")),
            )
            for r in rows
        ]

    def last_risk_state(self, scope: str) -> str | None:
        """The level the last transition of ``scope`` entered (None if none was recorded)."""
        row = self.conn.execute(
            "SELECT to_state FROM risk_transitions WHERE scope = ? ORDER BY seq DESC LIMIT 1",
            (scope,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- venue blocks ---------------------------------------------------------------------

    def record_venue_block(self, venue: str, until_ns: int, at_ns: int) -> None:
        """Remember that ``venue`` must be sent nothing before ``until_ns`` (kept if later)."""
        with self.transaction():
            self.conn.execute(
                "INSERT INTO venue_blocks (venue, until_ns, at_ns) VALUES (?, ?, ?)"
                " ON CONFLICT(venue) DO UPDATE SET until_ns = excluded.until_ns,"
                " at_ns = excluded.at_ns WHERE excluded.until_ns > venue_blocks.until_ns",
                (venue, until_ns, at_ns),
            )

    def venue_blocked_until(self, venue: str) -> int:
        """Until when ``venue`` must be sent nothing (clock ns; 0 if never blocked)."""
        row = self.conn.execute(
            "SELECT until_ns FROM venue_blocks WHERE venue = ?", (venue,)
        ).fetchone()
        return 0 if row is None else int(row[0])

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


def _now(ns: int | None) -> int:
    # Local recording time: the journal is shell, not core; callers may inject it.
    return time.time_ns() if ns is None else ns


def _label(level: Any) -> str | None:
    if level is None:
        return None
    label = getattr(level, "label", None)
    return str(label) if label is not None else str(level)


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
