import sqlite3
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.journal import MIGRATIONS, Journal
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler, SignalKind
from pegbot.peg.sinks import SignalSinks, export_fair

KGST = Market.kgst_usdt()


def test_journal_is_wal_migrated_and_keeps_the_audit_trail(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    assert journal.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert journal.schema_version == len(MIGRATIONS)
    s = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=Decimal(0)), ArbConfig(min_edge_bps=Decimal(0)))
    book = OrderBook()
    book.apply_snapshot([(1147, 10**10)], [(1150, 10**10)])
    metrics = Metrics()
    metrics.init_peg("binance", "KGST/USDT", ["nbkr"])
    sinks = SignalSinks(KGST, journal=journal, metrics=metrics)
    events = s.evaluate(1, book, FairValue.fixed(Fraction(100, 8745), KGST))
    sinks.publish(events)
    sid = events[0].signal.id
    sinks.publish([s.approve(sid, 2)])
    sinks.publish([s.mark_executed(sid, 3)])
    assert journal.transitions(sid) == [
        (None, "proposed", 1, ""),
        ("proposed", "approved", 2, ""),
        ("approved", "executed", 3, ""),
    ]
    assert [r["state"] for r in journal.signal_records()] == ["executed"]
    assert journal.signal_records(["proposed"]) == []
    sample = metrics.registry.get_sample_value
    for state in ("proposed", "approved", "executed"):
        assert (
            sample("pegbot_arb_signals_total", {"direction": "mint_and_sell", "state": state}) == 1
        )
    assert (
        sample("pegbot_arb_signals_total", {"direction": "buy_and_redeem", "state": "expired"}) == 0
    )
    journal.close()
    again = Journal(path)  # reopening does not re-run migrations
    assert again.schema_version == len(MIGRATIONS) and len(again.signal_records()) == 1
    again.close()


def test_a_newer_journal_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer"):
        Journal(path)


def test_failed_transaction_rolls_back(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    with pytest.raises(KeyError):
        journal.record_signal({"id": "x"}, None, 1)  # missing fields: nothing half-written
    assert journal.signal_records() == []
    journal.close()


def test_every_label_set_is_initialised() -> None:
    metrics = Metrics()
    metrics.init_peg("binance", "KGST/USDT", ["nbkr", "usdt"])
    sample = metrics.registry.get_sample_value
    assert sample("pegbot_reference_errors_total", {"source": "usdt", "reason": "timeout"}) == 0
    assert (
        sample(
            "pegbot_arb_signals_suppressed_total",
            {"direction": "buy_and_redeem", "reason": "cooldown"},
        )
        == 0
    )
    assert (
        sample(
            "pegbot_fair_value_state", {"venue": "binance", "symbol": "KGST/USDT", "state": "jump"}
        )
        == 0
    )
    export_fair(metrics, "binance", "KGST/USDT", FairValue.fixed("0.0114", KGST, now_ns=5 * 10**9))
    assert (
        sample(
            "pegbot_fair_value_state", {"venue": "binance", "symbol": "KGST/USDT", "state": "ok"}
        )
        == 1
    )
    assert (
        sample(
            "pegbot_fair_value_observed_timestamp_seconds",
            {"venue": "binance", "symbol": "KGST/USDT"},
        )
        == 5
    )
    assert sample("pegbot_arb_signals_enabled", {"venue": "binance", "symbol": "KGST/USDT"}) == 1


@given(
    usd_kgs=st.decimals(min_value=70, max_value=100, places=4),
    fee=st.decimals(min_value=0, max_value=30, places=2),
    mint=st.decimals(min_value=0, max_value=50, places=2),
    edge=st.decimals(min_value=-20, max_value=50, places=3),
    kind=st.sampled_from(list(SignalKind)),
)
def test_trigger_tick_is_exactly_where_the_marginal_edge_reaches_the_threshold(
    usd_kgs: Decimal, fee: Decimal, mint: Decimal, edge: Decimal, kind: SignalKind
) -> None:
    s = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=fee, mint_fee_bps=mint, redeem_fee_bps=mint))
    fair = 1 / Fraction(usd_kgs)
    t = s.trigger_ticks(fair, kind, Fraction(edge))
    step = 1 if kind is SignalKind.MINT_AND_SELL else -1
    assert s.marginal_edge_bps(fair, kind, t) >= Fraction(edge)
    assert s.marginal_edge_bps(fair, kind, t - step) < Fraction(edge)
