"""The summary's figures around fair: our depth within ±N bps and the mid's time within ±N bps.

A hand-built run (venue records written here, answers worked out by hand below) for each
fair source, and a real replay where a ladder's far levels must not count.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _backtest_helpers import LOT, T0, book_rows, meta, run, write

from pegbot.backtest import results
from pegbot.backtest.engine import BacktestRun
from pegbot.backtest.fair import fair_series_from_file
from pegbot.backtest.report import backtest_html
from pegbot.backtest.venue import Account, VenueRecords
from pegbot.market import Side
from pegbot.strategy import ALL_INPUTS, DesiredQuotes, MarketState, Quote
from pegbot.tape.schema import DIFF

S = 1_000_000_000
NO_ASK = 1 << 62


class _HandVenue:
    """What the results read of a venue, with records written by hand."""

    def __init__(self) -> None:
        self.records = VenueRecords()
        self.account = Account()

    def columns(self) -> dict[str, Any]:
        return self.records.columns()


def _hand_run(fair_source: str, **fair: Any) -> BacktestRun:
    """100 s; two bids and two asks, one of each near 1140 ticks and one far from it.

    b1 bid 1140 x10 lots from 10 s, 4 filled at 30 s, the 6 left canceled at 60 s;
    b2 bid 1130 x20 from 10 s to the end; a1 ask 1141 x10 from 20 s, filled at 50 s;
    a2 ask 1150 x20 from 20 s, canceled at 80 s; one rejected order (never rests).
    Book: 1139/1141 (mid 1140) until 40 s, 1150/1152 (mid 1151) until 70 s, no asks
    until 90 s, then 1140/1141 (mid 1140.5).
    """
    market = meta().market()
    venue = _HandVenue()
    o = venue.records.orders
    o += [
        ("sent", T0 + 9 * S, "b1", 1, 1140, 10 * LOT),
        ("accepted", T0 + 10 * S, "b1", 1, 1140, 10 * LOT),
        ("accepted", T0 + 10 * S, "b2", 1, 1130, 20 * LOT),
        ("accepted", T0 + 20 * S, "a1", -1, 1141, 10 * LOT),
        ("accepted", T0 + 20 * S, "a2", -1, 1150, 20 * LOT),
        ("rejected", T0 + 25 * S, "x1", 1, 1141, 50 * LOT),
        ("cancel_sent", T0 + 59 * S, "b1", 0, 0, 0),
        ("canceled", T0 + 60 * S, "b1", 0, 0, 6 * LOT),
        ("canceled", T0 + 80 * S, "a2", 0, 0, 20 * LOT),
    ]
    venue.records.fills += [
        (T0 + 30 * S, "b1", 1, 1140, 4 * LOT, True, Decimal(0), 6 * LOT),
        (T0 + 50 * S, "a1", -1, 1141, 10 * LOT, True, Decimal(0), 0),
    ]
    bbo = np.array(
        [
            [T0, T0 + 40 * S, T0 + 70 * S, T0 + 90 * S],
            [1139, 1150, 1150, 1140],
            [1141, 1152, NO_ASK, 1141],
        ],
        dtype=np.int64,
    )
    return BacktestRun(
        market=market, events=4, wall_s=0.1, venue=venue, local=Account(), initial=Account(),
        target_base_units=0, bbo=bbo, evaluations=0, start_ns=T0, end_ns=T0 + 100 * S,
        fair_source=fair_source, **fair,
    )  # fmt: skip


def _summary(r: BacktestRun) -> dict[str, Any]:
    return results.summarize(r, results.tables(r))


def test_depth_counts_every_resting_order_inside_the_band_fixed_fair() -> None:
    # Fair 0.0114 = 1140 ticks. ±10 and ±50 bps hold ticks 1139..1141 and 1135..1145: b1, a1.
    # b1: 10 lots x 20 s + 6 x 30 s = 380 lot-s; a1: 10 x 30 s = 300 lot-s; over 100 s.
    # ±100 bps (1129..1151) adds b2: 20 x 90 s and a2: 20 x 60 s.
    s = _summary(_hand_run("fixed", fair_price=Decimal("0.0114")))
    d = s["our_depth_near_fair"]
    for band in ("10bps", "50bps"):
        assert d[f"{band}_bid_base"] == pytest.approx(3.8, rel=1e-12)
        assert d[f"{band}_ask_base"] == pytest.approx(3.0, rel=1e-12)
        assert d[f"{band}_base"] == pytest.approx(6.8, rel=1e-12)
    assert d["100bps_bid_base"] == pytest.approx(21.8, rel=1e-12)
    assert d["100bps_ask_base"] == pytest.approx(15.0, rel=1e-12)
    assert d["100bps_base"] == pytest.approx(36.8, rel=1e-12)
    # Mid 1140 for 40 s and 1140.5 for the last 10 s is within 10 bps; 1151 (96.5 bps off)
    # only within 100; the 20 s without asks have no mid.
    assert s["mid_near_fair"] == {"10bps": 0.5, "50bps": 0.5, "100bps": 0.8}
    assert s["mid_near_fair_note"] == "" and s["mark"] == "fixed fair"


def test_depth_against_the_tape_mid_and_no_fake_100_percent() -> None:
    # Fair = mid. ±10 bps of 1140 is 1139..1141 (0-40 s), of 1151 is 1150..1152 (40-70 s),
    # nothing without asks, of 1140.5 is 1140..1141 (90-100 s).
    # b1: 10 x 20 s + 6 x 10 s = 260; a1: 10 x 20 s = 200; a2 at 1150: 20 x 30 s = 600.
    s = _summary(_hand_run("mid"))
    d = s["our_depth_near_fair"]
    assert d["10bps_bid_base"] == pytest.approx(2.6, rel=1e-12)
    assert d["10bps_ask_base"] == pytest.approx(8.0, rel=1e-12)
    assert d["10bps_base"] == pytest.approx(10.6, rel=1e-12)
    assert all(v is None for v in s["mid_near_fair"].values())
    assert "trivially" in s["mid_near_fair_note"]
    html = backtest_html(results.tables(_hand_run("mid")), s, "t")
    assert "trivially" in html and "n/a" in html and "100 %" not in html.split("trivially")[0]


def test_fair_from_a_rate_series(tmp_path: Path) -> None:
    # Fair 1140 ticks until 50 s, then 1150 (±10 bps: 1149..1151).
    # b1: 10 x 20 s + 6 x 20 s (to 50 s) = 320; a1: 300; a2 from 50 s to 80 s: 20 x 30 = 600.
    # Mid within 10 bps: 0-40 s (1140 vs 1140) and 50-70 s (1151 vs 1150): 60 %.
    path = tmp_path / "rates.csv"
    path.write_text(f"ts,fair\n{T0 - S},0.0114\n{T0 + 50 * S},0.0115\n")
    series = fair_series_from_file(path)
    assert series == [(T0 - S, Fraction("0.0114")), (T0 + 50 * S, Fraction("0.0115"))]
    r = _hand_run("series", fair_series=series)
    s = _summary(r)
    d = s["our_depth_near_fair"]
    assert d["10bps_bid_base"] == pytest.approx(3.2, rel=1e-12)
    assert d["10bps_ask_base"] == pytest.approx(9.0, rel=1e-12)
    assert s["mid_near_fair"]["10bps"] == 0.6
    assert s["mark"] == "series fair" and s["mark_end"] == pytest.approx(0.0115)
    # A series run without its series says so instead of guessing.
    s = _summary(_hand_run("series"))
    assert s["our_depth_near_fair"]["10bps_base"] is None
    assert "no fair timeline" in s["mid_near_fair_note"] and s["mark"].startswith("mid (")


class Ladder:
    """Two bids and two asks: one level at the touch, one far outside every band."""

    name = "ladder"
    inputs = ALL_INPUTS

    def __init__(self, far: bool) -> None:
        self.far = far

    def quote(self, state: MarketState) -> DesiredQuotes:
        q = [Quote(Side.BUY, 1140, 10, "b0"), Quote(Side.SELL, 1141, 10, "a0")]
        if self.far:
            q += [Quote(Side.BUY, 1100, 30, "b1"), Quote(Side.SELL, 1190, 30, "a1")]
        return DesiredQuotes(tuple(q))


def test_a_replayed_ladder_counts_only_its_levels_inside(tmp_path: Path) -> None:
    # A quiet book 1140/1141 for 10 s (no trades: nothing fills). The near levels are within
    # ±10 bps of the mid 1140.5, the far ones (1100, 1190: > 300 bps) in no band.
    rows = book_rows(lots=500) + [(k * 1000, DIFF, 1, 1130, k) for k in range(1, 11)]
    tape = write(tmp_path / "quiet.parquet", rows)
    both, near = run(tape, Ladder(True)), run(tape, Ladder(False))
    sb, sn = _summary(both), _summary(near)
    accepted = [o for o in both.venue.records.orders if o[0] == "accepted"]
    assert len(accepted) == 4 and not both.venue.records.fills
    t_acc = {o[4]: o[1] for o in accepted}  # price -> accepted at
    assert sorted(t_acc) == [1100, 1140, 1141, 1190]
    span = both.end_ns - both.start_ns
    for side, price in (("bid", 1140), ("ask", 1141)):
        want = 10 * (both.end_ns - t_acc[price]) / span
        assert want > 9
        for band in ("10bps", "50bps", "100bps"):
            assert sb["our_depth_near_fair"][f"{band}_{side}_base"] == pytest.approx(want)
            assert sn["our_depth_near_fair"][f"{band}_{side}_base"] == pytest.approx(want)
