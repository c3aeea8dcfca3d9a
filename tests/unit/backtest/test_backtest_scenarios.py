"""The scenarios shipped in ``backtests/`` run, and the signaler reads the dense book as a copy.

Every scenario file (a sweep spec names a ``scenario`` instead and is covered by the sweep
tests) must load and run on a small KGST-like tape (``benchmarks/synth.py``); the house
strategy's scenario must keep every quote inside its risk band. The backtest hands its dense
book view to the arbitrage signaler directly, so the signaler must decide the same on that
view as on an :class:`~pegbot.book.OrderBook` holding the same levels.
"""

from __future__ import annotations

import sys
import tomllib
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pegbot.backtest import results
from pegbot.backtest.book import DenseBookView
from pegbot.backtest.fair import mid_fair
from pegbot.backtest.scenario import build_backtest, load_scenario
from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.peg.fair import FairValue
from pegbot.peg.signals import ArbConfig, ArbCosts, ArbSignaler
from pegbot.strategy import FairState, FairView

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "benchmarks"))
from synth import make_columns, write_tape  # noqa: E402

SCENARIOS = sorted(
    p for p in (ROOT / "backtests").glob("*.toml") if "scenario" not in tomllib.loads(p.read_text())
)


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sc") / "kgst.parquet"
    write_tape(path, make_columns(30_000))
    return path


def test_the_house_scenario_is_shipped() -> None:
    assert {p.name for p in SCENARIOS} >= {"hftbacktest_crosscheck.toml", "peg_ladder_kgst.toml"}


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_shipped_scenario_runs(path: Path, tape: Path) -> None:
    sc, where = load_scenario(path, [])
    run = build_backtest(sc, where, tape=tape).run()
    s = results.summarize(run, results.tables(run))
    assert run.evaluations > 0 and s["orders_sent"] > 0
    assert s["reconciled"] is True


def test_peg_ladder_scenario_quotes_inside_its_band(tape: Path) -> None:
    sc, where = load_scenario(ROOT / "backtests/peg_ladder_kgst.toml", [])
    run = build_backtest(sc, where, tape=tape).run()
    assert run.fair_price == Decimal(1) / Decimal("87.45")
    fair_ticks = float(run.fair_price / run.market.tick_size)
    band = fair_ticks * sc.strategy.params["band_bps"] / 10_000
    sent = [o for o in run.venue.records.orders if o[0] == "sent"]
    assert sent
    for o in sent:
        assert fair_ticks - band - 1 <= o[4] <= fair_ticks + band + 1


def test_signaler_decides_the_same_on_the_dense_view_as_on_an_order_book() -> None:
    kgst = Market.kgst_usdt()
    unit = 10**8
    base = 1100
    bids, asks = np.zeros(100, dtype=np.int64), np.zeros(100, dtype=np.int64)
    levels_b = {1147: 300, 1146: 500, 1140: 900}  # above fair 1143.5: a mint-and-sell edge
    levels_a = {1148: 200, 1150: 400}
    for t, q in levels_b.items():
        bids[t - base] = q * unit
    for t, q in levels_a.items():
        asks[t - base] = q * unit
    view = DenseBookView(bids, asks, base, max(levels_b), min(levels_a), 7)
    book = OrderBook()
    book.apply_snapshot(
        [(t, q * unit) for t, q in levels_b.items()], [(t, q * unit) for t, q in levels_a.items()]
    )
    book.local_ts = 7
    assert view.levels(1) == book.levels(1) and view.levels(-1) == book.levels(-1)
    fair = FairValue.fixed(Fraction(100, 8745), kgst, 5)

    def decide(b: DenseBookView | OrderBook) -> list[object]:
        cfg = ArbConfig(min_edge_bps=Decimal(1), cooldown_ns=0)
        sig = ArbSignaler(kgst, ArbCosts(exchange_fee_bps=Decimal(0)), cfg)
        return [e.signal for e in sig.evaluate(5, b, fair)]

    on_view, on_book = decide(view), decide(book)
    assert len(on_view) == 1 and on_view == on_book


def test_the_tapes_own_mid_as_fair_with_the_risk_layer_on(tape: Path) -> None:
    # The mid's view is built field by field for speed; risk reads every field of it
    # (rebased_at_ns once crashed the run as a missing slot).
    sc, where = load_scenario(ROOT / "backtests/peg_ladder_kgst.toml", ["fair.source=mid"])
    assert sc.risk.enabled and sc.fair.source == "mid"
    run = build_backtest(sc, where, tape=tape).run()
    s = results.summarize(run, results.tables(run))
    assert run.evaluations > 0 and s["orders_sent"] > 0 and s["reconciled"] is True


def test_the_mid_view_is_the_view_its_constructor_builds() -> None:
    levels = np.zeros(8, dtype=np.int64)

    def view(bid: int | None, ask: int | None) -> DenseBookView:
        return DenseBookView(levels, levels, 1138, bid, ask, 5)

    assert mid_fair(7, view(1140, 1143)) == FairView(Fraction(2283, 2), FairState.OK, 0, 7)
    assert mid_fair(9, view(1140, 1143)) == FairView(Fraction(2283, 2), FairState.OK, 0, 9)
    assert mid_fair(9, view(1140, None)) is None
