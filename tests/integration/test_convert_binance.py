"""Binance raw recordings → tape, on real slices (tests/data/binance_raw, see its README)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pegbot.book import OrderBook
from pegbot.market import Market
from pegbot.tape.binance import BinanceRawConverter, convert_binance_raw
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import BookReplayer, check_book_tickers, replay, tops_by_update_id
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE

DATA = Path(__file__).parents[1] / "data" / "binance_raw"


def market(symbol: str, tick: str) -> Market:
    base, _, quote = symbol.partition("/")
    return Market(
        symbol=symbol, base=base, quote=quote, tick_size=Decimal(tick), lot_size=Decimal("0.001")
    )


# fixture, market, futures?, REST snapshot lastUpdateId
SERIES = [
    ("spot_btcusdt_20240808_L1-1500.gz", market("BTC/USDT", "0.01"), False, 50093239218),
    ("usdm_btcusdt_20240808_L1-1500.gz", market("BTC/USDT", "0.1"), True, 5123107852948),
    ("usdm_btcusdt_20230404_L1-400.dat.gz", market("BTC/USDT", "0.1"), True, 2710246765483),
    ("cm_btcusd_perp_20240808_L1-300.gz", market("BTCUSD_PERP", "0.1"), True, 1007198635033),
    ("spot_nexousdt_20240723.dat.gz", market("NEXO/USDT", "0.001"), False, 134180599),
]


def convert(
    tmp_path: Path, names: list[str], m: Market, out_name: str = "out.parquet", **kw: Any
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / out_name
    meta = convert_binance_raw([DATA / n for n in names], out, m, **kw)
    return out, meta.stats


def replay_checked(path: Path) -> tuple[OrderBook, int]:
    """Replay message by message; the book must never be crossed while synced."""
    reader = TapeReader(path)
    rep = BookReplayer()
    messages = 0
    for cols in reader.iter_batches():
        uid, kind = cols["update_id"], cols["kind"]
        cut = np.flatnonzero((np.diff(uid) != 0) | (np.diff(kind) != 0)) + 1
        bounds = [0, *cut.tolist(), len(uid)]
        for a, b in itertools.pairwise(bounds):
            rep.apply(cols, a, b)
            if rep.synced and int(kind[a]) == DIFF:
                messages += 1
                assert not rep.book.is_crossed, (int(uid[a]), rep.book)
    return rep.book, messages


@pytest.mark.parametrize(("name", "m", "futures", "snap_id"), SERIES, ids=[s[0] for s in SERIES])
def test_each_recording_converts(
    tmp_path: Path, name: str, m: Market, futures: bool, snap_id: int
) -> None:
    path, stats = convert(tmp_path, [name], m)
    assert stats["market"] == ("futures" if futures else "spot")
    assert stats["gaps"] == 0 and not stats["never_synced"]
    assert stats["messages"]["snapshot"] == 1
    # The 2023 USD-M recording also subscribed to markPrice, which a tape does not hold.
    unknown = stats["skipped"].pop("unknown_stream")
    assert unknown == sum(stats["unknown_streams"].values())
    assert set(stats["unknown_streams"]) <= {"markPrice@1s"}
    assert sum(stats["skipped"].values()) == 0, stats["skipped"]
    cols = TapeReader(path).read_all()
    kind = cols["kind"]
    # Sorted by local time; one CLEAR, the snapshot rows right after it with its id.
    assert bool((np.diff(cols["local_ts"]) >= 0).all())
    clear_at = np.flatnonzero(kind == CLEAR)
    assert len(clear_at) == 1 and cols["update_id"][clear_at[0]] == snap_id
    snap = kind == SNAPSHOT
    assert bool((cols["update_id"][snap] == snap_id).all())
    first_snap = int(np.flatnonzero(snap)[0])
    assert first_snap == clear_at[0] + 1
    # Nothing but trades before the snapshot: buffered diffs come after it.
    assert bool((kind[:first_snap][kind[:first_snap] != CLEAR] == TRADE).all())
    # Diff update ids increase after the snapshot and start by straddling it.
    diffs = kind == DIFF
    u = cols["update_id"][diffs]
    first = cols["first_update_id"][diffs]
    assert bool((np.diff(u) >= 0).all())
    assert first[0] <= snap_id + 1 <= u[0] if not futures else first[0] <= snap_id <= u[0]
    assert stats["sync"]["applied"] == len(np.unique(u))
    # Trades: aggressor side from ``m`` is ±1, price and qty positive.
    trades = kind == TRADE
    assert trades.any() and set(np.unique(cols["side"][trades]).tolist()) <= {-1, 1}
    assert bool((cols["qty"][trades] > 0).all())
    book, messages = replay_checked(path)
    assert messages == stats["sync"]["applied"] and book.is_two_sided


def test_spot_snapshot_and_first_diff_as_documented(tmp_path: Path) -> None:
    """The source README: snapshot on line 8 (id 50093239218), the diff on line 6 straddles it."""
    m = SERIES[0][1]
    path, stats = convert(tmp_path, [SERIES[0][0]], m)
    cols = TapeReader(path).read_all()
    diffs = cols["kind"] == DIFF
    assert int(cols["first_update_id"][diffs][0]) == 50093239208
    assert int(cols["update_id"][diffs][0]) == 50093239224
    assert stats["sync"]["dropped_old"] == 2  # lines 1 and 2 predate the snapshot
    assert stats["released_after_snapshot"] == 1
    # The released diff is stamped with the snapshot's arrival, not its own.
    snap_local = int(cols["local_ts"][cols["kind"] == SNAPSHOT][0])
    assert int(cols["local_ts"][diffs][0]) == snap_local == 1723161254206652067


@pytest.mark.parametrize(
    ("name", "m"),
    [(s[0], s[1]) for s in SERIES[:2] + SERIES[3:4]],
    ids=[s[0] for s in SERIES[:2] + SERIES[3:4]],
)
def test_book_ticker_agrees_with_replayed_book(tmp_path: Path, name: str, m: Market) -> None:
    """Every bookTicker whose u is a replayed update id shows the replayed best levels."""
    out = tmp_path / "t.parquet"
    from pegbot.tape.schema import TapeMeta
    from pegbot.tape.writer import TapeWriter

    meta = TapeMeta("binance", m.symbol, m.tick_size, m.lot_size)
    with TapeWriter(out, meta) as w:
        conv = BinanceRawConverter(m, w, collect_tickers=True)
        conv.convert_files([DATA / name])
    tops = tops_by_update_id(TapeReader(out).iter_batches())
    res = check_book_tickers(tops, conv.tickers)
    assert res.tickers > 100
    assert res.comparable >= 5, res
    assert res.mismatched == 0, res.examples
    assert res.matched == res.comparable


def test_series_continues_into_next_file_without_gap(tmp_path: Path) -> None:
    m = SERIES[4][1]
    one = tmp_path / "one"
    both = tmp_path / "both"
    one.mkdir()
    both.mkdir()
    p1, s1 = convert(one, ["spot_nexousdt_20240723.dat.gz"], m)
    p2, s2 = convert(
        both, ["spot_nexousdt_20240723.dat.gz", "spot_nexousdt_20240724_L1-400.dat.gz"], m
    )
    assert s2["gaps"] == 0 and s2["sync"]["resyncs"] == 0
    assert s2["sync"]["applied"] > s1["sync"]["applied"]
    assert [f["path"] for f in s2["files"]] == [
        "spot_nexousdt_20240723.dat.gz",
        "spot_nexousdt_20240724_L1-400.dat.gz",
    ]
    c1 = TapeReader(p1).read_all()
    c2 = TapeReader(p2).read_all()
    n = len(c1["kind"])
    # Converting the pair gives the first file's tape, then the continuation.
    for name in c1:
        assert np.array_equal(c1[name], c2[name][:n]), name
    d2 = c2["kind"][n:] == DIFF
    assert d2.any()
    first_next = c2["first_update_id"][n:][d2][0]
    last_prev = c1["update_id"][c1["kind"] == DIFF][-1]
    assert first_next == last_prev + 1
    # The books agree at the file boundary, and the pair replays uncrossed to the end.
    b1, _, _ = replay(p1)
    b2, _, _ = replay(p2, until_ns=int(c1["local_ts"][-1]))
    assert b1.bids == b2.bids and b1.asks == b2.asks
    book, _ = replay_checked(p2)
    assert book.update_id > b1.update_id


def test_mid_stream_file_is_reported(tmp_path: Path) -> None:
    m = SERIES[0][1]
    path, stats = convert(tmp_path, ["spot_btcusdt_20230405_L1-300.dat.gz"], m)
    assert stats["never_synced"] is True
    assert stats["messages"]["snapshot"] == 0
    assert stats["skipped"]["depth_before_snapshot"] == stats["messages"]["depth"] > 50
    assert stats["timestamp_units"]["us"] > 0 and stats["timestamp_units"]["ns"] == 0
    cols = TapeReader(path).read_all()
    # Only trades: a book is never shown without a snapshot.
    assert bool((cols["kind"] == TRADE).all()) and len(cols["kind"]) == stats["messages"]["trade"]
    book, rep, _ = replay(path)
    assert not rep.synced and not book.bids and not book.asks


def test_clock_skew_local_behind_exchange(tmp_path: Path) -> None:
    """2024 files: the recorder clock is ~1.27 s behind E. Order and book are unaffected."""
    m = SERIES[1][1]
    path, stats = convert(tmp_path, [SERIES[1][0]], m)
    lat = stats["feed_latency_ms"]
    assert -1300 < lat["p50"] < -1200 and lat["max"] < 0
    cols = TapeReader(path).read_all()
    rows = cols["kind"] != CLEAR
    assert bool((cols["local_ts"][rows] < cols["exch_ts"][rows]).mean() > 0.99)
    assert stats["gaps"] == 0 and stats["nonmonotonic_local_ts"] == 0
    # The 2023 file's clock is close to the exchange's.
    _, s23 = convert(tmp_path, [SERIES[2][0]], m, "s23.parquet")
    assert -50 < s23["feed_latency_ms"]["p50"] < 50


def test_gap_writes_clear_and_waits_for_snapshot(tmp_path: Path) -> None:
    """A copy with line 187 (a diff) deleted: one gap, a CLEAR, no book afterwards."""
    m = SERIES[0][1]
    path, stats = convert(tmp_path, ["spot_btcusdt_20240808_L1-1500_gap-line187-deleted.gz"], m)
    assert stats["gaps"] == 1 and stats["sync"]["resyncs"] == 1
    cols = TapeReader(path).read_all()
    clears = np.flatnonzero(cols["kind"] == CLEAR)
    assert len(clears) == 2
    gap = clears[1]
    # The CLEAR names the event that broke the chain (U 50093239970 after u 50093239407).
    assert int(cols["first_update_id"][gap]) == 50093239970
    assert not bool((cols["kind"][gap:] == DIFF).any())
    assert stats["skipped"]["depth_before_snapshot"] > 100
    book, rep, _ = replay(path)
    assert not rep.synced and not book.bids
    good, _ = convert(tmp_path, [SERIES[0][0]], m, "good.parquet")
    # Up to the deleted message both tapes hold the same book; after it the gap tape holds
    # the book as of u 50093239407 until the CLEAR, never a book with a hole in it.
    deleted_ts = 1723161254437331067
    b_gap, _, _ = replay(path, until_ns=deleted_ts - 1)
    b_good, _, _ = replay(good, until_ns=deleted_ts - 1)
    assert b_gap.bids == b_good.bids and b_gap.asks == b_good.asks
    b_gap, _, _ = replay(path, until_ns=int(cols["local_ts"][gap]) - 1)
    assert b_gap.update_id == 50093239407
