"""JSON shapes of Binance's replies and events, built from engine objects.

Prices and quantities leave as Binance prints them: decimal strings with eight decimals
(more if the grid is finer), times in milliseconds.
"""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from pegbot.market import Market, Side
from pegbot.timeunits import NS_PER_MS

from .accounts import Account, format_amount
from .config import SymbolConfig
from .model import (
    AccountTrade,
    AccountUpdate,
    BookTicker,
    DepthUpdate,
    ExecutionReport,
    Order,
    PublicTrade,
)


def ms(ns: int) -> int:
    """Nanoseconds to milliseconds."""
    return ns // NS_PER_MS


def fixed(value: Decimal, decimals: int = 8) -> str:
    """A decimal with at least ``decimals`` places, never losing a digit."""
    text = f"{value:.{decimals}f}"
    return text if Decimal(text) == value else format(value.normalize(), "f")


def price_str(market: Market, ticks: int) -> str:
    """A tick count as Binance prints prices."""
    return fixed(market.tick_size * ticks)


def qty_str(market: Market, units: int) -> str:
    """A qty-unit count as Binance prints quantities."""
    return fixed(Decimal(units).scaleb(-market.qty_decimals))


def _side(side: Side) -> str:
    return "BUY" if side is Side.BUY else "SELL"


def order_json(market: Market, order: Order, resp_type: str = "FULL") -> dict[str, Any]:
    """The reply to a new order (``ACK``, ``RESULT`` or ``FULL``, without ``fills``)."""
    out: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        "transactTime": ms(order.time_ns),
    }
    if resp_type == "ACK":
        return out
    out.update(_order_fields(market, order))
    out["workingTime"] = ms(order.working_ns) if order.working_ns >= 0 else ms(order.time_ns)
    out["selfTradePreventionMode"] = "NONE"
    return out


def _order_fields(market: Market, order: Order) -> dict[str, Any]:
    return {
        "price": price_str(market, order.price),
        "origQty": qty_str(market, order.orig_units),
        "executedQty": qty_str(market, order.executed_units),
        "origQuoteOrderQty": format_amount(order.quote_amount),
        "cummulativeQuoteQty": format_amount(order.cum_quote),
        "status": order.status,
        "timeInForce": order.tif,
        "type": order.type,
        "side": _side(order.side),
    }


def query_order_json(market: Market, order: Order) -> dict[str, Any]:
    """``GET /api/v3/order`` and ``openOrders`` rows."""
    out: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.client_order_id,
        **_order_fields(market, order),
        "stopPrice": "0.00000000",
        "icebergQty": "0.00000000",
        "time": ms(order.time_ns),
        "updateTime": ms(order.update_ns),
        "isWorking": order.is_open or order.working_ns >= 0,
        "workingTime": ms(order.working_ns) if order.working_ns >= 0 else ms(order.time_ns),
        "selfTradePreventionMode": "NONE",
    }
    if order.status == "EXPIRED":
        out["expiryReason"] = order.expiry_reason or "NONE"
    return out


def cancel_json(market: Market, order: Order) -> dict[str, Any]:
    """The reply to a cancel (REST "Cancel order", WS API ``order.cancel``).

    ``clientOrderId`` is the cancel's own id, ``origClientOrderId`` the order's.
    """
    return {
        "symbol": order.symbol,
        "origClientOrderId": order.client_order_id,
        "orderId": order.order_id,
        "orderListId": -1,
        "clientOrderId": order.cancel_client_order_id,
        "transactTime": ms(order.update_ns),
        **_order_fields(market, order),
        "selfTradePreventionMode": "NONE",
    }


