"""Venue quirks as data: what each ccxt exchange needs so that one ``CcxtVenue`` drives it.

A quirk is never a code branch in the venue; it is a field here (style lesson 7). Binance
comes first and is the reference; other ccxt exchanges get an entry when pegbot quotes there.

The ``exact_*`` field tables name the raw ``info`` fields holding the venue's decimal *strings*:
ccxt's unified numbers are floats, and pegbot never decides an order on a float. A field
missing from ``info`` falls back to the unified value (through its shortest ``repr``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pegbot.timeunits import NS_PER_DAY, NS_PER_S

__all__ = [
    "BINANCE",
    "HTX",
    "MARKET_DATA_FEEDS",
    "QUIRKS",
    "VenueQuirks",
    "deep_copy",
    "point_client_at",
    "quirks_for",
]


#: The market-data feeds a venue can use (``VenueQuirks.market_data``).
MARKET_DATA_FEEDS = ("binance_stream", "ccxt")


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True, slots=True)
class VenueQuirks:
    """What one ccxt exchange needs.

    Attributes:
        exchange_id: ccxt's id (``binance``).
        options: ccxt constructor ``options`` (keep ``load_markets`` to what pegbot needs).
        rest_sections: ``urls["api"]`` sections and their paths, for pointing the client at
            another host (the simulator); ``{}`` when the venue cannot be re-pointed.
        ws_sections: ``urls["api"]["ws"]`` entries as ``(path into the ws dict, suffix)``.
        client_id_param: Order parameter carrying our client id on place.
        lookup_param: Parameter naming an order by our client id (fetch, cancel).
        post_only_params: Extra order params asking for post-only.
        max_client_id: Longest client id the venue accepts.
        used_weight_header: Response header with the weight used in the current window.
        weight_window_ns: Length of that window.
        order_count_headers: Response headers with the account's order count, by the length
            of their window (ns).
        retry_after_header: Header saying how long to back off after a 429/418.
        fee_method: Implicit ccxt method returning the account's fee rates for the symbol
            (``None``: keep the market's fees).
        user_stream_ready: ccxt method that subscribes the user-data stream and returns
            once the venue confirmed it (``None``: the first watch call subscribes).
        exact_order: Unified field -> ``info`` keys with the exact strings (REST, WS).
        exact_trade: Same for trades.
        exact_balance: ``(list key, asset, free, locked)`` of the raw balances, or ``()``.
        canceled_client_id: ``info`` keys naming the *canceled order's* client id in a cancel
            reply or report, where the venue gives the cancel request an id of its own
            (Binance: ``clientOrderId`` of a cancel reply and ``c`` of its report are the
            cancel's id; the order's is ``origClientOrderId`` / ``C``).
        trades_from_id_param: Parameter continuing the trade history after a trade id
            (``None``: page by time).
        order_limit_markers: Text in a 429 that says the *order count* limit was hit (only
            new orders must wait; cancels and reads go on).
        market_data: The bot's market-data feed: ``binance_stream`` (the exact Binance
            feed, :mod:`pegbot.feeds.binance`) or ``ccxt`` (ccxt.pro ``watch_order_book``
            and ``watch_trades``, :mod:`pegbot.feeds.ccxt_feed`; any ccxt.pro exchange).
        exchange_info_limits: ``GET /api/v3/exchangeInfo`` declares the rate limits the
            budget is built from.
        cancel_replace: ``POST /api/v3/order/cancelReplace`` (STOP_ON_FAILURE) moves an order
            in one atomic request.
        amend_keep_priority: ``PUT /api/v3/order/amend/keepPriority`` reduces an order's
            quantity keeping its queue position.
        ws_order_entry: Orders can be placed, cancelled and cancel-replaced over the venue's
            WebSocket API (ccxt.pro's ``create_order_ws``, ``cancel_order_ws``,
            ``edit_order_ws``): one open connection, no HTTP round trip per request.
    """

    exchange_id: str
    options: Mapping[str, Any] = field(default_factory=dict)
    rest_sections: Mapping[str, str] = field(default_factory=dict)
    ws_sections: tuple[tuple[tuple[str, ...], str], ...] = ()
    client_id_param: str = "clientOrderId"
    lookup_param: str = "clientOrderId"
    post_only_params: Mapping[str, Any] = field(default_factory=lambda: {"postOnly": True})
    max_client_id: int = 36
    used_weight_header: str | None = None
    weight_window_ns: int = 60_000_000_000
    order_count_headers: Mapping[str, int] = field(default_factory=dict)
    retry_after_header: str = "Retry-After"
    fee_method: str | None = None
    user_stream_ready: str | None = None
    exact_order: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exact_trade: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    exact_balance: tuple[str, ...] = ()
    canceled_client_id: tuple[str, ...] = ()
    trades_from_id_param: str | None = None
    order_limit_markers: tuple[str, ...] = ()
    market_data: str = "ccxt"
    exchange_info_limits: bool = False
    cancel_replace: bool = False
    amend_keep_priority: bool = False
    ws_order_entry: bool = False


#: Binance spot: only ``exchangeInfo`` at load, ``newClientOrderId``,
#: ``X-MBX-USED-WEIGHT-1M``, user data over the WS API.
BINANCE = VenueQuirks(
    exchange_id="binance",
    options=_frozen(
        {
            "defaultType": "spot",
            "fetchMarkets": {"types": ["spot"]},
            "fetchCurrencies": False,
            "fetchMargins": False,
            "adjustForTimeDifference": False,
            "recvWindow": 10000,
            "fetchOpenOrders": {"warnWithoutSymbol": False},
        }
    ),
    rest_sections=_frozen(
        {
            "public": "/api/v3",
            "private": "/api/v3",
            "v1": "/api/v1",
            "sapi": "/sapi/v1",
            "sapiV2": "/sapi/v2",
        }
    ),
    ws_sections=((("spot",), "/ws"), (("ws-api", "spot"), "/ws-api/v3")),
    client_id_param="newClientOrderId",
    lookup_param="origClientOrderId",
    post_only_params=_frozen({"postOnly": True}),
    max_client_id=36,
    used_weight_header="X-MBX-USED-WEIGHT-1M",
    order_count_headers=_frozen(
        {"X-MBX-ORDER-COUNT-10S": 10 * NS_PER_S, "X-MBX-ORDER-COUNT-1D": NS_PER_DAY}
    ),
    fee_method="private_get_account_commission",
    user_stream_ready="ensure_user_data_stream_ws_subscribe_signature",
    # REST order / WS executionReport; REST myTrades / WS executionReport.
    exact_order=_frozen(
        {
            "price": ("price", "p"),
            "amount": ("origQty", "q"),
            "filled": ("executedQty", "z"),
            "status": ("status", "X"),
        }
    ),
    exact_trade=_frozen(
        {
            "price": ("price", "L"),
            "amount": ("qty", "l"),
            "fee": ("commission", "n"),
            "fee_asset": ("commissionAsset", "N"),
        }
    ),
    exact_balance=("balances", "asset", "free", "locked"),
    canceled_client_id=("origClientOrderId", "C"),
    trades_from_id_param="fromId",
    order_limit_markers=("-1015", "Too many new orders"),
    market_data="binance_stream",
    exchange_info_limits=True,
    cancel_replace=True,
    amend_keep_priority=True,
    ws_order_entry=True,
)

#: HTX (Huobi) spot, which lists KGST/USDT too. Untested against a live venue: the entry
#: records what ccxt 4.5's ``htx.py`` reads (``clientOrderId`` on create and fetch, sent as
#: ``client-order-id``, at most 64 characters, unique within 24 h; post-only is
#: ``limit-maker``).
HTX = VenueQuirks(
    exchange_id="htx",
    options=_frozen({"defaultType": "spot", "fetchMarkets": {"types": {"spot": True}}}),
    client_id_param="clientOrderId",
    lookup_param="clientOrderId",
    post_only_params=_frozen({"postOnly": True}),
    max_client_id=64,
)

#: Quirks by ccxt exchange id.
QUIRKS: Mapping[str, VenueQuirks] = MappingProxyType({q.exchange_id: q for q in (BINANCE, HTX)})


def quirks_for(exchange_id: str) -> VenueQuirks:
    """The quirks of ``exchange_id``; a bare default for exchanges without an entry."""
    return QUIRKS.get(exchange_id) or VenueQuirks(exchange_id=exchange_id)


def deep_copy(value: Any) -> Any:
    """A plain-dict/list copy of nested options (ccxt mutates what it is given)."""
    if isinstance(value, Mapping):
        return {k: deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [deep_copy(v) for v in value]
    return value


def point_client_at(
    client: Any, quirks: VenueQuirks, http_url: str, ws_url: str | None = None
) -> Any:
    """Rewrite a ccxt client's REST and WebSocket URLs to other hosts (the simulator).

    Without ``ws_url`` only REST is re-pointed (a plain, non-pro client has no streams).

    Raises:
        ValueError: The quirks do not say how to re-point this exchange.
    """
    if not quirks.rest_sections:
        raise ValueError(f"{quirks.exchange_id}: no URL sections known; cannot re-point it")
    api = client.urls["api"]
    for section, path in quirks.rest_sections.items():
        api[section] = http_url.rstrip("/") + path
    if ws_url is None:
        return client
    for keys, suffix in quirks.ws_sections:
        node = api["ws"]
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = ws_url.rstrip("/") + suffix
    return client
