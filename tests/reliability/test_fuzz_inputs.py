"""Bad input into the file and document parsers: nothing crashes except with the documented error.

* the official-rate XML (``parse_nbkr_daily``): only :class:`RateSourceError` (the rate poller
  catches exactly that; anything else would end the bot);
* config files (``load_settings``): only :class:`ConfigError`, naming the field;
* the tape reader (corrupt or truncated Parquet): ``ValueError`` or ``OSError``;
* the raw-line reader (garbage, torn and corrupt gzip): never raises, every line is counted.
"""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pegbot.config import ConfigError, load_settings
from pegbot.peg.sources import RateSourceError, parse_nbkr_daily
from pegbot.tape.rawlines import RawCounters, iter_raw_lines
from pegbot.tape.reader import TapeReader
from pegbot.tape.schema import COLUMNS, DIFF, TapeMeta
from pegbot.tape.writer import TapeWriter

pytestmark = pytest.mark.timeout(120)

_DATA = Path(__file__).resolve().parents[1] / "data"
_PEG = sorted((_DATA / "peg").glob("*.xml"))
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]

edits = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)), max_size=6
)


def _mutate(data: bytes, ops: list[tuple[int, int, int]]) -> bytes:
    """Flip, cut, insert or delete bytes at the given positions."""
    buf = bytearray(data)
    for kind, pos, val in ops:
        if not buf:
            break
        i = pos % len(buf)
        if kind == 0:
            buf[i] = val
        elif kind == 1:
            del buf[i:]
        elif kind == 2:
            buf.insert(i, val)
        else:
            del buf[i]
    return bytes(buf)


# -- NBKR daily.xml ---------------------------------------------------------------------------

xml_text = st.one_of(
    st.sampled_from(["87,4500", "87.45", "0", "-1", "1e3", "87,45,1", "", " 87,4500 ", "²", "٣"]),
    st.text(max_size=8),
)
generated_xml = st.builds(
    lambda enc, date, iso, nominal, value, extra: (
        f'<?xml version="1.0" encoding="{enc}"?>\n<CurrencyRates Name="x" Date="{date}">'
        f'<Currency ISOCode="{iso}"><Nominal>{nominal}</Nominal><Value>{value}</Value>'
        f"</Currency>{extra}</CurrencyRates>"
    ).encode("utf-8", "surrogatepass"),
    st.sampled_from(["windows-1251", "utf-8", "utf-16", "euc-jp", "nope", "ascii", ""]),
    st.sampled_from(["03.07.2026", "31.02.2026", "3.7.26", "", "00.00.0000"])
    | st.text(max_size=10),
    st.sampled_from(["USD", "usd", "EUR", ""]),
    xml_text,
    xml_text,
    st.sampled_from(["", '<Currency ISOCode="USD"><Value>88</Value></Currency>', "<x/>", "&amp;"]),
)
nbkr_inputs = st.one_of(
    st.tuples(st.sampled_from(_PEG), edits).map(lambda x: _mutate(x[0].read_bytes(), x[1])),
    generated_xml,
    st.binary(max_size=300),
)


@settings(max_examples=1500, deadline=None)
@given(data=nbkr_inputs)
def test_nbkr_parser_raises_only_rate_source_errors(data: bytes, reliability: Any) -> None:
    try:
        obs = parse_nbkr_daily(data, 1)
    except RateSourceError:
        reliability.fuzzed("official-rate XML (NBKR daily.xml)", 1, 1)
        return
    reliability.fuzzed("official-rate XML (NBKR daily.xml)", 1, 0)
    assert obs.rate > 0


@pytest.mark.parametrize(
    "data",
    [
        b'<?xml version="1.0" encoding="nope"?><CurrencyRates/>',
        b'<?xml version="1.0" encoding="euc-jp"?><CurrencyRates/>',
        '<CurrencyRates Date="03.07.2026"><Currency ISOCode="USD"><Nominal>²</Nominal>'
        "<Value>87,45</Value></Currency></CurrencyRates>".encode(),
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<CurrencyRates Date="&b;"/>',
        b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><CurrencyRates Date="&x;"/>',
    ],
    ids=["unknown-encoding", "multibyte-encoding", "superscript-nominal", "entities", "xxe"],
)
def test_nbkr_parser_known_nasties(data: bytes) -> None:
    # Each must end as RateSourceError, the only error the poller catches: a LookupError or
    # ValueError from a strange page (the first three are easy ones) would end the bot.
    with pytest.raises(RateSourceError):
        parse_nbkr_daily(data, 1)


