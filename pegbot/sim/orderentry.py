"""Order entry requests, shared by the REST API and the WebSocket API.

Each function takes the exchange, the caller's account and the request's parameters (strings),
calls the engine, and returns Binance's reply body; a refusal raises
:class:`~pegbot.sim.errors.SimError` with Binance's status, code and message. The REST and
WebSocket layers only add transport (HTTP status and headers, or the ``{"id", "status"}``
envelope), so both APIs answer the same request alike:

* new order (``POST /api/v3/order``, ``order.place``);
* cancel (``DELETE /api/v3/order``, ``order.cancel``) and cancel-all (``DELETE
  /api/v3/openOrders``, ``openOrders.cancelAll``): ``clientOrderId`` is the cancel's own id
  (``newClientOrderId``, generated when not sent), ``origClientOrderId`` the order's;
* cancel-replace (``POST /api/v3/order/cancelReplace``, ``order.cancelReplace``): Binance's
  outcome table — see :func:`cancel_replace`;
* amend keep priority (``PUT /api/v3/order/amend/keepPriority``,
  ``order.amend.keepPriority``);
* the unfilled order count (``GET /api/v3/rateLimit/order``, ``account.rateLimits.orders``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import errors
from .exchange import Exchange
from .formats import amend_json, cancel_json, fill_json, order_json
from .model import MARKET, Order
from .params import decimal_param, int_param, parse_new_order, require, symbol_param

__all__ = [
    "ReplaceError",
    "amend",
    "cancel",
    "cancel_all",
    "cancel_replace",
    "new_order",
    "order_reply",
    "unfilled_orders",
]

#: ``r`` of the report of a new order the matching engine rejected, by Binance's message.
_REJECT_REASONS = {
    "Account has insufficient balance for requested action.": "INSUFFICIENT_BALANCES",
    "Order would immediately match and take.": "WOULD_MATCH_IMMEDIATELY",
}
_REPLACE_MODES = ("STOP_ON_FAILURE", "ALLOW_FAILURE")
_LIMIT_MODES = ("DO_NOTHING", "CANCEL_ONLY")


class ReplaceError(errors.SimError):
    """A cancel-replace that failed in part or whole: the error body carries ``data``."""

    def __init__(self, code: int, msg: str, data: dict[str, Any], status: int) -> None:
        super().__init__(code, msg, status)
        self.data = data

    def body(self) -> dict[str, Any]:
        """``{"code", "msg", "data": {cancelResult, newOrderResult, ...}}``."""
        return {"code": self.code, "msg": self.msg, "data": self.data}


def ids(params: Mapping[str, str], id_name: str, cid_name: str) -> tuple[int | None, str | None]:
    """An order named by id and/or client id; -1102 when neither is sent."""
    oid = int_param(params, id_name)
    cid = params.get(cid_name) or None
    if oid is None and cid is None:
        raise errors.SimError(
            -1102, f"Param '{cid_name}' or '{id_name}' must be sent, but both were empty/null!"
        )
    return oid, cid


def _client_id(params: Mapping[str, str], name: str) -> str:
    cid = params.get(name, "") or ""
    if len(cid) > 36:
        raise errors.bad_param(name)
    return cid


def order_reply(ex: Exchange, order: Order, resp_type: str) -> dict[str, Any]:
    """A new order's reply in ``ACK``, ``RESULT`` or ``FULL`` (the default for LIMIT/MARKET)."""
    market = ex.engine.books[order.symbol].market
    resp_type = resp_type.upper() or ("FULL" if order.type in ("LIMIT", MARKET) else "ACK")
    body = order_json(market, order, resp_type)
    if resp_type == "FULL":
        body["fills"] = [
            fill_json(market, t)
            for t in ex.engine.trades.get(order.api_key, [])[-200:]
            if t.order_id == order.order_id
        ]
    return body


