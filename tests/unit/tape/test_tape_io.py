"""Tape writer and reader (exact round trip, bounded row groups, order) and the replay path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pegbot.book import OrderBook
from pegbot.tape.reader import Array, TapeReader, read_all
from pegbot.tape.replay import BookReplayer, replay
from pegbot.tape.schema import CLEAR, COLUMNS, DIFF, SNAPSHOT, TRADE, TapeMeta
from pegbot.tape.summary import book_at, tape_info
from pegbot.tape.writer import TapeOrderError, TapeWriter


def _meta() -> TapeMeta:
    return TapeMeta(
        exchange="binance",
        symbol="KGST/USDT",
        tick_size=Decimal("0.00001"),
        lot_size=Decimal("1"),
        source="test",
    )


def _rows(rows: list[tuple[int, int, int, int, int, int]]) -> dict[str, list[int]]:
    """(local_ts, kind, side, price, qty, update_id) rows → columns."""
    cols: dict[str, list[int]] = {c: [] for c in COLUMNS}
    for local, kind, side, price, qty, uid in rows:
        for name, v in zip(
            COLUMNS, (local - 5, local, kind, side, price, qty, uid, uid), strict=True
        ):
            cols[name].append(v)
    return cols


I64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=3000),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    row_group=st.sampled_from([7, 1000, 1 << 20]),
    split=st.integers(min_value=1, max_value=5),
)
def test_round_trip_exact(
    tmp_path_factory: pytest.TempPathFactory, n: int, seed: int, row_group: int, split: int
) -> None:
    rng = np.random.default_rng(seed)
    big = np.iinfo(np.int64)
    cols: dict[str, Array] = {
        "exch_ts": rng.integers(big.min, big.max, n, dtype=np.int64),
        "local_ts": np.sort(rng.integers(big.min, big.max, n, dtype=np.int64)),
        "kind": rng.integers(1, 5, n, dtype=np.uint8),
        "side": rng.integers(-1, 2, n, dtype=np.int8),
        "price": rng.integers(big.min, big.max, n, dtype=np.int64),
        "qty": rng.integers(0, big.max, n, dtype=np.int64),
        "first_update_id": rng.integers(0, big.max, n, dtype=np.int64),
        "update_id": rng.integers(0, big.max, n, dtype=np.int64),
    }
    path = tmp_path_factory.mktemp("rt") / "t.parquet"
    meta = _meta()
    with TapeWriter(path, meta, row_group_rows=row_group) as w:
        for part in np.array_split(np.arange(n), split):
            w.write({k: v[part] for k, v in cols.items()})
        w.meta.stats["gaps"] = 3
    reader = TapeReader(path)
    assert reader.num_rows == n
    if n:
        assert reader.num_row_groups == -(-n // row_group)
    got = reader.read_all()
    for name in COLUMNS:
        assert got[name].dtype == cols[name].dtype
        assert np.array_equal(got[name], cols[name]), name
    batches = list(reader.iter_batches())
    assert sum(len(b["kind"]) for b in batches) == n
    assert all(len(b["kind"]) <= row_group for b in batches)
    assert reader.meta.stats == {"gaps": 3}
    assert reader.meta.tick_size == Decimal("0.00001") and reader.meta.symbol == "KGST/USDT"


def test_writer_refuses_disorder_and_bad_columns(tmp_path: Path) -> None:
    w = TapeWriter(tmp_path / "t.parquet", _meta())
    w.write(_rows([(10, DIFF, 1, 1140, 5, 1)]))
    with pytest.raises(TapeOrderError):
        w.write(_rows([(9, DIFF, 1, 1140, 5, 2)]))
    with pytest.raises(TapeOrderError):
        w.write(_rows([(20, DIFF, 1, 1140, 5, 2), (19, DIFF, 1, 1140, 5, 3)]))
    bad = _rows([(30, DIFF, 1, 1140, 5, 2)])
    del bad["qty"]
    with pytest.raises(ValueError, match="qty"):
        w.write(bad)
    w.close()
    assert TapeReader(tmp_path / "t.parquet").num_rows == 1


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    with pytest.raises(RuntimeError), TapeWriter(path, _meta()) as w:
        w.write(_rows([(10, DIFF, 1, 1140, 5, 1)]))
        raise RuntimeError("converter failed")
    assert not path.exists()


def test_not_a_tape(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.parquet")
    with pytest.raises(ValueError, match="not a pegbot tape"):
        TapeReader(tmp_path / "x.parquet")


def _sample_tape(path: Path) -> None:
    rows = [
        (100, TRADE, 1, 1145, 7, 900),  # trades never touch the book
        (200, CLEAR, 0, 0, 0, 10),
        (200, SNAPSHOT, 1, 1144, 100, 10),
        (200, SNAPSHOT, 1, 1143, 200, 10),
        (200, SNAPSHOT, -1, 1145, 300, 10),
        (200, SNAPSHOT, -1, 1146, 400, 10),
        (300, DIFF, 1, 1144, 0, 11),  # best bid leaves
        (300, DIFF, -1, 1145, 250, 11),
        (350, TRADE, -1, 1143, 5, 901),
        (400, DIFF, 1, 1144, 50, 12),
        (500, CLEAR, 0, 0, 0, 13),  # a gap: the book is unknown
        (600, DIFF, -1, 1147, 1, 14),
    ]
    with TapeWriter(path, _meta(), row_group_rows=4) as w:
        w.write(_rows(rows))


def test_replay_rules(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _sample_tape(path)
    book, rep, _ = replay(path, until_ns=300)
    assert rep.synced
    assert (book.best_bid, book.best_bid_qty, book.best_ask, book.best_ask_qty) == (
        1143,
        200,
        1145,
        250,
    )
    assert book.update_id == 11 and book.local_ts == 300
    book, rep, _ = replay(path, until_ns=450)
    assert book.best_bid == 1144 and book.best_bid_qty == 50 and rep.level_updates == 7
    book, rep, _ = replay(path)
    assert not rep.synced and rep.clears == 2
    assert book.bids == {} and book.asks == {1147: 1}
    book, rep, _ = replay(path, until_ns=150)
    assert book.bids == {} and not rep.synced


def test_replayer_matches_level_by_level(tmp_path: Path) -> None:
    """The batched path gives the same book as one set_level per depth row."""
    rng = np.random.default_rng(7)
    n = 20_000
    kind = rng.choice([DIFF, DIFF, DIFF, TRADE], n).astype(np.uint8)
    kind[0] = CLEAR
    kind[1:50] = SNAPSHOT
    cols: dict[str, Array] = {
        "exch_ts": np.arange(n, dtype=np.int64),
        "local_ts": np.arange(n, dtype=np.int64),
        "kind": kind,
        "side": rng.choice([-1, 1], n).astype(np.int8),
        "price": rng.integers(1100, 1190, n, dtype=np.int64),
        "qty": rng.integers(0, 4, n, dtype=np.int64),
        "first_update_id": np.arange(n, dtype=np.int64),
        "update_id": np.arange(n, dtype=np.int64),
    }
    rep = BookReplayer()
    for a in range(0, n, 997):
        rep.apply(cols, a, a + 997)
    ref = OrderBook()
    for i in range(n):
        if kind[i] in (SNAPSHOT, DIFF):
            ref.set_level(int(cols["side"][i]), int(cols["price"][i]), int(cols["qty"][i]))
    assert rep.book.bids == ref.bids and rep.book.asks == ref.asks
    assert rep.book.best_bid == ref.best_bid and rep.book.best_ask == ref.best_ask
    assert rep.book.update_id == int(cols["update_id"][kind != TRADE][-1])


def test_info_and_book_at(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _sample_tape(path)
    info = tape_info(path)
    assert info["rows"] == 12 and info["depth_rows"] == 8 and info["trade_rows"] == 2
    assert info["snapshot_rows"] == 4 and info["clear_rows"] == 2
    assert info["start_ns"] == 100 and info["end_ns"] == 600
    assert info["symbol"] == "KGST/USDT" and info["tick_size"] == "0.00001"
    b = book_at(path, 300, 5)
    assert b["bids"] == [["0.01143", "0.000002"]]
    assert b["asks"] == [["0.01145", "0.0000025"], ["0.01146", "0.000004"]]
    assert b["update_id"] == 11 and b["synced"] is True


def test_read_all_helper(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    _sample_tape(path)
    meta, cols = read_all(path, ["kind", "price"])
    assert set(cols) == {"kind", "price"} and len(cols["kind"]) == 12
    assert meta.symbol == "KGST/USDT"
