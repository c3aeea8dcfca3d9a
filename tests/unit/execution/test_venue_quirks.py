"""Venue quirks as data: options, URL pointing, sandbox, client-id checks (no network)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pegbot.execution import errors
from pegbot.execution.ccxt_parse import header, parse_fee_rates
from pegbot.execution.ccxt_venue import make_ccxt_venue
from pegbot.execution.quirks import BINANCE, HTX, QUIRKS, point_client_at, quirks_for
from pegbot.market import Side


async def test_binance_options_keep_load_markets_small() -> None:
    v = make_ccxt_venue("binance", http_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1")
    try:
        opts = v.client.options
        assert opts["fetchCurrencies"] is False and opts["fetchMargins"] is False
        assert opts["fetchMarkets"]["types"] == ["spot"]
        api = v.client.urls["api"]
        assert api["public"] == "http://127.0.0.1:1/api/v3"
        assert api["ws"]["ws-api"]["spot"] == "ws://127.0.0.1:1/ws-api/v3"
        # The quirk table itself is never mutated by ccxt.
        opts["fetchMarkets"]["types"].append("linear")
        assert BINANCE.options["fetchMarkets"] == {"types": ["spot"]}
    finally:
        await v.close()


async def test_sandbox_points_at_the_testnet() -> None:
    v = make_ccxt_venue("binance", sandbox=True)
    try:
        assert "testnet" in v.client.urls["api"]["public"]
    finally:
        await v.close()


async def test_quirks_lookup_and_unpointable_venue() -> None:
    assert quirks_for("binance") is BINANCE and quirks_for("htx") is HTX
    assert set(QUIRKS) == {"binance", "htx"}
    bare = quirks_for("kraken")
    assert bare.exchange_id == "kraken" and bare.used_weight_header is None
    with pytest.raises(ValueError, match="cannot re-point"):
        point_client_at(object(), HTX, "http://127.0.0.1:1", "ws://127.0.0.1:1")
    with pytest.raises(ValueError, match="ws_url"):
        make_ccxt_venue("binance", http_url="http://127.0.0.1:1")
    with pytest.raises(ValueError, match="no exchange"):
        make_ccxt_venue("no-such-exchange")


async def test_place_refuses_bad_client_ids_and_needs_start() -> None:
    v = make_ccxt_venue("binance", http_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:1")
    try:
        with pytest.raises(RuntimeError, match="start"):
            await v.place(Side.BUY, 1140, 1000, "pegbot-x-b0-1")
        v._check_client_id("pegbot-r1-b0-12")
        for bad in ("", "x" * 37, "has space", "semi;colon"):
            with pytest.raises(errors.InvalidOrderError):
                v._check_client_id(bad)
    finally:
        await v.close()


def test_fee_rates_and_headers() -> None:
    reply = {
        "standardCommission": {"maker": "0.00100000", "taker": "0.00100000"},
        "specialCommission": {"maker": "0.00000000", "taker": "0.00000000"},
        "taxCommission": {"maker": "0.00010000", "taker": "0.00020000"},
    }
    assert parse_fee_rates(reply) == (Decimal("0.0011"), Decimal("0.0012"))
    assert parse_fee_rates({"maker": "0.0002", "taker": "0.0004"}) == (
        Decimal("0.0002"),
        Decimal("0.0004"),
    )
    assert parse_fee_rates([]) == (None, None)
    assert header({"x-mbx-used-weight-1m": "12"}, "X-MBX-USED-WEIGHT-1M") == "12"
    assert header({}, "Retry-After") is None