def new_order(ex: Exchange, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Place a new order (counted against the unfilled order count first)."""
    req = parse_new_order(params, ex.symbols)
    ex.limiter.count_order(api_key, ex.now_ns())
    order = ex.engine.place(api_key, req, ex.now_ns())
    return order_reply(ex, order, params.get("newOrderRespType", ""))


def _refuse_if_faulted(ex: Exchange) -> None:
    if ex.faults.cancel_failure():
        raise errors.internal_error()


def cancel(ex: Exchange, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Cancel one order (by ``orderId`` / ``origClientOrderId``; ``cancelRestrictions``)."""
    spec = symbol_param(params, ex.symbols)
    _refuse_if_faulted(ex)
    oid, cid = ids(params, "orderId", "origClientOrderId")
    order = ex.engine.cancel(
        api_key,
        spec.exchange_symbol,
        ex.now_ns(),
        oid,
        cid,
        cancel_client_order_id=_client_id(params, "newClientOrderId"),
        restriction=params.get("cancelRestrictions", ""),
    )
    return cancel_json(ex.engine.books[order.symbol].market, order)


def cancel_all(ex: Exchange, api_key: str, params: Mapping[str, str]) -> list[dict[str, Any]]:
    """Cancel every open order of the account on the symbol (-2011 when there is none)."""
    spec = symbol_param(params, ex.symbols)
    orders = ex.engine.cancel_all(api_key, spec.exchange_symbol, ex.now_ns())
    market = ex.engine.books[spec.exchange_symbol].market
    return [cancel_json(market, o) for o in orders]


def cancel_replace(ex: Exchange, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Cancel an order and place a new one, with Binance's outcome table.

    Filters and the unfilled order count are evaluated before anything is canceled: a new
    order that breaks a filter fails the whole request (-1013), nothing canceled. Over the
    order count, ``orderRateLimitExceededMode=DO_NOTHING`` (the default) fails the whole
    request (429, -1015); ``CANCEL_ONLY`` still cancels, and the new order fails with -1015.
    Then:

    ================  ==============  ==============  ======  ======
    cancelReplaceMode cancel          new order       status  code
    ================  ==============  ==============  ======  ======
    STOP_ON_FAILURE   SUCCESS         SUCCESS         200
    STOP_ON_FAILURE   FAILURE         NOT_ATTEMPTED   400     -2022
    STOP_ON_FAILURE   SUCCESS         FAILURE         409     -2021
    ALLOW_FAILURE     SUCCESS         SUCCESS         200
    ALLOW_FAILURE     FAILURE         FAILURE         400     -2022
    ALLOW_FAILURE     FAILURE         SUCCESS         409     -2021
    ALLOW_FAILURE     SUCCESS         FAILURE         409     -2021
    ================  ==============  ==============  ======  ======

    A cancel that fails because the order count is exceeded with ``CANCEL_ONLY`` answers 429
    (STOP_ON_FAILURE) or 400 (ALLOW_FAILURE), as the outcome table says. The cancel-replace
    is not transactional: a new order that fails leaves the old one canceled. A new order the
    matching engine rejects after a successful cancel is reported on the user stream with
    execution type ``REJECTED``.
    """
    spec = symbol_param(params, ex.symbols)
    _refuse_if_faulted(ex)
    mode = require(params, "cancelReplaceMode").upper()
    if mode not in _REPLACE_MODES:
        raise errors.bad_enum("cancelReplaceMode")
    limit_mode = (params.get("orderRateLimitExceededMode") or "DO_NOTHING").upper()
    if limit_mode not in _LIMIT_MODES:
        raise errors.bad_enum("orderRateLimitExceededMode")
    req = parse_new_order(params, ex.symbols)
    ex.engine.check_new(req)
    oid, cid = ids(params, "cancelOrderId", "cancelOrigClientOrderId")
    cancel_id = _client_id(params, "cancelNewClientOrderId")
    over: errors.SimError | None = None
    try:
        ex.limiter.count_order(api_key, ex.now_ns())
    except errors.SimError as exc:
        if limit_mode == "DO_NOTHING":
            raise
        over = exc
    market = ex.engine.books[spec.exchange_symbol].market
    cancel_body: dict[str, Any]
    try:
        canceled = ex.engine.cancel(
            api_key,
            spec.exchange_symbol,
            ex.now_ns(),
            oid,
            cid,
            cancel_client_order_id=cancel_id,
            restriction=params.get("cancelRestrictions", ""),
        )
        cancel_body, cancel_ok = cancel_json(market, canceled), True
    except errors.SimError as exc:
        cancel_body, cancel_ok = exc.body(), False
    data: dict[str, Any] = {
        "cancelResult": "SUCCESS" if cancel_ok else "FAILURE",
        "newOrderResult": "NOT_ATTEMPTED",
        "cancelResponse": cancel_body,
        "newOrderResponse": None,
    }
    if not cancel_ok and mode == "STOP_ON_FAILURE":
        raise ReplaceError(-2022, "Order cancel-replace failed.", data, 429 if over else 400)
    try:
        if over is not None:
            raise over
        order = ex.engine.place(api_key, req, ex.now_ns())
    except errors.SimError as exc:
        if cancel_ok and exc.code == -2010:
            reason = _REJECT_REASONS.get(exc.msg, "NONE")
            ex.engine.report_rejected(api_key, req, reason, ex.now_ns())
        data.update(newOrderResult="FAILURE", newOrderResponse=exc.body())
        if cancel_ok:
            raise ReplaceError(-2021, "Order cancel-replace partially failed.", data, 409) from exc
        raise ReplaceError(-2022, "Order cancel-replace failed.", data, 400) from exc
    data.update(
        newOrderResult="SUCCESS",
        newOrderResponse=order_reply(ex, order, params.get("newOrderRespType", "")),
    )
    if not cancel_ok:
        raise ReplaceError(-2021, "Order cancel-replace partially failed.", data, 409)
    return data


def amend(ex: Exchange, api_key: str, params: Mapping[str, str]) -> dict[str, Any]:
    """Reduce an order's quantity keeping its priority (``newQty``, ``newClientOrderId``)."""
    spec = symbol_param(params, ex.symbols)
    oid, cid = ids(params, "orderId", "origClientOrderId")
    new_qty = decimal_param(params, "newQty")
    if new_qty is None:
        raise errors.missing_param("newQty")
    if new_qty % spec.lot_size != 0 or new_qty > spec.max_qty:
        raise errors.filter_failure("LOT_SIZE")
    symbol = spec.exchange_symbol
    book = ex.engine.books[symbol]
    order, before = ex.engine.amend(
        api_key,
        symbol,
        ex.now_ns(),
        oid,
        cid,
        book.market.qty_to_units(new_qty),
        _client_id(params, "newClientOrderId"),
    )
    return amend_json(book.market, order, before, book.execution_id)


def unfilled_orders(ex: Exchange, api_key: str) -> list[dict[str, Any]]:
    """The account's unfilled order count for every ``ORDERS`` interval."""
    return ex.limiter.unfilled_order_count(api_key, ex.now_ns())
