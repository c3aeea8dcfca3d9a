"""Binance's order-change requests: cancel-replace and amend-keep-priority, and their replies.

Two requests change a resting order in one round trip (Binance Spot API, "Cancel an
Existing Order and Send a New Order" and "Order Amend Keep Priority"):

* ``POST /api/v3/order/cancelReplace`` with ``cancelReplaceMode=STOP_ON_FAILURE``: the old
  order is cancelled and, only if that succeeded, the new one placed. Both halves answer: a
  200 when both succeeded; a 400 (``-2022``) when the cancel failed and the new order was
  not attempted; a 409 (``-2021``) when the cancel succeeded and the new order failed. The
  error replies carry both halves in ``data``; ccxt hands them over inside its exception
  text, which :func:`error_body` reads back;
* ``PUT /api/v3/order/amend/keepPriority``: reduce an order's quantity, keeping its place
  in the queue (an increase is refused, ``-2038``). ``newClientOrderId`` is always sent with
  the order's own id: without it the venue gives the order a new random one, and its later
  fills would name an order we do not know.

Replies are parsed from Binance's own JSON (exact decimal strings), not ccxt's unified
order, whose field names do not cover ``amendedOrder``. Over the WebSocket API
(``order.cancelReplace`` through ccxt.pro's ``edit_order_ws``) ccxt returns only the new
order of a success: the old one's half is then known to have succeeded (STOP_ON_FAILURE
places nothing otherwise) and is reported from the order as last known, cancelled.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace as dc_replace
from decimal import Decimal
from typing import Any, Protocol

from pegbot.execution import errors
from pegbot.execution.ccxt_parse import parse_order
from pegbot.execution.quirks import VenueQuirks
from pegbot.execution.venue import OrderState, OrderUpdate, ReplaceResult
from pegbot.market import Market, Side
from pegbot.timeunits import NS_PER_MS

__all__ = [
    "amend_params",
    "error_body",
    "parse_amend",
    "parse_binance_order",
    "parse_replace",
    "replace_params",
    "send_amend",
    "send_replace",
    "send_replace_ws",
]


class Sender(Protocol):
    """What the senders below need of a ccxt venue.

    ``_call`` is the venue's request wrapper: it waits out rate-limit blocks, reads the
    weight headers and maps errors.
    """

    client: Any
    symbol: str
    quirks: VenueQuirks

    def latest(self, client_id: str) -> OrderUpdate | None:
        """The order as the venue last reported it."""
        ...

    async def _call(
        self, kind: str, fn: Callable[..., Awaitable[Any]], *args: Any, fail_fast: bool = False
    ) -> Any: ...


_STATUS = {
    "NEW": OrderState.NEW,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "PENDING_CANCEL": OrderState.CANCELED,
    "REJECTED": OrderState.REJECTED,
    "EXPIRED": OrderState.EXPIRED,
    "EXPIRED_IN_MATCH": OrderState.EXPIRED,
}


def replace_params(
    market: Market,
    side: Side,
    price_ticks: int,
    lots: int,
    cancel_client_id: str,
    client_id: str,
    post_only: bool,
) -> dict[str, str]:
    """The body of a STOP_ON_FAILURE cancel-replace moving ``cancel_client_id``."""
    params = {
        "symbol": market.exchange_symbol,
        "side": "BUY" if side is Side.BUY else "SELL",
        "type": "LIMIT_MAKER" if post_only else "LIMIT",
        "cancelReplaceMode": "STOP_ON_FAILURE",
        "cancelOrigClientOrderId": cancel_client_id,
        "newClientOrderId": client_id,
        "quantity": market.format_qty(market.lots_to_units(lots)),
        "price": market.format_price(price_ticks),
        "newOrderRespType": "RESULT",
    }
    if not post_only:
        params["timeInForce"] = "GTC"
    return params


def amend_params(market: Market, client_id: str, qty_units: int) -> dict[str, str]:
    """The body of an amend setting ``client_id``'s quantity to ``qty_units``, keeping its id.

    ``newQty`` is the order's new *total* quantity, what already filled included: an amend
    to at or below the filled quantity expires the order.
    """
    return {
        "symbol": market.exchange_symbol,
        "origClientOrderId": client_id,
        "newClientOrderId": client_id,
        "newQty": market.format_qty(qty_units),
    }


def error_body(exc: BaseException) -> dict[str, Any] | None:
    """The venue's JSON error body inside a mapped ccxt exception, if there is one.

    ccxt raises ``"binance {json}"``; the mapped :class:`~pegbot.execution.errors.VenueError`
    keeps the ccxt exception as its cause.
    """
    for e in (exc, exc.__cause__):
        if e is None:
            continue
        text = str(e)
        start = text.find("{")
        if start < 0:
            continue
        try:
            body = json.loads(text[start:])
        except ValueError:
            continue
        if isinstance(body, dict) and "code" in body:
            return body
    return None


def parse_binance_order(
    raw: Mapping[str, Any], market: Market, client_id: str | None = None
) -> OrderUpdate:
    """An :class:`OrderUpdate` from Binance's order JSON (a reply half, ``amendedOrder``).

    Args:
        raw: The order object.
        market: Its market.
        client_id: Our id for it (a cancel's reply names the cancel in ``clientOrderId``).

    Raises:
        UnknownVenueError: A status pegbot does not know.
    """
    status = str(raw.get("status", ""))
    state = _STATUS.get(status)
    if state is None:
        raise errors.UnknownVenueError(f"unknown order status {status!r}")
    qty = Decimal(str(raw.get("origQty", raw.get("qty", "0"))))
    filled = market.qty_to_units(Decimal(str(raw.get("executedQty", "0"))))
    if state is OrderState.NEW and filled:
        state = OrderState.PARTIALLY_FILLED
    ts_ms = int(raw.get("transactTime") or raw.get("workingTime") or raw.get("updateTime") or 0)
    return OrderUpdate(
        client_id=client_id or str(raw.get("clientOrderId", "")),
        order_id=str(raw.get("orderId", "")),
        side=Side.BUY if raw.get("side") == "BUY" else Side.SELL,
        price_ticks=market.price_to_ticks(Decimal(str(raw.get("price", "0")))),
        qty_units=market.qty_to_units(qty),
        filled_units=filled,
        state=state,
        ts_ns=ts_ms * NS_PER_MS,
    )


def _half_error(half: Any) -> errors.VenueError:
    if isinstance(half, Mapping) and "code" in half:
        return errors.from_binance_code(int(half["code"]), str(half.get("msg", "")))
    return errors.UnknownVenueError(f"cancel-replace half without an answer: {half!r}")


def parse_replace(
    body: Mapping[str, Any], market: Market, cancel_client_id: str, client_id: str
) -> ReplaceResult:
    """Both halves of a cancel-replace reply (a 200 body, or an error's ``data``)."""
    canceled = placed = None
    cancel_error = place_error = None
    if body.get("cancelResult") == "SUCCESS":
        canceled = parse_binance_order(body["cancelResponse"], market, cancel_client_id)
    else:
        cancel_error = _half_error(body.get("cancelResponse"))
    result = body.get("newOrderResult")
    if result == "SUCCESS":
        placed = parse_binance_order(body["newOrderResponse"], market, client_id)
    elif result == "FAILURE":
        place_error = _half_error(body.get("newOrderResponse"))
    return ReplaceResult(canceled, placed, cancel_error, place_error)


def parse_amend(body: Mapping[str, Any], market: Market, client_id: str) -> OrderUpdate:
    """The amended order of an amend reply."""
    return parse_binance_order(body["amendedOrder"], market, client_id)


async def send_replace(
    venue: Sender,
    market: Market,
    cancel_client_id: str,
    side: Side,
    price_ticks: int,
    lots: int,
    client_id: str,
    post_only: bool,
) -> ReplaceResult:
    """Send a cancel-replace over REST and read both halves, whatever the status.

    Raises:
        VenueError: The request failed as a whole (no halves in the reply).
    """
    params = replace_params(market, side, price_ticks, lots, cancel_client_id, client_id, post_only)
    try:
        raw = await venue._call(
            "replace", venue.client.private_post_order_cancelreplace, params, fail_fast=True
        )
    except errors.VenueError as exc:
        body = error_body(exc)
        data = body.get("data") if body is not None else None
        if not isinstance(data, Mapping):
            raise
        return parse_replace(data, market, cancel_client_id, client_id)
    return parse_replace(raw, market, cancel_client_id, client_id)


async def send_replace_ws(
    venue: Sender,
    market: Market,
    cancel_client_id: str,
    side: Side,
    price_ticks: int,
    lots: int,
    client_id: str,
    post_only: bool,
) -> ReplaceResult:
    """The same cancel-replace over the WebSocket API (ccxt.pro ``edit_order_ws``)."""
    params: dict[str, Any] = {
        "newClientOrderId": client_id,
        "cancelOrigClientOrderId": cancel_client_id,
        "cancelReplaceMode": "STOP_ON_FAILURE",
    }
    if post_only:
        params["postOnly"] = True
    args = (
        None,
        venue.symbol,
        "limit",
        "buy" if side is Side.BUY else "sell",
        market.format_qty(market.lots_to_units(lots)),
        market.format_price(price_ticks),
        params,
    )
    try:
        raw = await venue._call("replace", venue.client.edit_order_ws, *args, fail_fast=True)
    except errors.VenueError as exc:
        body = error_body(exc)
        data = body.get("data") if body is not None else None
        if not isinstance(data, Mapping):
            raise
        return parse_replace(data, market, cancel_client_id, client_id)
    placed = parse_order(raw, market, venue.quirks, client_id)
    old = venue.latest(cancel_client_id)
    if old is not None:
        canceled = dc_replace(old, state=OrderState.CANCELED, ts_ns=placed.ts_ns)
    else:  # an order this venue never saw: what is known of it is what was asked for
        canceled = OrderUpdate(
            cancel_client_id, "", side, 0, 0, 0, OrderState.CANCELED, placed.ts_ns
        )
    return ReplaceResult(canceled, placed)


async def send_amend(venue: Sender, market: Market, client_id: str, qty_units: int) -> OrderUpdate:
    """Send an amend-keep-priority through ``call`` (ccxt has no method: its signed request).

    ``qty_units`` is the new total quantity (see :func:`amend_params`).

    Raises:
        OrderNotFoundError: The order is no longer open.
        InvalidOrderError: The venue refused the amend (``-2038``).
    """
    params = amend_params(market, client_id, qty_units)
    try:
        raw = await venue._call(
            "amend",
            venue.client.request,
            "order/amend/keepPriority",
            ["private"],
            "PUT",
            params,
            fail_fast=True,
        )
    except errors.VenueError as exc:
        body = error_body(exc)
        if body is None:
            raise
        # ccxt raises Binance's -2038 as a plain ExchangeError: map the code ourselves.
        raise errors.from_binance_code(int(body["code"]), str(body.get("msg", ""))) from exc
    return parse_amend(raw, market, client_id)
