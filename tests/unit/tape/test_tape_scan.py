"""The compiled scanner gives the converter exactly what the slow (orjson) path gives.

Two levels: the decimal parser against ``_fast_units`` (itself checked against Market), and
whole files — real slices and generated lines full of traps — converted both ways, compared
column by column and counter by counter.
"""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegbot.market import Market
from pegbot.tape import binance_scan as scan
from pegbot.tape.binance import BinanceRawConverter, ConvertError
from pegbot.tape.binance_lines import _fast_units

pytestmark = pytest.mark.skipif(not scan.AVAILABLE, reason="numba not installed")

DATA = Path(__file__).parents[2] / "data" / "binance_raw"


@pytest.fixture(scope="module", autouse=True)
def _compiled() -> None:
    """Compile (or load from numba's cache) the scanner once, before the tests time anything.

    A fresh checkout compiles it in about 6 CPU-s; later runs load it from ``__pycache__``.
    """
    buf = np.frombuffer(b"1 {}\n", dtype=np.uint8)
    scan.scan(buf, np.flatnonzero(buf == 10), 0, buf[:1], 2, 8, True, 0, 8)
    scan.units(buf, 0, 1, 2)


def _market(symbol: str, tick: str, lot: str = "0.00001") -> Market:
    base, _, quote = symbol.partition("/")
    return Market(
        symbol=symbol,
        base=base,
        quote=quote,
        tick_size=Decimal(tick),
        lot_size=Decimal(lot),
    )


def _units(s: str, d: int) -> int:
    b = np.frombuffer(s.encode("latin-1"), dtype=np.uint8)
    return int(scan.units(b, 0, len(b), d))


class _Cap:
    """A writer stand-in that keeps what it is given (the columns are the tape)."""

    def __init__(self) -> None:
        self.parts: list[dict[str, Any]] = []

    def write(self, cols: dict[str, Any]) -> None:
        self.parts.append({k: np.array(v) for k, v in cols.items()})

    def columns(self) -> dict[str, Any]:
        if not self.parts:
            return {}
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _convert(
    paths: list[Path], market: Market, fast: bool, tickers: bool = False
) -> tuple[dict[str, Any], Any]:
    cap = _Cap()
    conv = BinanceRawConverter(
        market,
        cap,  # type: ignore[arg-type]
        collect_tickers=tickers,
        fast=fast,
        chunk_rows=64,
    )
    assert conv._fast is fast
    try:
        stats: Any = conv.convert_files(paths)
    except ConvertError as exc:
        stats = ("error", str(exc))
    except OverflowError as exc:
        # A timestamp past int64 crashes both paths alike (reported, not changed here).
        stats = ("overflow", str(exc))
    if tickers:
        stats = (stats, conv.tickers)
    return cap.columns(), stats


def _assert_same(paths: list[Path], market: Market, tickers: bool = False) -> Any:
    cols_f, stats_f = _convert(paths, market, True, tickers)
    cols_s, stats_s = _convert(paths, market, False, tickers)
    assert stats_f == stats_s
    assert cols_f.keys() == cols_s.keys()
    for k in cols_s:
        assert cols_f[k].dtype == cols_s[k].dtype, k
        assert np.array_equal(cols_f[k], cols_s[k]), k
    return stats_s


# -- the decimal parser ---------------------------------------------------------------------


# No deadline: the first call loads (or compiles) the scanner.
@settings(deadline=None)
@given(st.text(alphabet="0123456789.-+eE x", max_size=24), st.integers(0, 10))
def test_units_agrees_with_fast_units_or_declines(s: str, d: int) -> None:
    got = _units(s, d)
    want = _fast_units(s, d)
    if got >= 0:
        assert got == want  # never a different number
    elif want is not None:
        # Declined only where the value might not fit: the slow path takes it.
        assert len(s.partition(".")[0]) + d > 18


@settings(deadline=None)
@given(
    whole=st.integers(0, 10**9),
    frac=st.text(alphabet="0123456789", max_size=10),
    d=st.integers(0, 8),
)
def test_units_exact_against_decimal(whole: int, frac: str, d: int) -> None:
    s = f"{whole}.{frac}" if frac else str(whole)
    got = _units(s, d)
    scaled = Decimal(s).scaleb(d)
    if scaled == scaled.to_integral_value():
        assert got == int(scaled)
    else:
        assert got == -1  # off the grid: declined, never rounded


