"""Small guards with clear errors: a rate source polled less often than it may age, an NBKR
``Date`` nobody will reach, and failures whose ``str()`` is empty."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from pegbot.config import ConfigError, RateSourceSettings, load_settings
from pegbot.logging import describe
from pegbot.peg.sources import (
    NBKR_MAX_AHEAD_S,
    FileSource,
    RateSourceError,
    nbkr_effective_ns,
    parse_nbkr_daily,
)

NS = 1_000_000_000
DATA = Path(__file__).parent.parent / "data" / "peg"
REAL = (DATA / "daily_2026-07-03.xml").read_bytes()  # Date="03.07.2026"


def utc_ns(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC).timestamp()) * NS


def with_date(date: str) -> bytes:
    return REAL.replace(b'Date="03.07.2026"', f'Date="{date}"'.encode())


# -- max_age_s vs interval_s -------------------------------------------------------------------


def test_a_source_that_ages_before_its_next_poll_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"max_age_s \(60\) is shorter than interval_s \(300"):
        RateSourceSettings(name="s", kind="static", rate="87.45", max_age_s=60)
    ok = RateSourceSettings(name="s", kind="static", rate="87.45", interval_s=60, max_age_s=60)
    assert ok.max_age_s == ok.interval_s
    assert (
        RateSourceSettings(name="n", kind="nbkr", interval_s=600, max_age_s=None).max_age_s is None
    )
    assert RateSourceSettings(name="d", kind="static", rate="1").max_age_s == 900  # defaults fit


def test_the_guard_reaches_the_config_file_with_the_source_named(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(
        '[peg]\nsources = [{ name = "bank", kind = "nbkr", interval_s = 600, max_age_s = 300 }]\n'
    )
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    text = str(err.value)
    assert "peg.sources" in text and "'bank'" in text and "interval_s (600)" in text


# -- the quiet-book probe vs book_stale_s --------------------------------------------------------


def test_a_quiet_book_probe_slower_than_staleness_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text("[venues.main]\nquiet_probe_s = 8\n[risk]\nbook_stale_s = 6\n")
    with pytest.raises(ConfigError, match=r"venues.main.quiet_probe_s \(8.0\) must be below"):
        load_settings(path, environ={})
    # Below the limit, or probing off, is accepted; the default (5 s) fits the default 10 s.
    assert (
        load_settings(path, environ={}, risk={"book_stale_s": 20}).venues["main"].quiet_probe_s == 8
    )
    off = load_settings(path, environ={}, venues={"main": {"quiet_probe_s": None}})
    assert off.venues["main"].quiet_probe_s is None
    assert load_settings(None, environ={}).venues["binance"].quiet_probe_s == 5.0


# -- NBKR Date ---------------------------------------------------------------------------------


@pytest.mark.parametrize("date", ["31.12.9999", "01.01.2101", "01.01.1992", "01.01.0001"])
def test_absurd_years_are_invalid_whatever_the_clock(date: str) -> None:
    with pytest.raises(RateSourceError) as err:
        parse_nbkr_daily(with_date(date), 1)
    assert err.value.reason == "invalid" and "outside 1993..2100" in str(err.value)
    with pytest.raises(RateSourceError):
        nbkr_effective_ns(date)


def test_a_date_far_ahead_of_the_clock_is_invalid_not_fresh() -> None:
    now = utc_ns(2026, 7, 2, 10, 0)
    # Tomorrow's fixing (NBKR stamps it with the next day) and a long holiday ahead: fine.
    assert parse_nbkr_daily(REAL, now, now_ns=now).effective_at_ns > now
    assert parse_nbkr_daily(with_date("08.07.2026"), now, now_ns=now).rate > 0
    for date, days in (("03.08.2026", "31"), ("02.07.2099", "26662")):
        with pytest.raises(RateSourceError, match=f"is {days} days ahead of now") as err:
            parse_nbkr_daily(with_date(date), now, now_ns=now)
        assert err.value.reason == "invalid"
    # The bound is NBKR_MAX_AHEAD_S after now, measured to 00:00 Bishkek of the Date.
    last_ok = nbkr_effective_ns("09.07.2026") - NBKR_MAX_AHEAD_S * NS
    parse_nbkr_daily(with_date("09.07.2026"), last_ok, now_ns=last_ok)
    with pytest.raises(RateSourceError):
        parse_nbkr_daily(with_date("09.07.2026"), last_ok - 1, now_ns=last_ok - 1)


def test_a_file_source_refuses_a_daily_xml_dated_year_9999(tmp_path: Path) -> None:
    path = tmp_path / "daily.xml"
    path.write_bytes(with_date("31.12.9999"))
    source = FileSource("file", path)
    now = utc_ns(2026, 7, 2, 10, 0)
    with pytest.raises(RateSourceError, match="outside"):
        asyncio.run(source.fetch(now))
    # A plausible Date far ahead of the clock is refused too (checked against now, not mtime).
    path.write_bytes(with_date("03.07.2027"))
    os.utime(path, ns=(now, now))
    with pytest.raises(RateSourceError, match="days ahead"):
        asyncio.run(source.fetch(now))


# -- failures with an empty message ---------------------------------------------------------------


def test_describe_names_the_type_when_the_message_is_empty() -> None:
    assert str(TimeoutError()) == ""
    assert describe(TimeoutError()) == "TimeoutError (no message): TimeoutError()"
    assert describe(asyncio.CancelledError()).startswith("CancelledError (no message)")
    assert describe(ValueError("bad port")) == "ValueError: bad port"
    group = ExceptionGroup("unhandled errors in a TaskGroup", [TimeoutError(), OSError("reset")])
    assert describe(group) == "TimeoutError (no message): TimeoutError(); OSError: reset"
    try:
        try:
            raise TimeoutError()
        except TimeoutError as exc:
            raise RuntimeError("venue start timed out") from exc
    except RuntimeError as exc:
        assert describe(exc) == "RuntimeError (from TimeoutError): venue start timed out"