def amend_json(
    market: Market, order: Order, orig_client_order_id: str, execution_id: int
) -> dict[str, Any]:
    """The reply to an amend: the transaction, its execution id and the amended order.

    REST ``PUT /api/v3/order/amend/keepPriority`` and WS API ``order.amend.keepPriority``.
    """
    amended: dict[str, Any] = {
        "symbol": order.symbol,
        "orderId": order.order_id,
        "orderListId": -1,
        "origClientOrderId": orig_client_order_id,
        "clientOrderId": order.client_order_id,
        "price": price_str(market, order.price),
        "qty": qty_str(market, order.orig_units),
        "executedQty": qty_str(market, order.executed_units),
        "preventedQty": qty_str(market, 0),
        "quoteOrderQty": format_amount(order.quote_amount),
        "cumulativeQuoteQty": format_amount(order.cum_quote),
        "status": order.status,
        "timeInForce": order.tif,
        "type": order.type,
        "side": _side(order.side),
    }
    amended["workingTime"] = ms(order.working_ns if order.working_ns >= 0 else order.time_ns)
    amended["selfTradePreventionMode"] = "NONE"
    return {
        "transactTime": ms(order.update_ns),
        "executionId": execution_id,
        "amendedOrder": amended,
    }


def fill_json(market: Market, trade: AccountTrade) -> dict[str, Any]:
    """One entry of ``fills`` in a FULL new-order reply."""
    return {
        "price": price_str(market, trade.price),
        "qty": qty_str(market, trade.units),
        "commission": format_amount(trade.commission),
        "commissionAsset": trade.commission_asset,
        "tradeId": trade.trade_id,
    }


def my_trade_json(market: Market, trade: AccountTrade) -> dict[str, Any]:
    """A ``myTrades`` row."""
    return {
        "symbol": trade.symbol,
        "id": trade.trade_id,
        "orderId": trade.order_id,
        "orderListId": -1,
        "price": price_str(market, trade.price),
        "qty": qty_str(market, trade.units),
        "quoteQty": format_amount(trade.quote),
        "commission": format_amount(trade.commission),
        "commissionAsset": trade.commission_asset,
        "time": ms(trade.time_ns),
        "isBuyer": trade.is_buyer,
        "isMaker": trade.is_maker,
        "isBestMatch": True,
    }


def exchange_symbol_json(spec: SymbolConfig, status: str) -> dict[str, Any]:
    """One ``exchangeInfo.symbols[]`` entry."""
    return {
        "symbol": spec.exchange_symbol,
        "status": status,
        "baseAsset": spec.base,
        "baseAssetPrecision": 8,
        "quoteAsset": spec.quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
        "icebergAllowed": False,
        "ocoAllowed": False,
        "otoAllowed": False,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": False,
        "opoAllowed": False,
        "cancelReplaceAllowed": True,
        "amendAllowed": spec.amend_allowed,
        "pegInstructionsAllowed": False,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": fixed(spec.min_price),
                "maxPrice": fixed(spec.max_price),
                "tickSize": fixed(spec.tick_size),
            },
            {
                "filterType": "LOT_SIZE",
                "minQty": fixed(spec.min_qty),
                "maxQty": fixed(spec.max_qty),
                "stepSize": fixed(spec.lot_size),
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": fixed(spec.min_notional),
                "applyMinToMarket": True,
                "maxNotional": fixed(spec.max_notional),
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": spec.max_num_orders},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": spec.max_num_order_amends},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "NONE",
        "allowedSelfTradePreventionModes": ["NONE"],
    }


def depth_event(market: Market, ev: DepthUpdate) -> dict[str, Any]:
    """A ``depthUpdate`` stream event."""
    return {
        "e": "depthUpdate",
        "E": ms(ev.time_ns),
        "s": ev.symbol,
        "U": ev.first_id,
        "u": ev.last_id,
        "b": [[price_str(market, t), qty_str(market, q)] for t, q in ev.bids],
        "a": [[price_str(market, t), qty_str(market, q)] for t, q in ev.asks],
    }


def trade_event(market: Market, ev: PublicTrade) -> dict[str, Any]:
    """A ``trade`` stream event."""
    return {
        "e": "trade",
        "E": ms(ev.time_ns),
        "s": ev.symbol,
        "t": ev.trade_id,
        "p": price_str(market, ev.price),
        "q": qty_str(market, ev.units),
        "T": ms(ev.time_ns),
        "m": ev.buyer_is_maker,
        "M": True,
    }


