"""The desk loop's exports: ladder capacity per side (and to the scorecard), the chain flag."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pegbot.config import load_settings
from pegbot.execution.venue import Balance
from pegbot.journal import Journal
from pegbot.live.desk import DeskLoop
from pegbot.market import Market, Side
from pegbot.metrics import Metrics
from pegbot.peg.sinks import SignalSinks
from pegbot.scorecard.live import LiveScorecard
from pegbot.strategy import DesiredQuotes, Quote

KGST = Market.kgst_usdt()
WALLET = "0x" + "1" * 40


def loop(tmp_path: Path, **desk: object) -> tuple[DeskLoop, Metrics, Journal]:
    settings = load_settings(None, environ={}, desk=desk)
    journal = Journal(tmp_path / "j.sqlite")
    metrics = Metrics()
    metrics.init_desk(["binance"], wallets=["desk"])
    sinks = SignalSinks(KGST, journal=journal)
    return (
        DeskLoop(settings, journal, sinks, {}, metrics, lambda: 0, lambda: None),
        metrics,
        journal,
    )


def test_capacity_per_side_reaches_the_gauges_and_the_scorecard(tmp_path: Path) -> None:
    desk, metrics, journal = loop(tmp_path)
    card = LiveScorecard(KGST, "binance", "KGST/USDT")
    bid = KGST.price_to_ticks(Decimal("0.0114"))
    desired = DesiredQuotes((
        Quote(Side.BUY, bid, 10, "b0"), Quote(Side.BUY, bid - 1, 10, "b1"),
        Quote(Side.SELL, bid + 2, 10, "a0"),
    ))  # fmt: skip
    # The first bid level's cost and half again: level 2 is a tick cheaper, so 5 of its lots.
    level_usdt = KGST.lots_to_qty(10) * Decimal("0.0114")
    balances = {
        "USDT": Balance("USDT", level_usdt * Decimal("1.5"), Decimal(0)),  # 1.5 levels
        "KGST": Balance("KGST", Decimal(0), Decimal(0)),  # no KGST: the ask side is unfunded
    }
    desk.observe_capacity("binance", KGST, desired, balances, 7, card)
    get = metrics.registry.get_sample_value
    assert get("pegbot_ladder_capacity_levels", {"venue": "binance", "side": "bid"}) == 1
    assert get("pegbot_ladder_capacity_lots", {"venue": "binance", "side": "bid"}) == 15
    assert get("pegbot_ladder_capacity_levels", {"venue": "binance", "side": "ask"}) == 0
    assert card.figures(7).capacity == {"bid": (1, 15), "ask": (0, 0)}

    # A strategy that wants no ask leaves that side's figure alone: nothing was measured.
    only_bids = DesiredQuotes(tuple(q for q in desired.quotes if q.side is Side.BUY))
    rich = {**balances, "KGST": Balance("KGST", Decimal(10**6), Decimal(0))}
    desk.observe_capacity("binance", KGST, only_bids, rich, 8, card)
    assert get("pegbot_ladder_capacity_levels", {"venue": "binance", "side": "ask"}) == 0
    assert card.figures(8).capacity["ask"] == (0, 0)
    journal.close()


def test_the_chain_flag_says_whether_a_watcher_is_configured(tmp_path: Path) -> None:
    _, metrics, journal = loop(tmp_path)
    assert metrics.registry.get_sample_value("pegbot_chain_watcher_enabled") == 0
    journal.close()
    chain = {"enabled": True, "decimals": 18, "wallets": {"desk": WALLET}}
    _, metrics, journal = loop(tmp_path, chain=chain)
    assert metrics.registry.get_sample_value("pegbot_chain_watcher_enabled") == 1
    journal.close()
