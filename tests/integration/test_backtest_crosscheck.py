"""pegbot's backtester against hftbacktest 2.4.4 on the same data, fill for fill.

The cross-check scenario (``backtests/hftbacktest_crosscheck.toml``) runs in pegbot; the same
rules run in hftbacktest (``benchmarks/hftbacktest_peer.py``) on the tape exported with
pegbot's npz converter. Inputs: the real Binance spot slice of ``tests/data`` and a
200,000-row synthetic KGST-like tape (``benchmarks/synth.py``: tick 1e-5, lot 1). The fill
count must be equal and the PnL equal up to hftbacktest's float arithmetic (the tolerance
``agree`` states). The peer loop also runs as plain Python (``compiled=False``) and must give
the same fills: the speed comparison in ``benchmarks/bench_backtest.py`` compares like with
like.
"""

from __future__ import annotations

import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pegbot.backtest import results
from pegbot.backtest.scenario import build_backtest, load_scenario
from pegbot.market import Market
from pegbot.tape.binance import convert_binance_raw
from pegbot.tape.hftbacktest import tape_to_npz
from pegbot.tape.reader import TapeReader

pytest.importorskip("hftbacktest")
pytestmark = pytest.mark.peers

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from hftbacktest_peer import agree, run_hftbacktest  # noqa: E402
from synth import make_columns, write_tape  # noqa: E402

RAW = ROOT / "tests/data/binance_raw/spot_btcusdt_20240808_L1-1500.gz"
SCENARIO = ROOT / "backtests/hftbacktest_crosscheck.toml"


def _pegbot(tape: Path, size: int, limit: int) -> dict[str, Any]:
    sc, where = load_scenario(
        SCENARIO, [f"strategy.params.size_lots={size}", f"strategy.params.limit_lots={limit}"]
    )
    run = build_backtest(sc, where, tape=tape).run()
    s = results.summarize(run, results.tables(run))
    return {"fills": s["fills"], "pnl": float(s["pnl_quote"]), "volume": s["volume_base"]}


def _peer(tape: Path, size: int, limit: int, compiled: bool = True) -> dict[str, Any]:
    npz = tape.with_suffix(".npz")
    if not npz.exists():
        tape_to_npz(tape, npz)
    meta = TapeReader(tape).meta
    out: dict[str, Any] = run_hftbacktest(
        npz, TapeReader(tape).num_rows, float(meta.tick_size), float(meta.lot_size),
        size, limit, compiled=compiled,
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def spot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xc") / "spot.parquet"
    market = Market(
        symbol="BTC/USDT", base="BTC", quote="USDT",
        tick_size=Decimal("0.01"), lot_size=Decimal("0.00001"),
    )  # fmt: skip
    convert_binance_raw([RAW], path, market)
    return path


@pytest.fixture(scope="module")
def kgst_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("xc") / "kgst.parquet"
    write_tape(path, make_columns(200_000))
    return path


def test_real_spot_slice_agrees_with_hftbacktest(spot: Path) -> None:
    ours, theirs = _pegbot(spot, 100, 4000), _peer(spot, 100, 4000)
    assert ours["fills"] >= 3, "the slice should give the market maker a few fills"
    assert ours["fills"] == theirs["fills"]
    assert ours["volume"] == pytest.approx(theirs["volume"], rel=1e-12)
    assert agree(ours, theirs), (ours, theirs)


def test_kgst_like_tape_agrees_with_hftbacktest(kgst_like: Path) -> None:
    ours, theirs = _pegbot(kgst_like, 50_000, 2_000_000), _peer(kgst_like, 50_000, 2_000_000)
    assert ours["fills"] > 1000
    assert ours["fills"] == theirs["fills"]
    assert agree(ours, theirs), (ours, theirs)


def test_the_plain_python_peer_loop_gives_the_same_fills(spot: Path) -> None:
    compiled, plain = _peer(spot, 100, 4000), _peer(spot, 100, 4000, compiled=False)
    assert (plain["fills"], plain["pnl"]) == (compiled["fills"], compiled["pnl"])
