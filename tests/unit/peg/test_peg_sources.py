import datetime as dt
import os
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest

from pegbot.peg.sources import (
    USD_KGS,
    USDT_USD,
    FileSource,
    HttpJsonSource,
    RateSourceError,
    StaticSource,
    nbkr_effective_ns,
    parse_nbkr_daily,
    select_field,
)

DATA = Path(__file__).parents[2] / "data" / "peg"
NS = 1_000_000_000


def utc_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()) * NS


def test_real_daily_xml_parses_exactly_with_effective_date_in_bishkek_time() -> None:
    data = (DATA / "daily_2026-07-03.xml").read_bytes()
    assert b"windows-1251" in data and b"87,4500" in data
    observed = utc_ns(2026, 7, 2, 10, 0)  # fetched on the 2nd (16:00 Bishkek)
    obs = parse_nbkr_daily(data, observed)
    assert obs.pair == USD_KGS
    assert obs.rate == Fraction(8745, 100)
    assert obs.rate_decimal == Decimal("87.45")
    assert obs.observed_at_ns == observed
    # Date="03.07.2026" is in force from 00:00 Bishkek (UTC+6) = 18:00 UTC on the 2nd.
    assert obs.effective_at_ns == utc_ns(2026, 7, 2, 18, 0)
    assert obs.effective_at_ns > obs.observed_at_ns


def test_cyrillic_windows_1251_and_nominal_are_handled() -> None:
    data = (DATA / "daily_cyrillic_nominal.xml").read_bytes()
    assert "Официальные".encode("cp1251") in data
    obs = parse_nbkr_daily(data, 1)
    assert obs.rate == Fraction(8745, 100)  # 8745,0000 per 100 USD
    assert obs.effective_at_ns == nbkr_effective_ns("06.07.2026")


@pytest.mark.parametrize(
    ("name", "reason", "message"),
    [
        ("malformed_truncated.xml", "parse", "not well-formed"),
        ("malformed_no_usd.xml", "missing", "no USD rate"),
        ("malformed_value.xml", "parse", "not a decimal"),
        ("malformed_date.xml", "parse", "not dd.mm.yyyy"),
        ("malformed_zero_nominal.xml", "parse", "Nominal"),
        ("malformed_maintenance.html", "parse", "DTD"),
        ("malformed_entities.xml", "parse", "DTD or entities"),
    ],
)
def test_malformed_files_raise_a_clear_error(name: str, reason: str, message: str) -> None:
    with pytest.raises(RateSourceError, match=message) as info:
        parse_nbkr_daily((DATA / name).read_bytes(), 1, source="nbkr")
    assert info.value.reason == reason
    assert info.value.source == "nbkr"
    assert str(info.value).startswith("nbkr: ")


def test_wrong_root_is_refused() -> None:
    with pytest.raises(RateSourceError, match="not <CurrencyRates>"):
        parse_nbkr_daily(b"<html><body>maintenance</body></html>", 1)


def test_negative_or_signed_values_are_refused() -> None:
    data = (DATA / "daily_2026-07-03.xml").read_bytes().replace(b"87,4500", b"-87,4500")
    with pytest.raises(RateSourceError, match="not a decimal"):
        parse_nbkr_daily(data, 1)


async def test_static_source_is_exact_and_in_force_now() -> None:
    src = StaticSource("peg", "87,45")
    obs = await src.fetch(123)
    assert (obs.rate, obs.observed_at_ns, obs.effective_at_ns) == (Fraction(8745, 100), 123, 123)
    with pytest.raises(RateSourceError):
        StaticSource("bad", 0)


async def test_file_source_reads_xml_or_number_and_uses_mtime(tmp_path: Path) -> None:
    xml = tmp_path / "daily.xml"
    xml.write_bytes((DATA / "daily_2026-07-03.xml").read_bytes())
    now = utc_ns(2026, 7, 2, 10, 0)  # the day before its Date: the fixing was published
    os.utime(xml, ns=(now - 5 * NS, now - 5 * NS))
    obs = await FileSource("file", xml).fetch(now)
    assert obs.rate == Fraction(8745, 100) and obs.observed_at_ns == now - 5 * NS
    num = tmp_path / "usdt.txt"
    num.write_text("0.9995\n")
    obs = await FileSource("usdt", num, pair=USDT_USD).fetch(0)
    assert obs.rate == Fraction(9995, 10000) and obs.pair == USDT_USD
    with pytest.raises(RateSourceError, match="cannot read") as info:
        await FileSource("gone", tmp_path / "missing").fetch(0)
    assert info.value.reason == "io"


def test_http_json_selector_invert_and_errors() -> None:
    src = HttpJsonSource(None, "json", "http://x", "data.rates.0.KGS")  # type: ignore[arg-type]
    obs = src.parse(b'{"data": {"rates": [{"KGS": 87.45}]}}', 7)
    assert obs.rate == Fraction(8745, 100)  # parsed exactly, never through a float
    inv = HttpJsonSource(None, "inv", "http://x", "p", invert=True, effective_field="t")  # type: ignore[arg-type]
    obs = inv.parse(b'{"p": "0.0114351", "t": 1700000000}', 7)
    assert obs.rate == 1 / Fraction("0.0114351") and obs.effective_at_ns == 1_700_000_000 * NS
    with pytest.raises(RateSourceError, match="not found"):
        src.parse(b'{"data": {}}', 7)
    with pytest.raises(RateSourceError, match="not JSON"):
        src.parse(b"<html>", 7)
    with pytest.raises(RateSourceError, match="not a number"):
        src.parse(b'{"data": {"rates": [{"KGS": true}]}}', 7)
    assert select_field({"a": [1, {"b": 2}]}, "a.1.b") == 2
