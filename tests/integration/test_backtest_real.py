"""The backtester on a real Binance spot slice (tests/data/binance_raw, converted in the test).

The cross-check market maker runs through the scenario loader and the CLI; checks: the same
inputs give the same fills, cash and inventory reconcile with the fills, no fill at a price
the market never reached, every fill comes at least the entry latency after its order was
sent, and the ``--json`` line carries what scripts read.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from pegbot.backtest.cli import register
from pegbot.backtest.engine import BacktestRun
from pegbot.backtest.scenario import ScenarioError, build_backtest, load_scenario
from pegbot.market import Market
from pegbot.tape.binance import convert_binance_raw
from pegbot.tape.reader import read_all
from pegbot.tape.schema import TRADE

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "tests/data/binance_raw/spot_btcusdt_20240808_L1-1500.gz"
SCENARIO = ROOT / "backtests/hftbacktest_crosscheck.toml"
# 0.001 BTC a side, limit 0.04 BTC (lots of 0.00001 BTC); touch-sized for this slice.
OVERRIDES = ["strategy.params.size_lots=100", "strategy.params.limit_lots=4000"]


@pytest.fixture(scope="module")
def tape(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bt") / "spot.parquet"
    market = Market(
        symbol="BTC/USDT",
        base="BTC",
        quote="USDT",
        tick_size=Decimal("0.01"),
        lot_size=Decimal("0.00001"),
    )
    convert_binance_raw([RAW], path, market)
    return path


def _run(tape: Path, extra: list[str] | None = None) -> BacktestRun:
    sc, where = load_scenario(SCENARIO, OVERRIDES + (extra or []))
    return build_backtest(sc, where, tape=tape).run()


def test_same_inputs_same_fills_and_accounts_reconcile(tape: Path) -> None:
    a, b = _run(tape), _run(tape)
    assert a.venue.records.fills == b.venue.records.fills
    assert a.venue.records.orders == b.venue.records.orders
    fills = a.venue.records.fills
    assert len(fills) >= 3, "the slice should give the market maker a few fills"
    base = a.initial.base_units + sum(f[4] if f[2] > 0 else -f[4] for f in fills)
    cash = a.initial.cash_tu + sum(-f[3] * f[4] if f[2] > 0 else f[3] * f[4] for f in fills)
    assert a.venue.account.base_units == base and a.venue.account.cash_tu == cash
    assert a.local.base_units == base and a.local.cash_tu == cash  # the shell agrees
    assert a.venue.account.fees == Decimal(0)  # maker fee 0, and post-only never takes


def test_no_fill_at_a_price_the_market_never_reached(tape: Path) -> None:
    run = _run(tape)
    _, cols = read_all(tape)
    ex = np.where(cols["exch_ts"] > 0, cols["exch_ts"], cols["local_ts"])
    for ts, _cid, side, price, _q, maker, _fee, _left in run.venue.records.fills:
        assert maker
        seen = ex <= ts
        if side > 0:  # a buy at p needs a seller at or below p: a trade or an ask there
            hit = (
                seen
                & (cols["price"] <= price)
                & (
                    ((cols["kind"] == TRADE) & (cols["side"] < 0))
                    | ((cols["kind"] != TRADE) & (cols["side"] < 0) & (cols["qty"] > 0))
                )
            )
        else:
            hit = (
                seen
                & (cols["price"] >= price)
                & (
                    ((cols["kind"] == TRADE) & (cols["side"] > 0))
                    | ((cols["kind"] != TRADE) & (cols["side"] > 0) & (cols["qty"] > 0))
                )
            )
        assert hit.any(), f"fill at {price} on side {side} at {ts}: market never got there"


def test_latency_respected(tape: Path) -> None:
    run = _run(tape, ["latency.entry_ms=25", "latency.response_ms=7"])
    sent = {o[2]: o[1] for o in run.venue.records.orders if o[0] == "sent"}
    accepted = {o[2]: o[1] for o in run.venue.records.orders if o[0] == "accepted"}
    assert accepted and all(accepted[c] == sent[c] + 25_000_000 for c in accepted)
    for f in run.venue.records.fills:
        assert f[0] >= sent[f[1]] + 25_000_000


def test_scenario_rejects_unknown_keys_and_bad_overrides(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"queue\.modle"):
        load_scenario(SCENARIO, ["queue.modle=risk_averse"])
    with pytest.raises(ScenarioError, match=r"latency\.entry_ms"):
        load_scenario(SCENARIO, ["latency.entry_ms=-1"])
    sc, _ = load_scenario(SCENARIO, ["engine.wake_ms=250", "name=x y"])
    assert sc.engine.wake_ms == 250 and sc.name == "x y"


def test_cli_backtest_json_and_report(tape: Path, tmp_path: Path) -> None:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Group."""

    register(app)
    out = tmp_path / "res"
    args = ["backtest", str(SCENARIO), "--tape", str(tape), "-o", str(out), "--json"]
    args += [f"--set={o}" for o in OVERRIDES]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    line = json.loads(res.stdout.strip().splitlines()[-1])
    for key in (
        "events",
        "wall_s",
        "events_per_s",
        "fills",
        "volume_base",
        "pnl_quote",
        "fees_quote",
    ):
        assert key in line
    assert line["events"] > 1000 and line["reconciled"] is True
    # The time the tables and the scorecard take after the replay is reported beside it.
    assert 0 < line["summary_s"] < 600
    # The replay split: the compiled core, and the Python outside it per decision.
    assert 0 < line["core_s"] < line["wall_s"]
    per_s = 1e6 / line["evaluations"]  # wall_s and core_s are rounded to 1e-4 s
    outside = (line["wall_s"] - line["core_s"]) * per_s
    assert line["decision_us"] == pytest.approx(outside, abs=1e-4 * per_s + 0.01)
    assert (out / "fills.parquet").exists() and (out / "summary.json").exists()
    bad = CliRunner().invoke(
        app, ["backtest", str(SCENARIO), "--tape", str(tape), "--set", "nope=1"]
    )
    assert bad.exit_code == 2
