"""Ledger: average-cost PnL, fees in any asset, venues, the equity identity (hypothesis)."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.execution.venue import Fill
from pegbot.journal import Journal
from pegbot.ledger import Holdings, Ledger, LedgerError
from pegbot.market import Market, Side

M = Market.kgst_usdt()
U = M.units_per_lot  # qty units per KGST


def fill(
    tid: str,
    side: Side,
    ticks: int,
    kgst: int,
    fee: str = "0",
    asset: str = "USDT",
    venue: str = "binance",
) -> Fill:
    return Fill(venue, M.symbol, tid, "c", "o", side, ticks, kgst * U, Decimal(fee), asset, True, 0)


def px(ticks: int) -> Fraction:
    return Fraction(ticks, 100_000)


def test_average_cost_realised_and_marked() -> None:
    led = Ledger(M)
    led.apply(fill("1", Side.BUY, 1140, 1000))
    led.apply(fill("2", Side.BUY, 1150, 1000))
    p = led.pnl(px(1145))
    assert p.base == 2000 and p.average_cost == px(1145)
    assert p.quote == -(px(1140) * 1000 + px(1150) * 1000)
    assert p.unrealised == 0 and p.realised == 0
    led.apply(fill("3", Side.SELL, 1160, 500))
    p = led.pnl(px(1145))
    assert p.realised == (px(1160) - px(1145)) * 500
    assert p.average_cost == px(1145)  # reducing keeps the average
    # Through zero: sell 2000 more from +1500 -> short 500 opened at 1130.
    led.apply(fill("4", Side.SELL, 1130, 2000))
    p = led.pnl(px(1120))
    assert p.base == -500
    assert p.average_cost == px(1130)
    assert p.realised == (px(1160) - px(1145)) * 500 + (px(1130) - px(1145)) * 1500
    assert p.unrealised == -500 * (px(1120) - px(1130))  # a short gains when fair falls
    # Cover the short at a loss.
    led.apply(fill("5", Side.BUY, 1135, 500))
    p = led.pnl(px(1120))
    assert p.base == 0 and p.average_cost == 0 and p.unrealised == 0
    assert (
        p.realised
        == (px(1160) - px(1145)) * 500 + (px(1130) - px(1145)) * 1500 + (px(1130) - px(1135)) * 500
    )


def test_duplicate_fill_ignored() -> None:
    led = Ledger(M)
    assert led.apply(fill("1", Side.BUY, 1140, 1000)) is True
    assert led.apply(fill("1", Side.BUY, 1140, 1000)) is False
    assert led.apply(fill("1", Side.BUY, 1140, 1000, venue="htx")) is True
    assert led.holdings().base == 2000
    assert led.holdings("binance").base == 1000


def test_fees_in_quote_base_and_third_asset() -> None:
    led = Ledger(M, rates={"BNB": Decimal("600")})
    led.apply(fill("1", Side.SELL, 1140, 1000, "0.0114", "USDT"))
    p = led.pnl(px(1140))
    assert p.fees == Fraction("0.0114")
    assert p.quote == px(1140) * 1000 - Fraction("0.0114")
    # Base fee: 1 KGST of 1000 bought goes to the venue, valued at the fill price.
    led2 = Ledger(M)
    led2.apply(fill("1", Side.BUY, 1140, 1000, "1", "KGST"))
    p2 = led2.pnl(px(1140))
    assert p2.base == 999
    assert p2.fees == px(1140)
    assert p2.quote == -px(1140) * 1000
    assert p2.total == -px(1140)  # at the fill price only the fee is lost
    led.apply(fill("2", Side.BUY, 1140, 1000, "0.00001", "BNB"))
    assert led.pnl(px(1140)).fees == Fraction("0.0114") + Fraction("0.00001") * 600
    assert led.fee_asset_balance("BNB") == Fraction("-0.00001")
    with pytest.raises(LedgerError, match="no ETH rate"):
        led.apply(fill("3", Side.BUY, 1140, 1000, "0.1", "ETH"))
    assert led.pnl(px(1140)).fills == 2  # nothing of the bad fill was applied


def test_venues_and_total() -> None:
    led = Ledger(M)
    led.set_balances("binance", Decimal("1000"), Decimal("20"), cost_price=px(1143))
    led.set_balances("htx", 0, Decimal("50"))
    led.apply(fill("1", Side.SELL, 1150, 400))
    led.apply(fill("1", Side.BUY, 1140, 300, venue="htx"))
    assert led.holdings("binance").base == 600
    assert led.holdings("htx").base == 300
    assert led.holdings().base == 900
    total = led.pnl(px(1145))
    parts = [led.pnl(px(1145), v) for v in led.venues]
    assert total.total == sum(p.total for p in parts)
    assert total.realised == (px(1150) - px(1143)) * 400
    with pytest.raises(LedgerError):
        led.set_balances("binance", 1, 1, cost_price=1)  # after fills
    with pytest.raises(LedgerError):
        Ledger(M).set_balances("x", 5, 0)  # base without a cost price
    with pytest.raises(TypeError):
        led.pnl(0.0114)  # type: ignore[arg-type]
    with pytest.raises(LedgerError):
        led.apply(Fill("b", "BTC/USDT", "9", "c", "o", Side.BUY, 1, 1, Decimal(0), "USDT", True, 0))


trades = st.lists(
    st.tuples(
        st.sampled_from([Side.BUY, Side.SELL]),
        st.integers(1100, 1200),
        st.integers(1, 5000),
        st.sampled_from(["USDT", "KGST", ""]),
        st.integers(-5, 50),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(trades, st.integers(0, 3000), st.integers(1100, 1200), st.integers(1100, 1200))
def test_total_equals_change_of_equity(
    trades: list[tuple[Side, int, int, str, int]], start: int, cost: int, fair: int
) -> None:
    led = Ledger(M)
    led.set_balances("binance", start, 100, cost_price=px(cost))
    for n, (side, ticks, kgst, asset, fee_milli) in enumerate(trades):
        fee = Decimal(fee_milli) / 1000 if asset else Decimal(0)
        led.apply(fill(str(n), side, ticks, kgst, str(fee), asset or "USDT"))
    p = led.pnl(px(fair))
    inv = led.holdings()
    equity_now = inv.quote + inv.base * px(fair)
    equity_start = Fraction(100) + start * px(cost)
    assert p.total == equity_now - equity_start
    assert p.base == inv.base


def test_pnl_snapshot_round_trips_through_the_journal(tmp_path: Path) -> None:
    led = Ledger(M)
    led.apply(fill("1", Side.BUY, 1140, 1000, "1", "KGST"))
    led.apply(fill("2", Side.SELL, 1150, 333, "0.00382", "USDT"))
    pnl = led.pnl(Fraction(20, 1749))  # 1/87.45 exactly
    j = Journal(tmp_path / "j.sqlite")
    j.record_pnl(5, pnl.venue, M.symbol, **pnl.journal_values())
    (row,) = j.pnl_snapshots("total")
    assert {k: row[k] for k in pnl.journal_values()} == pnl.journal_values()
    j.close()


def tfill(tid: str, side: Side, kgst: int, ts: int, fee: str = "0", asset: str = "USDT") -> Fill:
    return Fill(
        "binance", M.symbol, tid, "c", "o", side, 1140, kgst * U, Decimal(fee), asset, True, ts
    )


def test_a_fill_in_the_starting_balances_is_not_counted_again() -> None:
    # A restart: the balances fetched hold the fills made while the bot was down; the same
    # fills are then recovered. Each must count once: in the balances.
    led = Ledger(M)
    led.set_balances("binance", 10_000, 100, cost_price=px(1140), as_of_ns=500)
    assert led.apply(tfill("1", Side.BUY, 100, ts=400)) is False  # recovered, in the balances
    assert led.apply(tfill("2", Side.BUY, 100, ts=500)) is False  # at their time: in them too
    assert led.apply(tfill("3", Side.SELL, 50, ts=501)) is True
    assert led.holdings("binance") == Holdings(Fraction(10_000 - 50), 100 + px(1140) * 50)


def test_check_leaves_out_the_fills_after_the_balances_time() -> None:
    led = Ledger(M)
    led.set_balances("binance", 10_000, 100, cost_price=px(1140), as_of_ns=0)
    led.apply(tfill("1", Side.BUY, 100, ts=10, fee="0.1", asset="KGST"))
    led.apply(tfill("2", Side.SELL, 40, ts=20))
    # The venue's balances as of 15 hold fill 1 only.
    base15, quote15 = Fraction(10_000 + 100) - Fraction("0.1"), 100 - px(1140) * 100
    assert led.check("binance", base15, quote15, 15) == Holdings(Fraction(0), Fraction(0))
    # A fill the ledger has not seen (in flight) shows as a difference.
    diff = led.check("binance", base15 - 30, quote15 + px(1140) * 30, 15)
    assert diff == Holdings(Fraction(-30), px(1140) * 30)


def test_resync_takes_the_venues_balances_and_their_time() -> None:
    led = Ledger(M)
    led.set_balances("binance", 10_000, 100, cost_price=px(1140), as_of_ns=0)
    led.apply(tfill("1", Side.BUY, 100, ts=10))
    led.apply(tfill("2", Side.SELL, 40, ts=20))
    # A withdrawal of 500 KGST happened before 15: the ledger could not know.
    base15, quote15 = Fraction(10_100 - 500), 100 - px(1140) * 100
    diff = led.resync("binance", base15, quote15, 15, cost_price=px(1140))
    assert diff == Holdings(Fraction(-500), Fraction(0))
    assert led.check("binance", base15, quote15, 15) == Holdings(Fraction(0), Fraction(0))
    assert led.holdings("binance").base == base15 - 40
    # A late fill from before the balances' time is in them now: not counted.
    assert led.apply(tfill("0", Side.BUY, 7, ts=12)) is False
    assert led.pnl(px(1140), "binance").realised == 0  # the move was no gain or loss


def test_check_cannot_tell_past_its_memory() -> None:
    led = Ledger(M, dedup_memory=2)
    led.set_balances("binance", 10_000, 100, cost_price=px(1140), as_of_ns=0)
    for i in range(3):
        led.apply(tfill(str(i), Side.BUY, 10, ts=10 + i))
    assert led.check("binance", 0, 0, 5) is None
    assert led.check("binance", 10_030, 100 - px(1140) * 30, 12) is not None
    with pytest.raises(LedgerError):
        led.resync("binance", 0, 0, 5, cost_price=px(1140))