# -- config files -----------------------------------------------------------------------------

_KEYS = {
    "": ["mode", "run_id", "venues", "strategy", "risk", "peg", "journal", "loop", "bogus"],
    "venues.binance": ["symbol", "rest_url", "ws_url", "api_key", "target_base", "x"],
    "strategy": ["name", "params"],
    "risk": ["band_bps", "cooldown_s", "book_stale_s", "max_inventory"],
    "loop": ["interval_s", "control_dir", "rate_safety", "min_interval_s"],
    "journal": ["path"],
    "metrics": ["enabled", "port", "host"],
}
toml_scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=10),
    st.sampled_from(["live", "paper", "dry-run", "testnet", "peg_ladder", "0", "-1", "1e400"]),
)
toml_value = st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3))


def _toml_literal(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_literal(x) for x in v) + "]"
    return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                         for c in str(v)) + '"'  # fmt: skip


@st.composite
def toml_documents(draw: Any) -> str:
    lines = []
    for table, keys in _KEYS.items():
        chosen = draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))
        if not chosen:
            continue
        if table:
            lines.append(f"[{table}]")
        lines += [f"{k} = {_toml_literal(draw(toml_value))}" for k in chosen]
    return "\n".join(lines) + "\n"


config_inputs = st.one_of(
    toml_documents(),
    toml_documents().flatmap(
        lambda t: edits.map(lambda e: _mutate(t.encode(), e).decode("latin-1"))
    ),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)


@settings(max_examples=400, deadline=None, suppress_health_check=_SLOW_OK)
@given(text=config_inputs)
def test_config_files_fail_only_with_config_error(
    text: str, tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogateescape")
    try:
        load_settings(path, environ={})
    except ConfigError as exc:
        assert str(exc)  # a message, naming the field or the line
        reliability.fuzzed("config files (TOML)", 1, 1)
        return
    reliability.fuzzed("config files (TOML)", 1, 0)


@settings(max_examples=200, deadline=None)
@given(
    env=st.dictionaries(
        st.sampled_from(
            [
                "PEGBOT_MODE",
                "PEGBOT_RISK__BAND_BPS",
                "PEGBOT_LOOP__INTERVAL_S",
                "PEGBOT_VENUES",
                "PEGBOT_STRATEGY__PARAMS",
                "PEGBOT_RUN_ID",
                "PEGBOT_METRICS__PORT",
                "PEGBOT_PEG",
            ]
        ),
        st.text(max_size=12) | st.sampled_from(["{}", "[]", '{"x": 1}', "-1", "live", "nan"]),
        max_size=4,
    )
)
def test_environment_fails_only_with_config_error(env: dict[str, str], reliability: Any) -> None:
    try:
        load_settings(None, environ=env)
    except ConfigError:
        reliability.fuzzed("config from PEGBOT_ variables", 1, 1)
        return
    reliability.fuzzed("config from PEGBOT_ variables", 1, 0)


# -- the tape reader ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tape_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("tape") / "t.parquet"
    n = 3000
    meta = TapeMeta("binance", "KGST/USDT", tick_size=Decimal("0.00001"), lot_size=Decimal(1))
    with TapeWriter(path, meta, row_group_rows=1000) as w:
        w.write(
            {
                "exch_ts": np.arange(n, dtype=np.int64) * 1000,
                "local_ts": np.arange(n, dtype=np.int64) * 1000 + 5,
                "kind": np.full(n, DIFF),
                "side": np.where(np.arange(n) % 2 == 0, 1, -1),
                "price": 1140 + np.arange(n) % 7,
                "qty": np.arange(n) * 100_000_000,
                "first_update_id": np.arange(n),
                "update_id": np.arange(n),
            }
        )
    return path.read_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=_SLOW_OK)