def book_ticker_event(market: Market, ev: BookTicker) -> dict[str, Any]:
    """A ``bookTicker`` stream event (it has no ``e``)."""
    return {
        "u": ev.update_id,
        "s": ev.symbol,
        "b": price_str(market, ev.bid),
        "B": qty_str(market, ev.bid_units),
        "a": price_str(market, ev.ask),
        "A": qty_str(market, ev.ask_units),
    }


def execution_report(market: Market, ev: ExecutionReport, event_ns: int) -> dict[str, Any]:
    """An ``executionReport`` user-data event (User Data Streams, "Order Update").

    ``c`` is the cancel's own id on a cancel and ``C`` the canceled order's id (``""``
    otherwise; an amend reports the order's new id in ``c``). Conditional fields appear only under
    their documented conditions: ``eR`` when the order expired; ``v`` (prevented match id)
    never, since the simulator has no self-trade prevention.
    """
    o = ev.order
    out: dict[str, Any] = {
        "e": "executionReport",
        "E": ms(event_ns),
        "s": o.symbol,
        "c": ev.client_order_id or o.client_order_id,
        "S": _side(o.side),
        "o": o.type,
        "f": o.tif,
        "q": qty_str(market, o.orig_units),
        "p": price_str(market, o.price),
        "P": "0.00000000",
        "F": "0.00000000",
        "g": -1,
        "C": ev.orig_client_order_id,
        "x": ev.exec_type,
        "X": o.status,
        "r": ev.reject_reason,
        "i": o.order_id,
        "l": qty_str(market, ev.last_units),
        "z": qty_str(market, o.executed_units),
        "L": price_str(market, ev.last_price),
        "n": format_amount(ev.commission),
        "N": ev.commission_asset or None,
        "T": ms(ev.time_ns),
        "t": ev.trade_id,
        "I": ev.execution_id,
        "w": o.is_open,
        "m": ev.is_maker,
        "M": False,
        "O": ms(o.time_ns),
        "Z": format_amount(o.cum_quote),
        "Y": format_amount(ev.last_quote),
        "Q": format_amount(o.quote_amount),
        # Every order type the simulator takes works on arrival (no stop or pending list
        # order waits off the book), so W is always there, as workingTime is in replies.
        "W": ms(o.working_ns) if o.working_ns >= 0 else ms(o.time_ns),
        "V": "NONE",
    }
    if o.status == "EXPIRED":
        out["eR"] = o.expiry_reason or "NONE"
    return out


def account_position(ev: AccountUpdate) -> dict[str, Any]:
    """An ``outboundAccountPosition`` user-data event."""
    return {
        "e": "outboundAccountPosition",
        "E": ms(ev.time_ns),
        "u": ms(ev.time_ns),
        "B": [{"a": a, "f": format_amount(f), "l": format_amount(lk)} for a, f, lk in ev.balances],
    }


def account_json(
    account: Account, spec: SymbolConfig, *, omit_zero: bool = False
) -> dict[str, Any]:
    """``GET /api/v3/account`` and the WebSocket API's ``account.status``.

    Commissions are the first symbol's (the simulator has one fee schedule per symbol, and
    Binance's account-wide fields are in basis points); ``omit_zero`` is ``omitZeroBalances``.
    """
    return {
        "makerCommission": int(spec.maker_fee * 10000),
        "takerCommission": int(spec.taker_fee * 10000),
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {
            "maker": fixed(spec.maker_fee),
            "taker": fixed(spec.taker_fee),
            "buyer": "0.00000000",
            "seller": "0.00000000",
        },
        "canTrade": account.can_trade,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": ms(account.update_ns),
        "accountType": "SPOT",
        "balances": [
            {"asset": a, "free": format_amount(b.free), "locked": format_amount(b.locked)}
            for a, b in sorted(account.balances.items())
            if not omit_zero or b.free or b.locked
        ],
        "permissions": ["SPOT"],
        "uid": zlib.crc32(account.api_key.encode()) % 10**9,
    }
