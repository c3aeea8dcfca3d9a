"""The tolerant raw-line reader: units, truncated gzip, torn lines, several gzip members."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pegbot.tape.rawlines import RawCounters, iter_line_blocks, iter_raw_lines, local_ts_to_ns

DATA = Path(__file__).parents[2] / "data" / "binance_raw"


def test_units_by_magnitude() -> None:
    assert local_ts_to_ns(1723161253937085768) == 1723161253937085768
    assert local_ts_to_ns(1680652700599351) == 1680652700599351000
    assert local_ts_to_ns(1680652700599) == 1680652700599000000
    with pytest.raises(ValueError, match="epoch"):
        local_ts_to_ns(12345)


def test_real_files_both_units() -> None:
    c = RawCounters()
    lines = list(iter_raw_lines(DATA / "spot_btcusdt_20240808_L1-1500.gz", c))
    assert len(lines) == 1500 and c.us_lines == 0 and c.truncated_gzip == 0
    assert lines[0].local_ns == 1723161253937085768
    assert lines[7].payload.startswith(b'{"lastUpdateId":50093239218')
    c = RawCounters()
    lines = list(iter_raw_lines(DATA / "usdm_btcusdt_20230404_L1-400.dat.gz", c))
    assert len(lines) == 400 and c.us_lines == 400
    assert lines[0].local_ns % 1000 == 0 and lines[0].local_ns > 10**18
    assert all(line.complete for line in lines)


def test_truncated_gzip_keeps_what_was_written(tmp_path: Path) -> None:
    raw = (DATA / "spot_btcusdt_20240808_L1-1500.gz").read_bytes()
    cut = tmp_path / "cut.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    c = RawCounters()
    lines = list(iter_raw_lines(cut, c))
    assert c.truncated_gzip == 1 and c.corrupt_gzip == 0
    assert 100 < len(lines) < 1500
    # Every line but the last is whole; the cut last line is flagged, or dropped and counted
    # when the cut fell inside its timestamp.
    assert all(line.complete for line in lines[:-1])
    assert (not lines[-1].complete) or c.torn_lines == 1
    full = list(iter_raw_lines(DATA / "spot_btcusdt_20240808_L1-1500.gz"))
    assert [x.payload for x in lines[:-1]] == [x.payload for x in full[: len(lines) - 1]]


def test_concatenated_members_and_plain_text(tmp_path: Path) -> None:
    a = b'1723161253937085768 {"a":1}\n'
    b = b'1723161253937085769 {"b":2}\n'
    p = tmp_path / "two.gz"
    p.write_bytes(gzip.compress(a) + gzip.compress(b))
    c = RawCounters()
    got = [x.payload for x in iter_raw_lines(p, c)]
    assert got == [b'{"a":1}', b'{"b":2}'] and c.truncated_gzip == 0
    plain = tmp_path / "plain.txt"
    plain.write_bytes(a + b"\n" + b"garbage line\n" + b"17 {}\n" + b)
    c = RawCounters()
    linenos = [x.lineno for x in iter_raw_lines(plain, c)]
    assert linenos == [1, 5]
    assert c.empty_lines == 1 and c.bad_timestamp == 2 and c.lines == 5


def test_corrupt_gzip_is_flagged(tmp_path: Path) -> None:
    raw = bytearray((DATA / "spot_nexousdt_20240724_L1-400.dat.gz").read_bytes())
    for i in range(2000, 2100):
        raw[i] ^= 0xFF
    p = tmp_path / "bad.gz"
    p.write_bytes(bytes(raw))
    c = RawCounters()
    list(iter_line_blocks(p, c))
    assert c.corrupt_gzip == 1
