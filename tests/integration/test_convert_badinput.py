"""Bad input to the Binance converter: each case is a clear error or a counted skip that
``pegbot tape info`` shows. Broken copies are made from a real slice in tmp_path."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.market import Market
from pegbot.tape.binance import BinanceRawConverter
from pegbot.tape.reader import TapeReader
from pegbot.tape.schema import DIFF, TapeMeta
from pegbot.tape.writer import TapeWriter

DATA = Path(__file__).parents[1] / "data" / "binance_raw"
SRC = DATA / "spot_btcusdt_20240808_L1-1500.gz"
ARGS = ["--symbol", "BTC/USDT", "--tick-size", "0.01", "--lot-size", "0.00001"]
runner = CliRunner()


def lines() -> list[bytes]:
    return gzip.decompress(SRC.read_bytes()).split(b"\n")[:-1]


def write(path: Path, body: list[bytes], *, newline_at_end: bool = True) -> Path:
    data = b"\n".join(body) + (b"\n" if newline_at_end else b"")
    path.write_bytes(gzip.compress(data))
    return path


def convert_and_info(tmp_path: Path, src: Path, args: list[str] = ARGS) -> dict[str, Any]:
    out = tmp_path / "t.parquet"
    res = runner.invoke(app, ["convert", "--from", "binance-raw", *args, str(src), "-o", str(out)])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["tape", "info", str(out), "--json"])
    assert res.exit_code == 0, res.output
    info: dict[str, Any] = json.loads(res.stdout)
    return info


def test_clean_slice_has_no_skips(tmp_path: Path) -> None:
    info = convert_and_info(tmp_path, SRC)
    assert sum(info["skipped"].values()) == 0 and info["gaps"] == 0
    assert info["nonmonotonic_local_ts"] == 0
    for key in ("rows", "depth_rows", "trade_rows", "snapshot_rows", "start_ns", "end_ns"):
        assert info[key] > 0
    assert info["symbol"] == "BTC/USDT" and info["tick_size"] == "0.01"
    assert info["lot_size"] == "0.00001"


def test_truncated_gzip(tmp_path: Path) -> None:
    raw = SRC.read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(raw[: int(len(raw) * 0.6)])
    info = convert_and_info(tmp_path, cut)
    assert info["skipped"]["truncated_gzip"] == 1
    # The cut last line is either torn (counted) or was cut exactly at a line end.
    assert info["skipped"]["torn_line"] <= 1
    assert info["rows"] > 1000 and info["gaps"] == 0


def test_torn_last_line(tmp_path: Path) -> None:
    body = lines()
    body[-1] = body[-1][: len(body[-1]) // 2]
    info = convert_and_info(tmp_path, write(tmp_path / "torn.gz", body, newline_at_end=False))
    assert info["skipped"]["torn_line"] == 1 and info["skipped"]["bad_json"] == 0


def test_non_json_and_bad_timestamp_lines(tmp_path: Path) -> None:
    body = lines()
    body.insert(300, b"1723161255000000000 {this is not json")
    body.insert(301, b"1723161255000000000 \x00\x01\x02")
    body.insert(302, b"not-a-timestamp {}")
    body.insert(303, b"")
    info = convert_and_info(tmp_path, write(tmp_path / "junk.gz", body))
    assert info["skipped"]["bad_json"] == 2
    assert info["skipped"]["bad_timestamp"] == 1
    assert info["gaps"] == 0


def test_unknown_streams_and_other_symbols(tmp_path: Path) -> None:
    body = lines()
    ts = body[400].split(b" ", 1)[0]
    agg = {"stream": "btcusdt@aggTrade", "data": {"e": "aggTrade", "s": "BTCUSDT"}}
    kline = {"stream": "btcusdt@kline_1m", "data": {"e": "kline", "s": "BTCUSDT"}}
    other = {
        "stream": "ethusdt@trade",
        "data": {
            "e": "trade",
            "E": 1,
            "s": "ETHUSDT",
            "t": 1,
            "p": "1",
            "q": "1",
            "T": 1,
            "m": True,
        },
    }
    err = {"code": -1121, "msg": "Invalid symbol."}
    for i, msg in enumerate([agg, agg, kline, other, err]):
        body.insert(401 + i, ts + b" " + json.dumps(msg).encode())
    info = convert_and_info(tmp_path, write(tmp_path / "streams.gz", body))
    assert info["skipped"]["unknown_stream"] == 3
    assert info["unknown_streams"] == {"aggTrade": 2, "kline_1m": 1}
    assert info["skipped"]["other_symbol"] == 1
    assert info["skipped"]["error_message"] == 1


def test_malformed_message_is_counted(tmp_path: Path) -> None:
    body = lines()
    ts = body[500].split(b" ", 1)[0]
    bad_trade = {"stream": "btcusdt@trade", "data": {"e": "trade", "s": "BTCUSDT"}}
    body.insert(501, ts + b" " + json.dumps(bad_trade).encode())
    body.insert(502, ts + b" [1, 2, 3]")
    info = convert_and_info(tmp_path, write(tmp_path / "malformed.gz", body))
    assert info["skipped"]["malformed"] == 2 and info["gaps"] == 0


def test_non_monotonic_local_timestamps(tmp_path: Path) -> None:
    body = lines()
    # Move three depth/trade lines' clocks back by 5 s (a recorder clock step).
    picked = [i for i in range(600, 900) if b"@depth" in body[i] or b"@trade" in body[i]][:3]
    for i in picked:
        ts, rest = body[i].split(b" ", 1)
        body[i] = str(int(ts) - 5_000_000_000).encode() + b" " + rest
    info = convert_and_info(tmp_path, write(tmp_path / "clock.gz", body))
    assert info["nonmonotonic_local_ts"] == 3
    assert info["gaps"] == 0 and sum(info["skipped"].values()) == 0
    cols = TapeReader(tmp_path / "t.parquet").read_all(["local_ts"])
    assert bool((cols["local_ts"][1:] >= cols["local_ts"][:-1]).all())


def test_off_grid_depth_price_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    # A tick of 0.1 does not fit BTCUSDT spot's cent prices: a wrong --tick-size.
    out = tmp_path / "t.parquet"
    args = ["--symbol", "BTC/USDT", "--tick-size", "0.1", "--lot-size", "0.00001"]
    res = runner.invoke(app, ["convert", "--from", "binance-raw", *args, str(SRC), "-o", str(out)])
    assert res.exit_code == 1
    assert f"{SRC}:8:" in res.stderr and "not a multiple of 0.1" in res.stderr
    assert not out.exists()


def test_off_grid_trade_price_is_a_counted_skip(tmp_path: Path) -> None:
    body = lines()
    ts = body[700].split(b" ", 1)[0]
    trade = {
        "stream": "btcusdt@trade",
        "data": {
            "e": "trade",
            "E": 1723161260000,
            "s": "BTCUSDT",
            "t": 9,
            "p": "61830.005",
            "q": "0.1",
            "T": 1723161260000,
            "m": False,
            "M": True,
        },
    }
    body.insert(701, ts + b" " + json.dumps(trade).encode())
    info = convert_and_info(tmp_path, write(tmp_path / "offgrid.gz", body))
    assert info["skipped"]["off_grid_trade"] == 1 and info["gaps"] == 0


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    res = runner.invoke(app, ["convert", "--from", "binance-raw", str(SRC), "-o", "x.parquet"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["convert", str(SRC), "-o", "x.parquet"])
    assert res.exit_code == 2
    res = runner.invoke(
        app, ["convert", "--from", "binance-raw", *ARGS, str(tmp_path / "nope.gz"), "-o", "x"]
    )
    assert res.exit_code == 2


def test_tape_book_cli(tmp_path: Path) -> None:
    convert_and_info(tmp_path, SRC)
    out = tmp_path / "t.parquet"
    cols = TapeReader(out).read_all()
    at = int(cols["local_ts"][cols["kind"] == DIFF][40])
    res = runner.invoke(app, ["tape", "book", str(out), "--at", str(at), "--depth", "3", "--json"])
    assert res.exit_code == 0, res.output
    book = json.loads(res.stdout)
    assert len(book["bids"]) == 3 and len(book["asks"]) == 3
    (bp, bq), (ap, aq) = book["bids"][0], book["asks"][0]
    assert all(isinstance(x, str) for x in (bp, bq, ap, aq))
    assert float(bp) < float(ap) and float(book["bids"][1][0]) < float(bp)
    # Later rows with the same local time may apply too, never fewer.
    assert book["update_id"] >= int(cols["update_id"][cols["kind"] == DIFF][40])
    res = runner.invoke(app, ["tape", "book", str(out), "--at", "0", "--json"])
    assert json.loads(res.stdout) == {
        "bids": [],
        "asks": [],
        "update_id": 0,
        "local_ts": 0,
        "exch_ts": 0,
        "synced": False,
        "crossed": False,
    }
    res = runner.invoke(app, ["tape", "info", str(out)])
    assert res.exit_code == 0 and "depth_rows" in res.stdout


def test_timestamps_past_int64_nanoseconds_are_counted_not_fatal(tmp_path: Path) -> None:
    # A 22-digit nanosecond stamp and a millisecond stamp of the year 5000 overflow int64 ns.
    body = lines()
    trade = next(line for line in body[300:] if b"@trade" in line).split(b" ", 1)[1]
    body.insert(300, b"1723161255000000000000 " + trade)
    body.insert(301, b"99999999999999 " + trade)
    src = write(tmp_path / "big.gz", body)
    market = Market(
        "BTC/USDT", "BTC", "USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.00001")
    )
    for fast in (False, True):
        out = tmp_path / f"t{fast}.parquet"
        with TapeWriter(
            out, TapeMeta("binance", "BTC/USDT", market.tick_size, market.lot_size)
        ) as w:
            stats = BinanceRawConverter(market, w, fast=fast).convert_files([src])
        assert stats["skipped"]["bad_timestamp"] == 2, fast
        assert stats["gaps"] == 0
