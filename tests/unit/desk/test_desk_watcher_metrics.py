"""The desk watcher's gauges a dashboard reads: open signals per state (expiry included) and
the last transition times the signal annotation is drawn from."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from pegbot.book import OrderBook
from pegbot.desk import DeskWatcher, SignalDesk
from pegbot.journal import Journal
from pegbot.market import Market
from pegbot.metrics import Metrics
from pegbot.metrics_table import OPEN_SIGNAL_STATES
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler
from pegbot.peg.sinks import SignalSinks
from pegbot.timeunits import NS_PER_S

KGST = Market.kgst_usdt()
FAIR = Fraction(100, 8745)
T0 = 1_700_000_000 * NS_PER_S
EXPIRY = 60 * NS_PER_S


def open_signals(m: Metrics) -> dict[str, float]:
    """Non-zero ``pegbot_signals_open`` of mint_and_sell, by state."""
    out = {}
    for state in OPEN_SIGNAL_STATES:
        v = m.registry.get_sample_value(
            "pegbot_signals_open", {"kind": "mint_and_sell", "state": state}
        )
        assert v is not None, state  # initialised, so the panel shows 0, not "no data"
        if v:
            out[state] = v
    return out


def test_open_signals_follow_decisions_and_expiry(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite")
    metrics = Metrics()
    metrics.init_desk(["binance"])
    signaler = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=Decimal(0)),
                           ArbConfig(min_edge_bps=Decimal(0), expiry_ns=EXPIRY))  # fmt: skip
    sinks = SignalSinks(KGST, journal=journal)
    watcher = DeskWatcher(journal, [signaler], sinks, metrics)
    book = OrderBook()
    book.apply_snapshot([(1147, 1000 * 10**8)], [(1150, 10**10)])  # bid above fair: a mint
    [proposed] = signaler.evaluate(T0, book, FairValue.fixed(FAIR, KGST))
    sinks.publish([proposed])
    watcher.poll(T0 + 1)
    assert open_signals(metrics) == {"proposed": 1}

    desk = SignalDesk(journal, clock=lambda: T0 + 2)
    desk.decide(proposed.signal.id, "approve", "alice")
    watcher.poll(T0 + 3)
    assert open_signals(metrics) == {"approved": 1}  # the proposed count went back to 0
    last = metrics.registry.get_sample_value(
        "pegbot_signal_last_transition_timestamp_seconds",
        {"kind": "mint_and_sell", "to_state": "approved"},
    )
    assert last == (T0 + 3) / NS_PER_S  # the time it was applied: where the mark is drawn

    # Nobody executes it: past its expiry it is no longer open, even before the signaler
    # journals the expiry (its process may be gone).
    watcher.poll(T0 + EXPIRY + 1)
    assert open_signals(metrics) == {}
    journal.close()


def test_a_restarted_watcher_counts_open_signals_from_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path)
    signaler = ArbSignaler(KGST, ArbCosts(exchange_fee_bps=Decimal(0)),
                           ArbConfig(min_edge_bps=Decimal(0), expiry_ns=EXPIRY))  # fmt: skip
    sinks = SignalSinks(KGST, journal=journal)
    book = OrderBook()
    book.apply_snapshot([(1147, 1000 * 10**8)], [(1150, 10**10)])
    sinks.publish(signaler.evaluate(T0, book, FairValue.fixed(FAIR, KGST)))
    journal.close()

    journal = Journal(path)
    metrics = Metrics()
    metrics.init_desk(["binance"])
    watcher = DeskWatcher(journal, [], SignalSinks(KGST, journal=journal), metrics)
    # The last transition times come from the whole journal, before any poll.
    assert (
        metrics.registry.get_sample_value(
            "pegbot_signal_last_transition_timestamp_seconds",
            {"kind": "mint_and_sell", "to_state": "proposed"},
        )
        == T0 / NS_PER_S
    )
    watcher.poll(T0 + 1)
    assert open_signals(metrics) == {"proposed": 1}
    journal.close()
