"""Tape ↔ hftbacktest npz: exact round trip, and hftbacktest 2.4.4 itself accepts our npz and
builds the same book from it."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.market import Market
from pegbot.tape import hftbacktest as hb
from pegbot.tape.binance import convert_binance_raw
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import replay

DATA = Path(__file__).parents[1] / "data" / "binance_raw"
runner = CliRunner()

CASES = [
    ("spot_btcusdt_20240808_L1-1500.gz", "BTC/USDT", "0.01"),
    ("usdm_btcusdt_20240808_L1-1500.gz", "BTC/USDT", "0.1"),
    ("spot_nexousdt_20240723.dat.gz", "NEXO/USDT", "0.001"),
]


def _market(symbol: str, tick: str) -> Market:
    base, _, quote = symbol.partition("/")
    return Market(
        symbol=symbol, base=base, quote=quote, tick_size=Decimal(tick), lot_size=Decimal("0.00001")
    )


def _tape(tmp_path: Path, name: str, symbol: str, tick: str) -> Path:
    out = tmp_path / "t.parquet"
    convert_binance_raw([DATA / name], out, _market(symbol, tick))
    return out


@pytest.mark.parametrize(("name", "symbol", "tick"), CASES, ids=[c[0] for c in CASES])
def test_round_trip_through_npz_is_exact(tmp_path: Path, name: str, symbol: str, tick: str) -> None:
    tape = _tape(tmp_path, name, symbol, tick)
    npz = tmp_path / "t.npz"
    res = runner.invoke(app, ["convert", "--to", "hftbacktest-npz", str(tape), "-o", str(npz)])
    assert res.exit_code == 0, res.output
    back = tmp_path / "back.parquet"
    args = ["--symbol", symbol, "--tick-size", tick, "--lot-size", "0.00001"]
    res = runner.invoke(
        app, ["convert", "--from", "hftbacktest-npz", *args, str(npz), "-o", str(back)]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["skipped"] == {}
    a, b = TapeReader(tape).read_all(), TapeReader(back).read_all()
    for col in a:
        assert np.array_equal(a[col], b[col]), col


def test_event_layout_matches_installed_hftbacktest() -> None:
    types = pytest.importorskip("hftbacktest.types")
    assert types.event_dtype == hb.EVENT_DTYPE
    for name in (
        "DEPTH_EVENT",
        "TRADE_EVENT",
        "DEPTH_CLEAR_EVENT",
        "DEPTH_SNAPSHOT_EVENT",
        "EXCH_EVENT",
        "LOCAL_EVENT",
        "BUY_EVENT",
        "SELL_EVENT",
    ):
        assert getattr(hb, name) == getattr(types, name), name


@pytest.mark.peers
@pytest.mark.parametrize(("name", "symbol", "tick"), CASES[:2], ids=[c[0] for c in CASES[:2]])
def test_hftbacktest_accepts_npz_and_builds_same_book(
    tmp_path: Path, name: str, symbol: str, tick: str
) -> None:
    validation = pytest.importorskip("hftbacktest.data.validation")
    snapshot = pytest.importorskip("hftbacktest.data.utils.snapshot")
    tape = _tape(tmp_path, name, symbol, tick)
    npz = tmp_path / "t.npz"
    hb.tape_to_npz(tape, npz)
    data = np.load(npz)["data"]
    validation.validate_event_order(data)  # raises if either timeline is out of order
    ev = data["ev"]
    assert bool(((ev & hb.LOCAL_EVENT) != 0).sum() == TapeReader(tape).num_rows)
    ours, _, _ = replay(tape)
    theirs = snapshot.create_last_snapshot([str(npz)], float(tick), 0.00001)
    side = np.where((theirs["ev"] & hb.BUY_EVENT) != 0, 1, -1)
    ticks = np.rint(theirs["px"] / float(tick)).astype(np.int64)
    units = np.rint(theirs["qty"] * 1e8).astype(np.int64)
    their_bids = {int(t): int(q) for t, q, s in zip(ticks, units, side, strict=True) if s > 0}
    their_asks = {int(t): int(q) for t, q, s in zip(ticks, units, side, strict=True) if s < 0}
    assert their_bids == ours.bids
    assert their_asks == ours.asks


def test_foreign_npz_with_side_clears_and_unknown_events(tmp_path: Path) -> None:
    """hftbacktest-made data: per-side clears before a snapshot collapse into one CLEAR."""
    E = hb.EXCH_EVENT | hb.LOCAL_EVENT
    rows = [
        (hb.DEPTH_CLEAR_EVENT | hb.BUY_EVENT | E, 10, 0.01100, 0.0),
        (hb.DEPTH_SNAPSHOT_EVENT | hb.BUY_EVENT | E, 10, 0.01144, 100.0),
        (hb.DEPTH_CLEAR_EVENT | hb.SELL_EVENT | E, 10, 0.01200, 0.0),
        (hb.DEPTH_SNAPSHOT_EVENT | hb.SELL_EVENT | E, 10, 0.01145, 50.0),
        (5 | hb.BUY_EVENT | E, 11, 0.01144, 100.0),  # DEPTH_BBO: not held by a tape
        (hb.TRADE_EVENT | hb.SELL_EVENT | E, 12, 0.01144, 3.0),
        (hb.DEPTH_EVENT | hb.BUY_EVENT | E, 13, 0.01144, 97.0),
    ]
    data = np.zeros(len(rows), dtype=hb.EVENT_DTYPE)
    for i, (ev, ts, px, qty) in enumerate(rows):
        data[i]["ev"], data[i]["exch_ts"], data[i]["local_ts"] = ev, ts, ts + 1
        data[i]["px"], data[i]["qty"] = px, qty
    npz = tmp_path / "f.npz"
    np.savez_compressed(npz, data=data)
    m = Market.kgst_usdt()
    meta = hb.npz_to_tape([npz], tmp_path / "f.parquet", m)
    assert meta.stats["merged_clears"] == 1 and meta.stats["skipped"] == {"event_5": 1}
    book, rep, _ = replay(tmp_path / "f.parquet")
    assert rep.synced and book.bids == {1144: 9_700_000_000} and book.asks == {1145: 5_000_000_000}
    data[1]["px"] = 0.011445  # half a tick
    np.savez_compressed(npz, data=data)
    with pytest.raises(hb.NpzError, match="event row 1: price"):
        hb.npz_to_tape([npz], tmp_path / "g.parquet", m)
    assert not (tmp_path / "g.parquet").exists()
