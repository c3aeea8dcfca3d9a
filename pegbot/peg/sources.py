"""Where the som reference rate comes from: NBKR's ``daily.xml``, a static rate, a file, HTTP JSON.

Every source yields :class:`RateObservation` values: one exact rate of a currency pair with two
times. ``observed_at`` is when *we* obtained it (staleness of our link to the source);
``effective_at`` is when the rate is *in force*. They differ on purpose: NBKR fixes the USD rate
between 15:00 and 15:30 Bishkek time (UTC+6) and stamps it with the *next* calendar day, so a
fetch at 16:00 on the 2nd returns a rate with ``Date="03.07.2026"`` that is not in force yet.

Rates are :class:`fractions.Fraction`: exact for comma decimals and for any ``Nominal``.
Parsing is strict: anything unexpected raises :class:`RateSourceError` with a bounded
``reason`` (for metric labels) and a message that says what was wrong.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol

import aiohttp

from pegbot.timeunits import NS_PER_S

#: NBKR's official daily rates (USD, EUR, RUB, KZT, CNY), windows-1251, comma decimals.
NBKR_DAILY_URL = "https://www.nbkr.kg/XML/daily.xml"
#: Bishkek is UTC+6 all year (no DST since 2005).
BISHKEK = dt.timezone(dt.timedelta(hours=6), "Asia/Bishkek")

#: Price of one US dollar in soms: what NBKR publishes for USD.
USD_KGS = "USD/KGS"
#: Price of one USDT in US dollars (1 by default).
USDT_USD = "USDT/USD"
PAIRS = (USD_KGS, USDT_USD)

#: Every value of :attr:`RateSourceError.reason`: bounded, safe as a metric label.
ERROR_REASONS = ("http", "timeout", "parse", "missing", "invalid", "io")

#: Years a ``Date`` of NBKR may carry (the som exists since 1993).
NBKR_YEARS = (1993, 2100)
#: How far after the fetch a ``Date`` may lie: NBKR stamps its fixing with the next working
#: day, which after a long holiday weekend is a few days ahead; more is a broken file.
NBKR_MAX_AHEAD_S = 7 * 24 * 3600

_MAX_BODY = 1 << 20  # daily.xml is ~0.5 kB; a megabyte is a broken or hostile server
_DECIMAL_RE = re.compile(r"^\s*[0-9]+(?:[.,][0-9]+)?\s*$")


class RateSourceError(ValueError):
    """A source failed or returned something that is not a usable rate.

    Attributes:
        source: The source's name.
        reason: One of :data:`ERROR_REASONS`.
    """

    def __init__(self, source: str, reason: str, message: str) -> None:
        if reason not in ERROR_REASONS:
            raise ValueError(f"unknown rate error reason {reason!r}")
        super().__init__(f"{source}: {message}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RateObservation:
    """One rate from one source.

    Attributes:
        source: The configured source name (a bounded metric label).
        pair: :data:`USD_KGS` or :data:`USDT_USD`; ``rate`` is the price of the first currency
            in the second.
        rate: The exact rate.
        observed_at_ns: When we obtained it, ns UTC.
        effective_at_ns: When it is in force from, ns UTC.
    """

    source: str
    pair: str
    rate: Fraction
    observed_at_ns: int
    effective_at_ns: int

    def __post_init__(self) -> None:
        if self.pair not in PAIRS:
            raise ValueError(f"{self.source}: unknown pair {self.pair!r}, expected one of {PAIRS}")
        if self.rate <= 0:
            raise RateSourceError(self.source, "invalid", f"rate must be positive, got {self.rate}")

    @property
    def rate_decimal(self) -> Decimal:
        """The rate as a Decimal (exact when it terminates, else to 28 digits)."""
        return Decimal(self.rate.numerator) / Decimal(self.rate.denominator)


def parse_decimal(text: str, source: str = "value") -> Fraction:
    """Parse a plain decimal with a dot or a comma separator (``87,4500``) exactly."""
    if not _DECIMAL_RE.match(text):
        raise RateSourceError(source, "parse", f"not a decimal number: {text[:40]!r}")
    return Fraction(Decimal(text.strip().replace(",", ".")))


def nbkr_effective_ns(date_text: str, source: str = "nbkr") -> int:
    """NBKR's ``Date`` (``dd.mm.yyyy``) as ns UTC of 00:00 Bishkek time that day.

    Raises:
        RateSourceError: Not ``dd.mm.yyyy`` (``parse``), or a year outside
            :data:`NBKR_YEARS` (``invalid``: before the som, or absurdly far ahead).
    """
    try:
        day = dt.datetime.strptime(date_text.strip(), "%d.%m.%Y")
    except ValueError as exc:
        raise RateSourceError(
            source, "parse", f"Date {date_text[:20]!r} is not dd.mm.yyyy"
        ) from exc
    if not NBKR_YEARS[0] <= day.year <= NBKR_YEARS[1]:
        raise RateSourceError(
            source,
            "invalid",
            f"Date {date_text.strip()[:20]!r} is outside {NBKR_YEARS[0]}..{NBKR_YEARS[1]}",
        )
    local_midnight = day.replace(tzinfo=BISHKEK)
    return int(local_midnight.timestamp()) * NS_PER_S


def parse_nbkr_daily(
    data: bytes,
    observed_at_ns: int,
    currency: str = "USD",
    source: str = "nbkr",
    now_ns: int | None = None,
) -> RateObservation:
    """Parse NBKR ``daily.xml`` (or ``weekly.xml``) bytes into the KGS rate of ``currency``.

    The XML declares its own encoding (windows-1251), so it is parsed from bytes. ``Value`` is
    soms per ``Nominal`` units with a comma decimal separator; unknown child elements (e.g.
    ``ValidFor``) are ignored.

    Args:
        data: The raw response body.
        observed_at_ns: When it was fetched, ns UTC.
        currency: ISO code to extract; only ``USD`` maps onto a pair pegbot uses.
        source: Source name for the observation and errors.
        now_ns: The clock, to refuse a ``Date`` more than :data:`NBKR_MAX_AHEAD_S` ahead
            of it (None: only the :data:`NBKR_YEARS` bounds apply).

    Returns:
        The observation; ``effective_at_ns`` is 00:00 Bishkek time on ``Date``.

    Raises:
        RateSourceError: Not XML, a DTD (refused: no entity expansion from the network), the
            wrong root, a bad ``Date`` (not ``dd.mm.yyyy``, a year outside
            :data:`NBKR_YEARS`, or more than :data:`NBKR_MAX_AHEAD_S` after ``now_ns``), the
            currency missing or duplicated, or a bad number.
    """
    if currency != "USD":
        raise ValueError(f"{source}: only USD maps onto a pegbot pair, got {currency!r}")
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise RateSourceError(source, "parse", "refusing XML with a DTD or entities")
    try:
        root = ET.fromstring(data)
    except (ET.ParseError, LookupError, ValueError) as exc:  # also unknown/multi-byte encodings
        raise RateSourceError(source, "parse", f"not well-formed XML: {exc}") from exc
    if root.tag != "CurrencyRates":
        raise RateSourceError(source, "parse", f"root is <{root.tag[:40]}>, not <CurrencyRates>")
    date_text = root.get("Date")
    if not date_text:
        raise RateSourceError(source, "parse", "<CurrencyRates> has no Date attribute")
    effective = nbkr_effective_ns(date_text, source)
    if now_ns is not None and effective > now_ns + NBKR_MAX_AHEAD_S * NS_PER_S:
        # Taking it would hold a rate "in force" from a date nobody will reach soon.
        days = (effective - now_ns) / (86400 * NS_PER_S)
        raise RateSourceError(
            source, "invalid", f"Date {date_text.strip()[:20]!r} is {days:.0f} days ahead of now"
        )
    found = [c for c in root.findall("Currency") if c.get("ISOCode") == currency]
    if not found:
        raise RateSourceError(source, "missing", f"no {currency} rate in the file ({date_text})")
    if len(found) > 1:
        raise RateSourceError(source, "parse", f"{len(found)} {currency} entries, expected one")
    node = found[0]
    value_text = node.findtext("Value")
    if value_text is None:
        raise RateSourceError(source, "parse", f"{currency} has no <Value>")
    value = parse_decimal(value_text, source)
    nominal_text = node.findtext("Nominal") or "1"
    if not re.fullmatch(r"\s*[0-9]+\s*", nominal_text) or int(nominal_text) <= 0:
        raise RateSourceError(source, "parse", f"{currency} Nominal {nominal_text[:20]!r} is bad")
    rate = value / int(nominal_text)
    if rate <= 0:
        raise RateSourceError(source, "invalid", f"{currency} rate {value_text.strip()} <= 0")
    return RateObservation(source, USD_KGS, rate, observed_at_ns, effective)


def select_field(document: Any, selector: str, source: str = "json") -> Any:
    """Pick a value from parsed JSON by a dotted path; integer parts index lists (``data.0.p``)."""
    node = document
    for part in selector.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            raise RateSourceError(source, "missing", f"field {selector!r} not found (at {part!r})")
    return node


def _to_fraction(value: Any, source: str) -> Fraction:
    # JSON is parsed with parse_float=Decimal, so numbers arrive exact.
    if isinstance(value, bool):
        raise RateSourceError(source, "invalid", f"not a number: {value!r}")
    if isinstance(value, int | Decimal):
        try:
            return Fraction(value)
        except (ValueError, OverflowError, InvalidOperation) as exc:
            raise RateSourceError(source, "invalid", f"not a finite number: {value!r}") from exc
    if isinstance(value, str):
        return parse_decimal(value, source)
    raise RateSourceError(source, "invalid", f"not a number: {str(value)[:40]!r}")


class RateSource(Protocol):
    """Anything that can be asked for a fresh observation."""

    name: str
    pair: str

    async def fetch(self, now_ns: int) -> RateObservation:
        """Get one observation; raise :class:`RateSourceError` on any failure."""
        ...


class StaticSource:
    """A configured constant (e.g. USDT/USD = 1, or a desk override). Always in force."""

    def __init__(self, name: str, rate: Fraction | Decimal | str | int, pair: str = USD_KGS):
        """Create a constant source; ``rate`` strings may use a comma."""
        self.name = name
        self.pair = pair
        self.rate = parse_decimal(rate, name) if isinstance(rate, str) else Fraction(rate)
        RateObservation(name, pair, self.rate, 0, 0)  # validate now, not at the first fetch

    async def fetch(self, now_ns: int) -> RateObservation:
        """The constant, observed and in force now."""
        return RateObservation(self.name, self.pair, self.rate, now_ns, now_ns)


class FileSource:
    """A local file holding either an NBKR XML document or one plain decimal.

    The file's modification time is the observation time, so a file nobody updates goes stale
    exactly like a dead HTTP source would.
    """

    def __init__(self, name: str, path: str | os.PathLike[str], pair: str = USD_KGS):
        """Read ``path`` on every fetch."""
        self.name = name
        self.pair = pair
        self.path = Path(path)

    async def fetch(self, now_ns: int) -> RateObservation:
        """Read and parse the file."""
        try:
            data = self.path.read_bytes()
            mtime_ns = self.path.stat().st_mtime_ns
        except OSError as exc:
            raise RateSourceError(self.name, "io", f"cannot read {self.path}: {exc}") from exc
        if data.lstrip().startswith(b"<"):
            obs = parse_nbkr_daily(data, mtime_ns, source=self.name, now_ns=now_ns)
            if self.pair != USD_KGS:
                raise RateSourceError(self.name, "invalid", "an NBKR file only gives USD/KGS")
            return obs
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise RateSourceError(self.name, "parse", "file is neither XML nor a number") from exc
        rate = parse_decimal(text, self.name)
        return RateObservation(self.name, self.pair, rate, mtime_ns, mtime_ns)


class _HttpSource:
    def __init__(
        self, name: str, url: str, session: aiohttp.ClientSession, timeout_s: float
    ) -> None:
        self.name = name
        self.url = url
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _get(self) -> bytes:
        try:
            async with self.session.get(self.url, timeout=self.timeout) as resp:
                if resp.status != 200:
                    raise RateSourceError(self.name, "http", f"HTTP {resp.status} from {self.url}")
                body = await resp.content.read(_MAX_BODY + 1)
        except TimeoutError as exc:
            raise RateSourceError(self.name, "timeout", f"no answer from {self.url}") from exc
        except aiohttp.ClientError as exc:
            raise RateSourceError(self.name, "http", f"{type(exc).__name__}: {exc}") from exc
        if len(body) > _MAX_BODY:
            raise RateSourceError(self.name, "invalid", f"body larger than {_MAX_BODY} bytes")
        return body


class NbkrSource(_HttpSource):
    """NBKR's official USD rate over HTTP."""

    pair = USD_KGS

    def __init__(
        self,
        session: aiohttp.ClientSession,
        name: str = "nbkr",
        url: str = NBKR_DAILY_URL,
        timeout_s: float = 10.0,
    ) -> None:
        """Fetch ``url`` with ``session`` (the shell owns the session's lifetime)."""
        super().__init__(name, url, session, timeout_s)

    async def fetch(self, now_ns: int) -> RateObservation:
        """Download and parse ``daily.xml``."""
        return parse_nbkr_daily(await self._get(), now_ns, source=self.name, now_ns=now_ns)


