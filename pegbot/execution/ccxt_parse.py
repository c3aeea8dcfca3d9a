"""Parsing ccxt's unified orders, trades and fee replies into pegbot's venue types, exactly.

ccxt's unified numbers are floats; the venue's own decimal strings sit in ``info``. The
quirks (:mod:`pegbot.execution.quirks`) name those fields per venue; a missing field falls
back to the unified float through its shortest ``repr`` (exact for what venues send).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pegbot.execution import errors
from pegbot.execution.quirks import VenueQuirks
from pegbot.execution.venue import Fill, OrderState, OrderUpdate
from pegbot.market import Market, Side, to_decimal
from pegbot.timeunits import NS_PER_MS

__all__ = ["header", "num", "parse_fee_rates", "parse_fill", "parse_order"]


_STATUS: Mapping[str, OrderState] = {
    "NEW": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "PENDING_CANCEL": OrderState.NEW,
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
    # ccxt's unified statuses
    "open": OrderState.NEW,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
    "expired": OrderState.EXPIRED,
}


def num(value: Any) -> Decimal:
    """An exact Decimal from a venue string, or a ccxt float through its shortest repr."""
    if isinstance(value, float):
        return to_decimal(repr(value))
    return to_decimal(value)


def _exact(raw: Mapping[str, Any], keys: tuple[str, ...], unified: Any) -> Any:
    info = raw.get("info")
    if isinstance(info, Mapping):
        for key in keys:
            value = info.get(key)
            if value is not None and value != "":
                return value
    return unified


def parse_order(
    raw: Mapping[str, Any], market: Market, quirks: VenueQuirks, fallback_client_id: str = ""
) -> OrderUpdate:
    """An :class:`OrderUpdate` from a ccxt order (REST reply or WS update).

    The client id is ccxt's ``clientOrderId``, except for a canceled order on a venue whose
    cancel carries an id of its own (``quirks.canceled_client_id``): there it is the
    canceled order's id from ``info``.

    Raises:
        UnknownVenueError: A status pegbot does not know.
    """
    exact = quirks.exact_order

    def field(name: str) -> Any:
        return _exact(raw, tuple(exact.get(name, ())), raw.get(name))

    status_raw = field("status")
    state = _STATUS.get(str(status_raw)) or _STATUS.get(str(raw.get("status")))
    if state is None:
        raise errors.UnknownVenueError(f"unknown order status {status_raw!r}")
    price = field("price")
    amount = field("amount")
    filled_units = market.qty_to_units(num(field("filled") or 0))
    if state is OrderState.NEW and filled_units:
        state = OrderState.PARTIALLY_FILLED
    ts_ms = raw.get("lastUpdateTimestamp") or raw.get("timestamp") or 0
    client_id = raw.get("clientOrderId") or fallback_client_id
    if state is OrderState.CANCELED:
        # A cancel's reply names the cancel request in clientOrderId (ccxt copies it over):
        # the canceled order is the original id.
        client_id = _exact(raw, quirks.canceled_client_id, client_id)
    return OrderUpdate(
        client_id=str(client_id),
        order_id=str(raw.get("id") or ""),
        side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
        price_ticks=market.price_to_ticks(num(price)) if price not in (None, "") else 0,
        qty_units=market.qty_to_units(num(amount)) if amount not in (None, "") else 0,
        filled_units=filled_units,
        state=state,
        ts_ns=int(ts_ms) * NS_PER_MS,
        reason=_reason(raw.get("info")),
    )


def parse_fill(
    raw: Mapping[str, Any],
    market: Market,
    quirks: VenueQuirks,
    venue: str,
    symbol: str,
    client_ids: Mapping[str, str],
) -> Fill:
    """A :class:`Fill` from a ccxt trade; ``client_ids`` maps venue order ids to ours."""
    exact = quirks.exact_trade

    def field(name: str, unified: Any) -> Any:
        return _exact(raw, tuple(exact.get(name, ())), unified)

    fee = raw.get("fee") or {}
    fee_cost = field("fee", fee.get("cost"))
    fee_asset = field("fee_asset", fee.get("currency"))
    order_id = str(raw.get("order") or "")
    client_id = client_ids.get(order_id, "")
    info = raw.get("info")
    if not client_id and isinstance(info, Mapping):
        client_id = str(info.get("c") or "")  # the WS execution report names it
    return Fill(
        venue=venue,
        symbol=symbol,
        trade_id=str(raw["id"]),
        client_id=client_id,
        order_id=order_id,
        side=Side.BUY if raw.get("side") == "buy" else Side.SELL,
        price_ticks=market.price_to_ticks(num(field("price", raw.get("price")))),
        qty_units=market.qty_to_units(num(field("amount", raw.get("amount")))),
        fee=num(fee_cost).normalize() if fee_cost is not None else Decimal(0),
        fee_asset=str(fee_asset or market.quote),
        maker=raw.get("takerOrMaker") == "maker",
        ts_ns=int(raw.get("timestamp") or 0) * NS_PER_MS,
    )


def _reason(info: Any) -> str:
    # Binance's executionReport says "NONE" when there is no reject reason.
    reason = str(info.get("r") or "") if isinstance(info, Mapping) else ""
    return "" if reason == "NONE" else reason


def header(headers: Mapping[str, Any], name: str) -> str | None:
    """A response header by name, case-insensitively (None if absent)."""
    lowered = name.lower()
    for key, value in headers.items():
        if str(key).lower() == lowered:
            return str(value)
    return None


def parse_fee_rates(reply: Any) -> tuple[Decimal | None, Decimal | None]:
    """Maker and taker rates from a fee reply (Binance ``account/commission`` sums its parts)."""
    if not isinstance(reply, Mapping):
        return None, None
    if "standardCommission" in reply:
        maker = taker = Decimal(0)
        for part in ("standardCommission", "specialCommission", "taxCommission"):
            rates = reply.get(part) or {}
            maker += num(rates.get("maker", "0"))
            taker += num(rates.get("taker", "0"))
        return maker.normalize(), taker.normalize()
    if "maker" in reply and "taker" in reply:
        return num(reply["maker"]), num(reply["taker"])
    return None, None
