from decimal import Decimal

import pytest

from pegbot.market import Market, MarketError, OffGridError, Rounding, Side

KGST = Market.kgst_usdt()


def test_price_ticks_round_trip_is_exact() -> None:
    assert KGST.price_to_ticks("0.01143") == 1143
    assert KGST.ticks_to_price(1143) == Decimal("0.01143")
    assert KGST.format_price(1143) == "0.01143"
    assert KGST.format_price(1100) == "0.011"
    assert KGST.format_price(0) == "0"


def test_off_grid_price_is_an_error_unless_rounding_is_asked() -> None:
    with pytest.raises(OffGridError, match="not a multiple"):
        KGST.price_to_ticks("0.011435")
    assert KGST.price_to_ticks("0.011435", Rounding.DOWN) == 1143
    assert KGST.price_to_ticks("0.011435", Rounding.UP) == 1144
    assert KGST.price_to_ticks("0.011435", Rounding.passive(Side.BUY)) == 1143
    assert KGST.price_to_ticks("0.011435", Rounding.passive(Side.SELL)) == 1144
    assert KGST.price_to_ticks("0.011435", Rounding.aggressive(Side.BUY)) == 1144


def test_floats_are_refused() -> None:
    with pytest.raises(TypeError):
        KGST.price_to_ticks(0.01143)  # type: ignore[arg-type]


def test_garbage_is_a_market_error() -> None:
    with pytest.raises(MarketError):
        KGST.price_to_ticks("abc")
    with pytest.raises(MarketError):
        KGST.price_to_ticks("NaN")


def test_quantities_off_the_lot_grid_are_held_exactly_in_qty_units() -> None:
    # Real books carry sizes placed under an older, finer step size.
    btc = Market("BTC/USDT", "BTC", "USDT", tick_size=Decimal("0.01"), lot_size=Decimal("0.001"))
    units = btc.qty_to_units("0.00012345")
    assert units == 12345
    assert btc.units_to_qty(units) == Decimal("0.00012345")
    assert btc.format_qty(units) == "0.00012345"
    with pytest.raises(OffGridError):
        btc.units_to_lots(units)
    assert btc.units_to_lots(units, Rounding.DOWN) == 0
    assert btc.units_to_lots(units, Rounding.UP) == 1
    assert btc.qty_to_lots("1.234") == 1234
    assert btc.lots_to_units(1234) == btc.qty_to_units("1.234")


def test_quantity_finer_than_the_qty_unit_is_an_error() -> None:
    with pytest.raises(OffGridError):
        KGST.qty_to_units("0.000000001")


def test_notional_is_exact() -> None:
    assert KGST.notional(1143, KGST.qty_to_units("1000")) == Decimal("11.43")
    assert KGST.notional_of_tick_units(1143 * KGST.qty_to_units("1000")) == Decimal("11.43")


def test_filters() -> None:
    KGST.check_order(1143, 100)
    with pytest.raises(MarketError, match="notional"):
        KGST.check_order(1143, 50)  # 50 × 0.01143 = 0.57 < 1
    with pytest.raises(MarketError):
        KGST.check_order(0, 100)


EXCHANGE_INFO_SYMBOL = {
    "symbol": "KGSTUSDT",
    "status": "TRADING",
    "baseAsset": "KGST",
    "quoteAsset": "USDT",
    "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
    "filters": [
        {
            "filterType": "PRICE_FILTER",
            "minPrice": "0.00001000",
            "maxPrice": "1000.00000000",
            "tickSize": "0.00001000",
        },
        {
            "filterType": "LOT_SIZE",
            "minQty": "1.00000000",
            "maxQty": "90000000.00000000",
            "stepSize": "1.00000000",
        },
        {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True},
    ],
}


def test_from_exchange_info() -> None:
    m = Market.from_exchange_info(EXCHANGE_INFO_SYMBOL, maker_fee="0", taker_fee="0.001")
    assert m.symbol == "KGST/USDT"
    assert m.exchange_symbol == "KGSTUSDT"
    assert m.tick_size == Decimal("0.00001")
    assert m.lot_size == Decimal("1")
    assert m.min_notional == Decimal("5")
    assert m.maker_fee == 0
    assert m.price_to_ticks("0.01144") == 1144


def test_from_exchange_info_without_price_filter_is_an_error() -> None:
    info = dict(EXCHANGE_INFO_SYMBOL, filters=[EXCHANGE_INFO_SYMBOL["filters"][1]])
    with pytest.raises(MarketError, match="PRICE_FILTER"):
        Market.from_exchange_info(info)


def test_from_ccxt_prefers_the_exact_filter_strings() -> None:
    ccxt_market = {
        "id": "KGSTUSDT",
        "symbol": "KGST/USDT",
        "base": "KGST",
        "quote": "USDT",
        "maker": 0.001,
        "taker": 0.001,
        "precision": {"price": 1e-05, "amount": 1.0},
        "limits": {"amount": {"min": 1.0}, "cost": {"min": 5.0}},
        "info": EXCHANGE_INFO_SYMBOL,
    }
    m = Market.from_ccxt(ccxt_market)
    assert m.tick_size == Decimal("0.00001")
    assert m.maker_fee == Decimal("0.001")
    # Without the raw filters, ccxt's float precision still converts exactly.
    bare = dict(ccxt_market, info={})
    m2 = Market.from_ccxt(bare)
    assert m2.tick_size == Decimal("0.00001")
    assert m2.min_notional == Decimal("5")
    assert m2.exchange_symbol == "KGSTUSDT"


def test_bad_specs_are_rejected() -> None:
    with pytest.raises(MarketError):
        Market("X/Y", "X", "Y", tick_size=Decimal(0), lot_size=Decimal(1))
    with pytest.raises(MarketError):
        Market("X/Y", "X", "Y", tick_size=Decimal("0.1"), lot_size=Decimal("1e-9"))
