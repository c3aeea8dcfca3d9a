"""``BinanceFeed._retry_after``: how long the feed stays away after a 429/418 on a snapshot.

The feed reads the reply's headers off its (real, unconnected) ccxt client, as it does after
a failed ``GET /api/v3/depth``.
"""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from pegbot.feeds.binance import BinanceFeed
from pegbot.feeds.model import FeedConfig

NS = 1_000_000_000
# 12:00:15 UTC on some day: 45 s left in the minute's weight window.
CLOCK_NS = 1_795_000_000 * NS - (1_795_000_000 % 60) * NS + 15 * NS


@pytest.fixture(scope="module")
def rest() -> Any:
    # Never connected (no session is opened), so there is nothing to close.
    return ccxt.binance()


def _feed(rest: Any, headers: dict[str, str] | None) -> BinanceFeed:
    rest.last_response_headers = headers
    return BinanceFeed(FeedConfig(symbol="KGST/USDT"), clock=lambda: CLOCK_NS, rest_client=rest)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0"}, 0.0),  # header names are case-insensitive
        ({"RETRY-AFTER": " 2.5 "}, 2.5),
        ({"Retry-After": "86400"}, 120.0),  # a day's ban: capped, the reconnect loop goes on
        ({"Retry-After": "1e9"}, 120.0),
        ({"Retry-After": "inf"}, 120.0),
    ],
)
async def test_seconds_are_read_and_capped(
    rest: Any, headers: dict[str, str], expected: float
) -> None:
    feed = _feed(rest, headers)
    assert feed._retry_after(ccxt.RateLimitExceeded("429")) == expected
    assert feed._retry_after(ccxt.DDoSProtection("418")) == expected


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"Content-Type": "application/json"},
        {"Retry-After": ""},
        {"Retry-After": "soon"},
        {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},  # HTTP's date form: not Binance's
        {"Retry-After": "-5"},
        {"Retry-After": "nan"},
    ],
    ids=["no-headers", "empty", "absent", "blank", "text", "date", "negative", "nan"],
)
async def test_missing_or_garbage_waits_out_the_weight_window(
    rest: Any, headers: dict[str, str] | None
) -> None:
    # 45 s are left in the minute: asking sooner would meet the same spent weight.
    assert _feed(rest, headers)._retry_after(ccxt.RateLimitExceeded("429")) == 45.0


async def test_at_least_a_second_at_the_end_of_a_window(rest: Any) -> None:
    feed = _feed(rest, {})
    feed.clock = lambda: CLOCK_NS + 44_700_000_000  # 0.3 s before the window rolls
    assert feed._retry_after(ccxt.RateLimitExceeded("429")) == 1.0


@pytest.mark.parametrize(
    "exc",
    [ccxt.RequestTimeout("slow"), ccxt.ExchangeNotAvailable("503"), TimeoutError(), OSError()],
)
async def test_other_failures_are_not_rate_limits(rest: Any, exc: BaseException) -> None:
    assert _feed(rest, {"Retry-After": "30"})._retry_after(exc) is None