def test_units_declines_non_ascii_and_empty() -> None:
    assert _units("", 2) == -1
    assert _units(".5", 2) == -1
    assert _units("1.2.3", 2) == -1
    assert _units("1\xb2", 2) == -1  # a superscript two in latin-1
    assert _units("5.", 2) == 500
    assert _units("0012.300", 2) == 1230


# -- whole files ----------------------------------------------------------------------------

_REAL = [
    (["spot_btcusdt_20240808_L1-1500.gz"], "BTC/USDT", "0.01"),
    (["spot_btcusdt_20240808_L1-1500_gap-line187-deleted.gz"], "BTC/USDT", "0.01"),
    (["usdm_btcusdt_20240808_L1-1500.gz"], "BTC/USDT", "0.1"),
    (["cm_btcusd_perp_20240808_L1-300.gz"], "BTCUSD_PERP", "0.1"),
    (["usdm_btcusdt_20230404_L1-400.dat.gz"], "BTC/USDT", "0.1"),
    (["spot_btcusdt_20230405_L1-300.dat.gz"], "BTC/USDT", "0.01"),
    (
        ["spot_nexousdt_20240723.dat.gz", "spot_nexousdt_20240724_L1-400.dat.gz"],
        "NEXO/USDT",
        "0.001",
    ),
]


@pytest.mark.parametrize(("files", "symbol", "tick"), _REAL)
@pytest.mark.parametrize("tickers", [False, True])
def test_real_slices_same_both_ways(
    files: list[str], symbol: str, tick: str, tickers: bool
) -> None:
    stats = _assert_same([DATA / f for f in files], _market(symbol, tick), tickers)
    if not tickers:
        assert stats["rows"] > 0


def test_a_coarser_tick_is_the_same_error_both_ways() -> None:
    # Tick 1.0 puts most BTC depth prices off the grid: the same ConvertError both ways.
    stats = _assert_same([DATA / "usdm_btcusdt_20240808_L1-1500.gz"], _market("BTC/USDT", "1"))
    assert stats[0] == "error" and ".gz:" in stats[1]


def test_non_pow10_tick_uses_the_slow_path() -> None:
    conv = BinanceRawConverter(_market("BTC/USDT", "0.5"))
    assert not conv._fast


# Generated lines: a valid base message, then one of many small corruptions.
_DEPTH_KEYS = ["e", "E", "T", "s", "U", "u", "pu", "b", "a"]


def _depth(u0: int, n: int, futures: bool, levels: list[list[list[str]]]) -> dict[str, Any]:
    d: dict[str, Any] = {"e": "depthUpdate", "E": 1723161257440 + n, "s": "KGSTUSDT"}
    if futures:
        d["T"] = 1723161257430 + n
    d["U"], d["u"] = u0 + 1, u0 + 3
    if futures:
        d["pu"] = u0
    d["b"], d["a"] = levels[0], levels[1]
    return d


# Mostly valid values, with a few that only the slow path may judge (off-grid, exponents,
# signs, empty, too long).
_price = st.sampled_from(
    ["0.01140", "0.01141", "0.0113900", "0.0114", "0.01142", "00", "0.0115"] * 30
    + ["0.011405", "1e-2", "-0.0114"]
)
_qty = st.sampled_from(
    ["1500.00", "0.00000000", "12", "3.5", "0.12345678", "5."] * 30
    + ["1.000000001", "7E2", "", "99999999999999999999"]
)
_level = st.lists(st.tuples(_price, _qty).map(list), max_size=4)

_mutations = st.sampled_from(
    ["none"] * 30
    + [
        "spaces",
        "escape",
        "float_E",
        "string_U",
        "neg_u",
        "dup_key",
        "other_symbol",
        "lower_symbol",
        "unknown_key",
        "unknown_obj",
        "asks_first",
        "drop_E",
        "levels_int",
        "level_triplet",
        "level_number",
        "null_pu",
        "crlf",
        "trailing",
        "plain",
        "leading_zero",
    ]
)


