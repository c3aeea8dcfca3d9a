"""The backtest engine on small hand-written tapes: latency, queue, partial fills, rejects."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _backtest_helpers import LOT, MS, T0, Fixed, book_rows, fills, meta, run, write

from pegbot.backtest import results
from pegbot.backtest.engine import Backtest, BacktestError
from pegbot.execution.reconciler import Reconciler
from pegbot.market import Side
from pegbot.matching import ConstantLatency, FillEngine, PowerProbQueue, RiskAverse
from pegbot.strategy import DesiredQuotes, MarketState, Quote
from pegbot.tape.schema import DIFF, SNAPSHOT, TRADE


def test_latency_queue_and_fill_equal_to_remaining(tmp_path: Path) -> None:
    rows = [
        *book_rows(),
        # Our bid is decided at 100 ms (first wake-up), reaches the venue at 110 ms.
        (105, TRADE, -1, 1140, 150),  # before it arrives: must not touch it
        (106, DIFF, 1, 1140, 100),  # level refilled: 100 lots ahead of us on arrival
        (120, TRADE, -1, 1140, 105),  # 5 lots reach us: a partial fill
        (130, TRADE, -1, 1140, 5),  # exactly the remaining 5: closes the order once
        (135, TRADE, -1, 1140, 50),  # nothing of ours rests there any more
        (160, DIFF, -1, 1141, 90),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140))
    got = fills(r)
    assert got[:2] == [
        (120 * MS, "pegbot-t-b0-1", 1, 1140, 5, 5),
        (130 * MS, "pegbot-t-b0-1", 1, 1140, 5, 0),
    ]
    assert len(got) == 2
    accepted = [o for o in r.venue.records.orders if o[0] == "accepted"]
    sent = [o for o in r.venue.records.orders if o[0] == "sent"]
    assert sent[0][1] - T0 == 100 * MS  # decided at the wake-up
    assert accepted[0][1] - T0 == 110 * MS  # + entry latency
    # The venue's account moved by the fills; the shell's caught up by the end.
    assert r.venue.account.base_units == 1_010 * LOT
    assert r.local.base_units == r.venue.account.base_units
    assert r.local.cash_tu == r.venue.account.cash_tu == 10**17 - 1140 * 10 * LOT
    assert r.venue.account.fees == Decimal("0.0001") * Decimal("0.01140") * 10


def test_no_partial_fills_fill_whole_order(tmp_path: Path) -> None:
    rows = [*book_rows(), (120, TRADE, -1, 1140, 101), (160, DIFF, -1, 1141, 90)]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140), partial=False)
    assert fills(r) == [(120 * MS, "pegbot-t-b0-1", 1, 1140, 10, 0)]


def test_post_only_reject_when_crossing_on_arrival(tmp_path: Path) -> None:
    rows = [*book_rows(), (150, DIFF, -1, 1141, 80), (250, DIFF, -1, 1141, 70)]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1141))
    events = [o[0] for o in r.venue.records.orders]
    assert "rejected" in events and "accepted" not in events
    assert not r.venue.records.fills
    assert r.venue.rejects == events.count("rejected") >= 2  # re-sent at later wake-ups


def test_crossing_depth_fills_at_our_price_as_maker(tmp_path: Path) -> None:
    # The ask drops to 1139, through our bid at 1140: a seller arrived at our price.
    rows = [
        *book_rows(),
        (140, DIFF, -1, 1139, 30),
        (141, DIFF, -1, 1141, 0),
        (200, DIFF, 1, 1138, 5),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140))
    f = r.venue.records.fills[0]
    assert (f[0] - T0, f[3], f[4] // LOT, f[5]) == (140 * MS, 1140, 10, True)


def test_cancel_racing_a_fill(tmp_path: Path) -> None:
    # The strategy stops quoting after its first decision; the cancel is sent at 200 ms but
    # the order fills at 205 ms, before the cancel lands at 210 ms: "not found", no double.
    class Once(Fixed):
        calls = 0

        def quote(self, state: MarketState) -> DesiredQuotes:
            self.calls += 1
            return super().quote(state) if self.calls == 1 else DesiredQuotes(())

    rows = [
        *book_rows(),
        (150, DIFF, 1, 1140, 100),
        (205, TRADE, -1, 1140, 120),
        (400, DIFF, 1, 1139, 1),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Once(1140))
    assert [x[4] // LOT for x in r.venue.records.fills] == [10]
    assert not any(o[0] == "canceled" for o in r.venue.records.orders)
    assert r.local.base_units == r.venue.account.base_units == 1_010 * LOT


@pytest.mark.parametrize("queue", [RiskAverse(), PowerProbQueue(3)])
@pytest.mark.parametrize("partial", [True, False])
def test_fills_equal_the_python_fill_engine_on_the_same_rows(
    tmp_path: Path, queue: Any, partial: bool
) -> None:
    # One bid too large to fill completely, kept all along (the strategy asks for what is
    # left of it): its fills in the backtest (the compiled exchange side) are the ones
    # FillEngine gives when fed the same exchange rows from the order's arrival on.
    class Keep(Fixed):
        def quote(self, state: MarketState) -> DesiredQuotes:
            lots = state.live_orders[0].lots if state.live_orders else self.lots
            return DesiredQuotes((Quote(Side.BUY, 1140, lots, "b0"),))

    rng = np.random.default_rng(3)
    rows = book_rows(lots=50)
    for k in range(1, 400):
        rows.append((k * 37, DIFF, 1, 1140, int(rng.integers(1, 80))))
        if k % 5 == 0:
            rows.append((k * 37 + 1, TRADE, -1, 1140, int(rng.integers(1, 40))))
    path = write(tmp_path / "t.parquet", rows)
    got = fills(run(path, Keep(1140, lots=5_000), queue=queue, partial=partial))
    got = [f for f in got if f[1] == "pegbot-t-b0-1"]  # (filled whole, it is placed again)
    # Decided at the first wake-up (100 ms), at the venue 10 ms later behind the level there.
    eng = FillEngine(queue, partial_fills=partial, lot_units=LOT)
    level = [r[4] for r in rows if r[0] <= 110 and r[1] in (SNAPSHOT, DIFF) and r[2] == 1][-1]
    eng.add("o", 1, 1140, 5_000 * LOT, level * LOT, T0 + 110 * MS)
    want = []
    for ms, kind, side, price, lots in rows:
        if ms <= 110:
            continue
        t = T0 + ms * MS
        if kind == TRADE:
            out = eng.on_trade(side, price, lots * LOT, t)
        else:
            out = eng.on_depth(side, price, lots * LOT, t)
        want += [(f.ts_ns - T0, "pegbot-t-b0-1", 1, 1140, f.qty_units // LOT, f.leaves_units // LOT)
                 for f in out]  # fmt: skip
    assert got == want
    assert len(want) > (3 if partial else 0)


def test_results_tables_and_summary(tmp_path: Path) -> None:
    rows = [
        *book_rows(),
        (120, TRADE, -1, 1140, 110),
        (300, TRADE, 1, 1141, 200),
        (2500, DIFF, 1, 1139, 3),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140, 1141))
    t = results.tables(r)
    s = results.summarize(r, t)
    assert s["fills"] == len(t["fills"]) == 2
    assert s["volume_base"] == pytest.approx(20.0)
    assert s["reconciled"] is True
    assert 0 < s["two_sided_uptime"] <= 1
    # Bought 10 at 0.01140 and sold 10 at 0.01141: 0.0001 realised before fees.
    assert s["pnl_realised_quote"] == pytest.approx(0.0001)
    assert s["pnl_quote"] == pytest.approx(0.0001 - float(r.venue.account.fees))
    out = results.save(tmp_path / "res", t, s)
    t2, s2 = results.load(out)
    assert s2["fills"] == 2 and len(t2["fills"]) == 2


def test_refuses_mismatched_grid(tmp_path: Path) -> None:
    path = write(tmp_path / "t.parquet", book_rows())
    market = replace(meta().market(), tick_size=Decimal("0.0001"))
    with pytest.raises(BacktestError, match="tape grid"):
        Backtest(path, market, Fixed(1), Reconciler(market, "t"), None,
                 FillEngine(lot_units=LOT), ConstantLatency(0, 0))  # fmt: skip


def test_exchange_side_runs_in_exchange_time_order(tmp_path: Path) -> None:
    # The trade happened on the venue at 105 ms, before our bid arrived (110 ms), but its
    # stream delivered it late (local 130 ms, after a depth row stamped 120 ms). The venue
    # side must apply it at 105 ms: no fill for an order that was not there yet.
    rows = [
        *book_rows(lots=5),
        (120, DIFF, -1, 1141, 90, 121),
        (105, TRADE, -1, 1140, 50, 130),
        (200, DIFF, -1, 1141, 80, 201),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140))
    assert r.venue.records.fills == []
    # Delivered on time, the same trade reaches the resting order and fills it.
    rows[-2] = (125, TRADE, -1, 1140, 50, 130)
    r = run(write(tmp_path / "u.parquet", rows), Fixed(1140))
    assert [(f[0] - T0, f[4] // LOT) for f in r.venue.records.fills] == [(125 * MS, 10)]


def test_row_groups_do_not_change_the_result(tmp_path: Path) -> None:
    # Windows are joined at row-group boundaries; every row must reach the venue side once.
    rng = np.random.default_rng(11)
    rows: list[Any] = book_rows(lots=50)
    for k in range(1, 300):
        lag = int(rng.integers(1, 40))  # feed latency varies: exchange order != local order
        rows.append((k * 20, DIFF, 1, 1140, int(rng.integers(1, 80)), k * 20 + lag))
        rows.append((k * 20 + 1, TRADE, -1, 1140, int(rng.integers(1, 30)), k * 20 + 45))
    rows.sort(key=lambda r: r[5] if len(r) > 5 else r[0] + 1)
    # A reorder allowance just above the largest lag: windows are joined while the venue
    # side has already applied rows of the old one.
    small = run(write(tmp_path / "a.parquet", rows, group=7), Fixed(1140, lots=20), reorder_ms=50)
    big = run(write(tmp_path / "b.parquet", rows, group=10_000), Fixed(1140, lots=20))
    assert fills(small) == fills(big) and len(fills(big)) > 3
    assert small.venue.account == big.venue.account


def test_taking_order_fills_as_taker_and_never_takes_a_level_twice(tmp_path: Path) -> None:
    # Not post-only: a bid at 1141 takes the 6 lots offered there as taker; the rest (4)
    # rests at 1141. Until the venue's next word on that level, the consumed lots are gone:
    # a second order (re-placed after the fill) finds nothing more to take there.
    rows = [*book_rows(lots=6), (150, DIFF, 1, 1139, 5), (350, DIFF, -1, 1141, 6)]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1141), post_only=False)
    first = r.venue.records.fills[0]
    assert (first[0] - T0, first[3], first[4] // LOT, first[5]) == (110 * MS, 1141, 6, False)
    taker_units = sum(f[4] for f in r.venue.records.fills if not f[5])
    assert taker_units == 6 * LOT  # until the level is refreshed at 350 ms
    assert r.venue.account.fees >= Decimal("0.001") * Decimal("0.01141") * 6


def test_equity_pnl_is_the_trading_pnl(tmp_path: Path) -> None:
    # Starting holdings (1,000 KGST) move with the mark; the PnL column must not.
    rows = [
        *book_rows(),
        (120, TRADE, -1, 1140, 110),
        (300, DIFF, -1, 1141, 0),
        (300, DIFF, 1, 1140, 0),
        (300, DIFF, 1, 1150, 5),
        (301, DIFF, -1, 1151, 5),
    ]
    r = run(write(tmp_path / "t.parquet", rows), Fixed(1140))
    t = results.tables(r)
    s = results.summarize(r, t)
    eq = t["equity"]
    assert eq["pnl"].iloc[-1] == pytest.approx(s["pnl_quote"])
    # Bought 10 at 0.01140, marked at the mid 0.011505 at the end, minus the maker fee.
    assert s["pnl_quote"] == pytest.approx(10 * (0.011505 - 0.01140) - 10 * 0.01140 * 0.0001)
