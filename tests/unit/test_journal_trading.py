"""The journal's trading tables: orders, fills (idempotent), risk transitions, PnL; kill -9."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.execution.risk import RiskLevel, Transition
from pegbot.execution.venue import OrderState, OrderUpdate
from pegbot.journal import MIGRATIONS, Journal
from pegbot.market import Side

# The exchange's truth in the kill -9 test, shared by the writer subprocess and the test.
FILLS_SRC = textwrap.dedent(
    """
    from decimal import Decimal
    from pegbot.execution.venue import Fill
    from pegbot.market import Side

    def exchange_fills(n):
        return [
            Fill(venue="binance", symbol="KGST/USDT", trade_id=str(1000 + i),
                 client_id=f"pegbot-r1-b{i % 5}-{i}", order_id=str(i),
                 side=Side.BUY if i % 2 else Side.SELL, price_ticks=1140 + i % 3,
                 qty_units=100_000_000 * (i + 1), fee=Decimal("0.001") * (i + 1),
                 fee_asset="USDT", maker=True, ts_ns=1_700_000_000_000_000_000 + i * 1_000_000)
            for i in range(n)
        ]
    """
)
_ns: dict[str, object] = {}
exec(FILLS_SRC, _ns)
exchange_fills = _ns["exchange_fills"]


def upd(cid: str, state: OrderState, filled: int = 0, ts: int = 1) -> OrderUpdate:
    return OrderUpdate(cid, "7", Side.BUY, 1140, 1000, filled, state, ts)


def test_migrations_append_and_signals_untouched(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.schema_version == len(MIGRATIONS) >= 2
    tables = {r[0] for r in j.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"signals", "outbox", "order_events", "fills", "risk_transitions"} <= tables
    assert "pnl_snapshots" in tables
    j.close()
    # A journal made by the signals-only schema (version 1) migrates forward in place.
    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)
    for stmt in MIGRATIONS[0].split(";"):
        if stmt.strip():
            conn.execute(stmt)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO signals VALUES ('s1','mint_and_sell','binance','KGST/USDT','proposed',"
        "1,1,2,'{}')"
    )
    conn.commit()
    conn.close()
    j = Journal(old)
    assert j.schema_version == len(MIGRATIONS)
    assert j.signal_records() == [{}]
    j.close()


def test_orders_every_state_change(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    j.record_order("binance", "KGST/USDT", upd("a", OrderState.NEW), 10)
    j.record_orders(
        "binance",
        "KGST/USDT",
        [upd("a", OrderState.PARTIALLY_FILLED, 300, 2), upd("b", OrderState.NEW, 0, 3)],
        11,
    )
    j.record_order("binance", "KGST/USDT", upd("a", OrderState.FILLED, 1000, 4), 12)
    j.record_order("htx", "KGST/USDT", upd("a", OrderState.NEW), 12)
    hist = j.order_history("binance", "KGST/USDT", "a")
    assert [(u.state, u.filled_units) for u in hist] == [
        (OrderState.NEW, 0),
        (OrderState.PARTIALLY_FILLED, 300),
        (OrderState.FILLED, 1000),
    ]
    assert hist[1] == upd("a", OrderState.PARTIALLY_FILLED, 300, 2)
    latest = j.latest_orders("binance", "KGST/USDT")
    assert {k: v.state for k, v in latest.items()} == {
        "a": OrderState.FILLED,
        "b": OrderState.NEW,
    }
    assert list(j.latest_orders("binance", "KGST/USDT", open_only=True)) == ["b"]


def test_fills_insert_or_ignore(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    fills = exchange_fills(5)  # type: ignore[operator]
    assert j.record_fill(fills[0]) is True  # recorded now
    assert j.record_fill(fills[0], 2) is False  # a replay after restart
    assert j.record_fills(fills, 3) == 4
    assert j.record_fills(fills, 4) == 0
    stored = j.fills()
    assert stored == fills
    assert stored[2].fee == Decimal("0.003")
    assert j.fill_count() == 5
    assert j.last_fill_ns("binance", "KGST/USDT") == fills[-1].ts_ns
    assert j.last_fill_ns("htx", "KGST/USDT") is None
    assert j.last_fill_ns("binance") == fills[-1].ts_ns
    assert j.fills(since_ns=fills[3].ts_ns) == fills[3:]
    # Same trade id on another venue is another fill.
    other = replace(fills[0], venue="htx")
    assert j.record_fill(other, 5) is True
    assert j.fill_count("htx") == 1


def test_risk_transitions_and_pnl(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.last_risk_state("binance") is None
    j.record_risk_transition(
        "binance", "KGST/USDT", Transition(1, RiskLevel.NORMAL, RiskLevel.FREEZE, ("book_stale",))
    )
    j.record_risk_transition(
        "binance",
        "KGST/USDT",
        Transition(2, RiskLevel.FREEZE, RiskLevel.HALT, ("ws_down", "loss"), ("down 31 s",)),
    )
    j.record_risk_transition(
        "htx", "KGST/USDT", Transition(3, RiskLevel.NORMAL, RiskLevel.DEFEND, ("peg_deviation",))
    )
    assert j.last_risk_state("binance") == RiskLevel.HALT.label
    got = j.risk_transitions("binance")
    assert [(t.from_state, t.to_state, t.reasons, t.details) for t in got] == [
        (RiskLevel.NORMAL.label, RiskLevel.FREEZE.label, ("book_stale",), ()),
        (RiskLevel.FREEZE.label, RiskLevel.HALT.label, ("ws_down", "loss"), ("down 31 s",)),
    ]
    assert got[0].symbol == "KGST/USDT" and got[0].at_ns == 1
    assert len(j.risk_transitions()) == 3
    j.record_pnl(
        5,
        "binance",
        "KGST/USDT",
        fair=Fraction(20, 1749),
        base=Decimal("1000.5"),
        quote=Decimal("-11.4"),
        realised=Fraction(1, 3),
        unrealised=Decimal("0"),
        fees=Decimal("0.0114"),
        total=Fraction(1, 3) - Fraction(114, 10000),
    )
    (row,) = j.pnl_snapshots("binance")
    assert row["fair"] == Fraction(20, 1749)
    assert row["realised"] == Fraction(1, 3)
    assert row["base"] == Fraction(2001, 2)
    assert row["total"] == Fraction(1, 3) - Fraction(114, 10000)
    with pytest.raises(TypeError):
        j.record_pnl(
            6,
            "binance",
            "KGST/USDT",
            fair=0.0114,  # type: ignore[arg-type]
            base=0,
            quote=0,
            realised=0,
            unrealised=0,
            fees=0,
            total=0,
        )
    with pytest.raises(ValueError, match="missing"):
        j.record_pnl(6, "binance", "KGST/USDT", fair=1)


WRITER = FILLS_SRC + textwrap.dedent(
    """
    import sys
    from pegbot.journal import Journal

    j = Journal(sys.argv[1])
    for f in exchange_fills(int(sys.argv[2])):
        j.record_fill(f, 0)          # committed before it is acted upon (here: announced)
        print(f.trade_id, flush=True)
    print("done", flush=True)
    import time
    time.sleep(60)
    """
)


@pytest.mark.timeout(30)
def test_kill_9_loses_nothing_confirmed_and_recovery_fills_the_hole(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    total = 400
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(total)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    announced: list[str] = []
    for line in proc.stdout:
        announced.append(line.strip())
        if len(announced) == 60:
            break
    os.kill(proc.pid, signal.SIGKILL)  # mid-stream: it is still writing
    proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    j = Journal(path)
    assert j.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    stored = {f.trade_id for f in j.fills()}
    assert set(announced) <= stored  # every fill acted upon survived the kill
    assert len(stored) < total  # it really was killed mid-stream
    # Restart: ask the exchange for fills since the newest stored one and record them.
    truth = exchange_fills(total)  # type: ignore[operator]
    since = j.last_fill_ns("binance", "KGST/USDT")
    assert since is not None
    recovered = [f for f in truth if f.ts_ns >= since]  # the venue's fills_since(since)
    added = j.record_fills(recovered, 1)
    assert added == total - len(stored)
    assert j.fills() == truth
    j.close()


def test_venue_blocks_keep_the_latest_end(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.sqlite")
    assert j.venue_blocked_until("binance") == 0
    j.record_venue_block("binance", 500, 1)
    j.record_venue_block("binance", 300, 2)  # an earlier end never shortens it
    j.record_venue_block("htx", 100, 3)
    j.close()
    again = Journal(tmp_path / "j.sqlite")  # a restart reads it
    assert again.venue_blocked_until("binance") == 500
    assert again.venue_blocked_until("htx") == 100
    again.close()
