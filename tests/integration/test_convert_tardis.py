"""Tardis CSV → tape, on hand-made files in Tardis's documented layout (tests/data/tardis)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.market import Market
from pegbot.tape.reader import TapeReader
from pegbot.tape.replay import replay
from pegbot.tape.schema import CLEAR, DIFF, SNAPSHOT, TRADE
from pegbot.tape.tardis import TardisError, convert_tardis

DATA = Path(__file__).parents[1] / "data" / "tardis"
BOOK = DATA / "binance_incremental_book_L2_KGSTUSDT_handmade.csv"
TRADES = DATA / "binance_trades_KGSTUSDT_handmade.csv"
runner = CliRunner()


def test_book_and_trades_merge_trades_first(tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    args = ["--symbol", "KGST/USDT", "--tick-size", "0.00001", "--lot-size", "1"]
    res = runner.invoke(
        app, ["convert", "--from", "tardis", *args, str(BOOK), str(TRADES), "-o", str(out)]
    )
    assert res.exit_code == 0, res.output
    stats = json.loads(res.stdout)
    assert stats["snapshots"] == 2 and stats["trades"] == 3 and stats["unknown_side_trades"] == 1
    c = TapeReader(out).read_all()
    kinds = c["kind"].tolist()
    assert kinds == [
        CLEAR,
        SNAPSHOT,
        SNAPSHOT,
        SNAPSHOT,
        SNAPSHOT,
        TRADE,
        DIFF,
        TRADE,
        DIFF,
        DIFF,
        DIFF,
        CLEAR,
        SNAPSHOT,
        SNAPSHOT,
        TRADE,
        DIFF,
    ]
    # Same local time: the trade comes before the depth change that reflects it.
    assert c["local_ts"][5] == c["local_ts"][6] == 1735689600112000000
    assert c["exch_ts"][5] == 1735689600095000000
    assert c["side"][5] == 1 and c["side"][7] == -1 and c["side"][14] == 0
    assert c["update_id"][5] == 1001
    book, rep, _ = replay(out, until_ns=1735689600312000000)
    assert book.bids == {1143: 30000 * 10**8, 1142: 7000 * 10**8, 1144: 5000 * 10**8}
    assert book.asks == {1146: 25000 * 10**8, 1145: 9000 * 10**8}
    # The second snapshot resets the book.
    book, rep, _ = replay(out)
    assert rep.synced and book.bids == {1144: 4000 * 10**8}
    assert book.asks == {1145: 11000 * 10**8, 1146: 3000 * 10**8}


def test_gzip_input_and_bad_rows(tmp_path: Path) -> None:
    text = BOOK.read_text().splitlines()
    text.insert(3, "binance,ETHUSDT,1735689600000000,1735689600012000,true,bid,1.0,1")
    text.insert(6, "binance,KGSTUSDT,1735689600100000,1735689600112000,false,middle,0.01145,1")
    text.insert(7, "binance,KGSTUSDT,1735689600100000,1735689600112000,false,ask,abc,1")
    text.insert(8, "binance,KGSTUSDT,1735689600100000,bad,false,ask,0.01145,1")
    text.insert(9, "binance,KGSTUSDT")
    # A local clock step back by 50 ms.
    text.append("binance,KGSTUSDT,1735689600600000,1735689600462000,false,bid,0.01140,1")
    gz = tmp_path / "binance_incremental_book_L2_KGSTUSDT.csv.gz"
    gz.write_bytes(gzip.compress(("\n".join(text) + "\n").encode()))
    meta = convert_tardis([gz], tmp_path / "t.parquet", Market.kgst_usdt())
    s = meta.stats
    assert s["skipped"] == {
        "malformed": 1,
        "bad_timestamp": 1,
        "other_symbol": 1,
        "bad_side": 1,
        "bad_number": 1,
    }
    assert s["nonmonotonic_local_ts"] == 1
    local = TapeReader(tmp_path / "t.parquet").read_all()["local_ts"]
    assert bool((np.diff(local) >= 0).all())


def test_off_grid_price_names_file_and_line(tmp_path: Path) -> None:
    text = BOOK.read_text().splitlines()
    text[5] = text[5].replace("0.01145,9000", "0.011455,9000")
    p = tmp_path / "book.csv"
    p.write_text("\n".join(text) + "\n")
    with pytest.raises(TardisError, match=r"book\.csv:6: price 0\.011455"):
        convert_tardis([p], tmp_path / "t.parquet", Market.kgst_usdt())


def test_unknown_header_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.csv"
    p.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TardisError, match="not a Tardis"):
        convert_tardis([p], tmp_path / "t.parquet", Market.kgst_usdt())