def _mutate(d: dict[str, Any], m: str, stream: str) -> str:
    if m == "escape" and "s" in d:
        body = json.dumps(d, separators=(",", ":")).replace('"KGSTUSDT"', '"KGST\\u0055SDT"')
        return f'{{"stream":"{stream}","data":{body}}}'
    d = dict(d)
    if m == "float_E":
        d["E"] = float(d["E"])
    elif m == "string_U" and "U" in d:
        d["U"] = str(d["U"])
    elif m == "neg_u" and "u" in d:
        d["u"] = -d["u"]
    elif m == "other_symbol":
        d["s"] = "BTCUSDT"
    elif m == "lower_symbol":
        d["s"] = "kgstusdt"
    elif m == "unknown_key":
        d["ps"] = "KGST"
    elif m == "unknown_obj":
        d["x"] = {"y": 1}
    elif m == "asks_first" and "b" in d:
        d = {k: v for k, v in d.items() if k != "b"} | {"b": d["b"]}
    elif m == "drop_E":
        d.pop("E")
    elif m == "levels_int" and "b" in d:
        d["b"] = 5
    elif m == "level_triplet" and d.get("a"):
        d["a"] = [[*d["a"][0], "x"]]
    elif m == "level_number" and d.get("a"):
        d["a"] = [[0.0114, "1"]]
    elif m == "null_pu" and "pu" in d:
        d["pu"] = None
    sep = (", ", ": ") if m == "spaces" else (",", ":")
    body = json.dumps(d, separators=sep)
    if m == "dup_key":
        body = body[:-1] + ',"E":1}'
    if m == "leading_zero":
        body = body.replace('"E":1', '"E":01', 1)
    text = body if m == "plain" else f'{{"stream":"{stream}","data":{body}}}'
    if m == "crlf":
        text += "\r"
    if m == "trailing":
        text += "x"
    return text


