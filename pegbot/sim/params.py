"""Parsing of request parameters (decimal strings) into engine requests, with Binance's checks.

Shared by the REST API and the WebSocket API, so that both reject the same input with the
same code. This is the boundary where decimal strings become ticks and qty units.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

from pegbot.market import Side

from . import errors
from .accounts import amount_from_decimal
from .config import SymbolConfig
from .model import FOK, GTC, IOC, LIMIT, LIMIT_MAKER, MARKET, NewOrder

_SIDES = {"BUY": Side.BUY, "SELL": Side.SELL}
_TIFS = (GTC, IOC, FOK)


def require(params: Mapping[str, str], name: str) -> str:
    """A mandatory parameter, or -1102."""
    value = params.get(name)
    if value is None or value == "":
        raise errors.missing_param(name)
    return value


def decimal_param(params: Mapping[str, str], name: str) -> Decimal | None:
    """An optional decimal parameter; -1100 if it is not a plain non-negative number."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:
        raise errors.bad_param(name) from exc
    if not value.is_finite() or value < 0 or "e" in raw.lower():
        raise errors.bad_param(name)
    return value


def int_param(params: Mapping[str, str], name: str) -> int | None:
    """An optional integer parameter; -1100 if malformed."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise errors.bad_param(name) from exc


def symbol_param(params: Mapping[str, str], symbols: Mapping[str, SymbolConfig]) -> SymbolConfig:
    """The symbol of a request, or -1102 / -1121."""
    symbol = require(params, "symbol").upper()
    spec = symbols.get(symbol)
    if spec is None:
        raise errors.invalid_symbol()
    return spec


def parse_new_order(params: Mapping[str, str], symbols: Mapping[str, SymbolConfig]) -> NewOrder:
    """Build a :class:`NewOrder` from ``POST /api/v3/order`` parameters.

    Args:
        params: The request parameters as strings.
        symbols: Exchange symbol to its configuration.

    Raises:
        SimError: with Binance's code for a missing, malformed or filter-breaking value.
    """
    spec = symbol_param(params, symbols)
    market = spec.market()
    side = _SIDES.get(require(params, "side").upper())
    if side is None:
        raise errors.SimError(-1117, "Invalid side.")
    order_type = require(params, "type").upper()
    if order_type not in (LIMIT, LIMIT_MAKER, MARKET):
        raise errors.SimError(-1116, "Invalid orderType.")
    quantity = decimal_param(params, "quantity")
    quote_qty = decimal_param(params, "quoteOrderQty")
    price = decimal_param(params, "price")
    tif = GTC
    if order_type == LIMIT:
        tif = require(params, "timeInForce").upper()
        if tif not in _TIFS:
            raise errors.SimError(-1115, "Invalid timeInForce.")
    if order_type in (LIMIT, LIMIT_MAKER):
        if quantity is None:
            raise errors.missing_param("quantity")
        if price is None:
            raise errors.missing_param("price")
    elif quantity is None and quote_qty is None:
        raise errors.SimError(
            -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
        )
    ticks = 0
    if order_type != MARKET and price is not None:
        if price < spec.min_price or (spec.max_price and price > spec.max_price):
            raise errors.filter_failure("PRICE_FILTER")
        if price % spec.tick_size != 0 or price == 0:
            raise errors.filter_failure("PRICE_FILTER")
        ticks = int(price / spec.tick_size)
    units = 0
    if quantity is not None:
        if quantity % spec.lot_size != 0 or quantity > spec.max_qty or quantity < spec.min_qty:
            raise errors.filter_failure("LOT_SIZE")
        units = market.qty_to_units(quantity)
        if ticks and price is not None and price * quantity > spec.max_notional:
            raise errors.filter_failure("NOTIONAL")
    quote_amount = 0
    if order_type == MARKET and quantity is None and quote_qty is not None:
        if quote_qty <= 0:
            raise errors.filter_failure("NOTIONAL")
        quote_amount = amount_from_decimal(quote_qty)
    cid = params.get("newClientOrderId", "") or ""
    if len(cid) > 36:
        raise errors.bad_param("newClientOrderId")
    return NewOrder(
        symbol=spec.exchange_symbol,
        side=side,
        type=order_type,
        units=units,
        price=ticks,
        tif=tif,
        quote_amount=quote_amount,
        client_order_id=cid,
    )