class HttpJsonSource(_HttpSource):
    """Any JSON endpoint: a dotted ``field`` selects the rate; ``invert`` takes ``1 / value``.

    ``effective_field`` optionally selects a Unix time in seconds at which the rate took
    effect; without it the rate is in force when observed.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        name: str,
        url: str,
        field: str,
        pair: str = USD_KGS,
        invert: bool = False,
        effective_field: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        """Configure the endpoint and how to read it."""
        super().__init__(name, url, session, timeout_s)
        self.field = field
        self.pair = pair
        self.invert = invert
        self.effective_field = effective_field

    def parse(self, body: bytes, now_ns: int) -> RateObservation:
        """Turn a response body into an observation (public so it can be tested directly)."""
        try:
            document = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RateSourceError(self.name, "parse", f"not JSON: {exc}") from exc
        rate = _to_fraction(select_field(document, self.field, self.name), self.name)
        if rate <= 0:
            raise RateSourceError(self.name, "invalid", f"rate {float(rate)} <= 0")
        if self.invert:
            rate = 1 / rate
        effective = now_ns
        if self.effective_field is not None:
            raw = _to_fraction(select_field(document, self.effective_field, self.name), self.name)
            effective = int(raw * NS_PER_S)
        return RateObservation(self.name, self.pair, rate, now_ns, effective)

    async def fetch(self, now_ns: int) -> RateObservation:
        """Download and parse."""
        return self.parse(await self._get(), now_ns)