@given(ops=st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 1 << 20), st.integers(0, 255)),
    min_size=1, max_size=4,
))  # fmt: skip
def test_corrupt_tape_fails_with_a_clear_error(
    ops: list[tuple[int, int, int]], tape_bytes: bytes, tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(_mutate(tape_bytes, ops))
    try:
        reader = TapeReader(path)
        cols = reader.read_all()
        reader.time_range()
        rows = sum(len(b["local_ts"]) for b in reader.iter_batches())
    except (ValueError, OSError) as exc:
        assert str(exc)
        reliability.fuzzed("tape reader (corrupt Parquet)", 1, 1)
        return
    # Read without complaint: the damage was somewhere Parquet does not check (values).
    assert set(cols) == set(COLUMNS)
    assert rows == len(cols["local_ts"]) == reader.num_rows
    reliability.fuzzed("tape reader (corrupt Parquet)", 1, 0)


@pytest.mark.parametrize("cut", [0, 1, 4, 100, -8, -1])
def test_truncated_tape_fails_with_a_clear_error(
    cut: int, tape_bytes: bytes, tmp_path: Path
) -> None:
    path = tmp_path / "cut.parquet"
    path.write_bytes(tape_bytes[:cut])
    with pytest.raises((ValueError, OSError)):
        TapeReader(path).read_all()


# -- the raw-line reader -----------------------------------------------------------------------

raw_line = st.one_of(
    st.integers(10**11, 2 * 10**18).map(lambda t: f"{t} " + '{"e":"depthUpdate"}'),
    st.sampled_from(
        ["", " ", "abc {}", "-5 {}", "12 {}", "1_700_000_000_000_000_000 {}", "١٢٣ {}"]
    ),
    st.text(max_size=20),
)


@settings(max_examples=500, deadline=None, suppress_health_check=_SLOW_OK)
@given(
    lines=st.lists(raw_line, max_size=20),
    compress=st.sampled_from(["plain", "gzip", "gzip-cut", "gzip-mutated"]),
    ops=edits,
)
def test_raw_line_reader_never_raises_and_counts_every_line(
    lines: list[str], compress: str, ops: list[tuple[int, int, int]], tmp_path: Path,
    reliability: Any,
) -> None:  # fmt: skip
    raw = "\n".join(lines).encode("utf-8", "surrogatepass")
    if compress == "plain":
        data = raw
    else:
        data = gzip.compress(raw, mtime=0)
        if compress == "gzip-cut":
            data = data[: max(2, len(data) * 2 // 3)]
        elif compress == "gzip-mutated":
            data = data[:10] + _mutate(data[10:], ops)
    path = tmp_path / ("x.gz" if compress != "plain" else "x.txt")
    path.write_bytes(data)
    c = RawCounters()
    got = list(iter_raw_lines(path, c))
    assert c.lines == len(got) + c.empty_lines + c.torn_lines + c.bad_timestamp
    assert all(x.local_ns >= 10**17 for x in got)
    assert [x.lineno for x in got] == sorted({x.lineno for x in got})
    if compress == "plain":
        assert c.lines == len(raw.split(b"\n")) - (1 if raw.endswith(b"\n") or not raw else 0)
    reliability.fuzzed("raw-line reader (garbage, torn and corrupt gzip)", 1, 0)


def test_raw_reader_keeps_what_a_torn_gzip_holds(tmp_path: Path) -> None:
    lines = [f'{1_700_000_000_000_000_000 + i} {{"i": {i}}}' for i in range(2000)]
    data = gzip.compress("\n".join(lines).encode(), mtime=0)
    path = tmp_path / "torn.gz"
    path.write_bytes(data[: len(data) // 2])
    c = RawCounters()
    got = list(iter_raw_lines(path, c))
    assert c.truncated_gzip == 1
    assert 0 < len(got) < 2000
    assert [x.payload for x in got if x.complete] == [
        f'{{"i": {i}}}'.encode() for i in range(len([x for x in got if x.complete]))
    ]