@st.composite
def _recordings(draw: Any) -> tuple[list[str], bool]:
    futures = draw(st.booleans())
    lines: list[str] = []
    local = 1_723_161_256_000_000_000
    u0 = 1000
    snapshot_at = draw(st.integers(0, 6))
    n = draw(st.integers(1, 30))
    for i in range(n):
        step = draw(st.sampled_from([100_000_000] * 6 + [50_000_000, -2_000_000_000, 0]))
        local += step
        unit = draw(
            st.sampled_from(
                ["ns"] * 24 + ["us", "ms", "bad", "empty", "sign", "huge", "us_huge", "ms_huge"]
            )
        )
        ts = {
            "ns": str(local),
            "us": str(local // 1000),
            "ms": str(local // 1_000_000),
            "bad": "12x",
            "empty": "",
            "sign": "+" + str(local),
            "huge": "9" * 22,
            "us_huge": str(5 * 10**16),  # µs, but past int64 in ns
            "ms_huge": str(5 * 10**13),
        }[unit]
        if i == snapshot_at:
            snap = {"lastUpdateId": u0 + 1, "bids": [["0.01139", "5"]], "asks": [["0.01141", "7"]]}
            if futures:
                snap["T"] = 1723161257000
            lines.append(f"{ts} {json.dumps(snap)}")
        what = draw(st.sampled_from(["depth"] * 6 + ["trade"] * 3 + ["ticker", "junk", "error"]))
        m = draw(_mutations)
        if what == "depth":
            if draw(st.integers(0, 9)) == 0:
                u0 += 7  # a gap
            msg = _depth(u0, i, futures, [draw(_level), draw(_level)])
            u0 += 3
            text = _mutate(msg, m, "kgstusdt@depth@100ms")
        elif what == "trade":
            t: dict[str, Any] = {
                "e": "trade",
                "E": 1723161257440 + i,
                "T": 1723161257439 + i,
                "s": "KGSTUSDT",
                "t": 100 + i,
                "p": draw(_price),
                "q": draw(_qty),
                "m": draw(st.booleans()),
            }
            if futures:
                t["X"] = draw(st.sampled_from(["MARKET", "MARKET", "INSURANCE_FUND"]))
            else:
                t["M"] = True
            text = _mutate(t, m, "kgstusdt@trade")
        elif what == "ticker":
            tk = {"u": u0, "s": "KGSTUSDT", "b": "0.01139", "B": "5", "a": "0.01141", "A": "9"}
            text = '{"stream":"kgstusdt@bookTicker","data":' + json.dumps(tk) + "}"
        elif what == "error":
            text = '{"code":-1121,"msg":"Invalid symbol."}'
        else:
            text = draw(st.sampled_from(["not json", "{", "[1,2]", '{"data":[]}', "{}"]))
        lines.append(f"{ts} {text}" if unit != "empty" else text)
    return lines, draw(st.booleans())


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rec=_recordings(), tickers=st.booleans())
def test_generated_lines_same_both_ways(
    tmp_path: Path, rec: tuple[list[str], bool], tickers: bool
) -> None:
    lines, torn = rec
    text = "\n".join(lines)
    if not torn:
        text += "\n"
    path = tmp_path / "gen.gz"
    path.write_bytes(gzip.compress(text.encode()))
    _assert_same([path], _market("KGST/USDT", "0.00001", "0.01"), tickers)


def _big_recording(path: Path, n: int = 12_000) -> None:
    """A plain (not gzip) multi-block file: the snapshot comes late, a gap, a re-seed."""
    rng = np.random.default_rng(7)
    local = 1_723_161_256_000_000_000
    u = 5000
    out = []
    for i in range(n):
        local += int(rng.integers(1, 120_000_000))
        r = rng.random()
        if i in (4000, 9000):
            # Older than the newest buffered diffs: those are released after it.
            last = u - 400
            snap = {"lastUpdateId": last, "bids": [["0.01139", "5.5"]], "asks": [["0.0114", "7"]]}
            out.append(f"{local} {json.dumps(snap)}")
        if i == 7000:
            u += 50  # a gap: CLEAR, then buffered until the snapshot at 9000
        if r < 0.3:
            tk = {"u": u, "s": "KGSTUSDT", "b": "0.01139", "B": "5", "a": "0.01141", "A": "9"}
            out.append(f'{local} {{"stream":"kgstusdt@bookTicker","data":{json.dumps(tk)}}}')
        elif r < 0.45:
            t = {
                "e": "trade",
                "E": 1723161257440 + i,
                "s": "KGSTUSDT",
                "t": i,
                "p": f"0.0{1138 + int(rng.integers(0, 5))}",
                "q": f"{int(rng.integers(1, 10**6))}.{int(rng.integers(0, 100)):02d}",
                "T": 1723161257439 + i,
                "m": bool(rng.integers(0, 2)),
                "M": True,
            }
            body = json.dumps(t, separators=(",", ":"))
            out.append(f'{local} {{"stream":"kgstusdt@trade","data":{body}}}')
        else:
            levels = [
                [f"0.0{1130 + int(rng.integers(0, 20))}", f"{int(rng.integers(0, 10**5))}.5"]
                for _ in range(int(rng.integers(0, 12)))
            ]
            k = int(rng.integers(0, len(levels) + 1))
            d = {
                "e": "depthUpdate",
                "E": 1723161257440 + i,
                "s": "KGSTUSDT",
                "U": u + 1,
                "u": u + 2,
                "b": levels[:k],
                "a": levels[k:],
            }
            u += 2
            body = json.dumps(d, separators=(",", ":"))
            out.append(f'{local} {{"stream":"kgstusdt@depth@100ms","data":{body}}}')
    path.write_text("\n".join(out) + "\n")


def test_multi_block_file_same_both_ways(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    _big_recording(path)
    assert path.stat().st_size > 2 << 20  # several 1 MiB read blocks
    m = _market("KGST/USDT", "0.00001", "0.01")
    stats = _assert_same([path], m)
    assert stats["gaps"] == 1 and stats["released_after_snapshot"] >= 300
    # The default (auto) takes the scanner for a file this big: still the same tape.
    cap = _Cap()
    auto = BinanceRawConverter(m, cap, chunk_rows=64).convert_files([path])  # type: ignore[arg-type]
    assert auto == stats


def test_many_lines_the_scanner_stops_at(tmp_path: Path) -> None:
    # '+<ts>' is a timestamp only Python's int() reads; past a few of them in a block the
    # rest of the block goes the slow way (no rescan per line). Same tape either way.
    lines = []
    snap = {"lastUpdateId": 1000, "bids": [["0.01139", "5"]], "asks": [["0.01141", "7"]]}
    lines.append(f"1723161256000000000 {json.dumps(snap)}")
    for i in range(200):
        ts = 1723161256000000000 + i * 100_000_000
        d = {"e": "depthUpdate", "E": 1723161257000 + i, "s": "KGSTUSDT", "U": 1001 + i}
        d |= {"u": 1001 + i, "b": [["0.01139", f"{i + 1}"]], "a": []}
        body = json.dumps(d, separators=(",", ":"))
        lines.append(f'{"+" if i % 3 == 0 else ""}{ts} {{"stream":"s","data":{body}}}')
    path = tmp_path / "stops.txt"
    path.write_text("\n".join(lines) + "\n")
    stats = _assert_same([path], _market("KGST/USDT", "0.00001", "0.01"))
    assert stats["rows"] == 3 + 200 and stats["gaps"] == 0
