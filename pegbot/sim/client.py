"""ccxt / ccxt.pro Binance clients pointed at a running simulator (``binance-api.md`` §1).

The options keep ``load_markets`` to a single ``GET /api/v3/exchangeInfo`` (no currencies,
margin pairs or futures markets), and every REST section and both WebSocket URLs are
rewritten to the simulator. Nothing else about ccxt changes: the live code path runs as is.
"""

from __future__ import annotations

from typing import Any

import ccxt
import ccxt.pro as ccxtpro

from pegbot.execution.quirks import BINANCE, deep_copy, point_client_at

from .config import DEMO_API_KEY, DEMO_API_SECRET


def client_options(api_key: str, secret: str) -> dict[str, Any]:
    """The ccxt constructor options for the simulator: Binance's, from the venue quirks table."""
    return {
        "apiKey": api_key,
        "secret": secret,
        "enableRateLimit": True,
        "options": deep_copy(BINANCE.options),
    }


def point_at(exchange: Any, http_url: str, ws_url: str) -> Any:
    """Rewrite a ccxt Binance instance's URLs to ``http_url`` / ``ws_url``; returns it."""
    # A plain (non-pro) client has no WebSocket sections: re-point REST only.
    has_ws = isinstance(exchange.urls["api"].get("ws"), dict)
    return point_client_at(exchange, BINANCE, http_url, ws_url if has_ws else None)


def make_pro_client(
    http_url: str,
    ws_url: str,
    api_key: str = DEMO_API_KEY,
    secret: str = DEMO_API_SECRET,
    **overrides: Any,
) -> ccxtpro.binance:
    """An async ``ccxt.pro.binance`` (REST and WebSocket) talking to the simulator."""
    opts = client_options(api_key, secret)
    opts.update(overrides)
    return point_at(ccxtpro.binance(opts), http_url, ws_url)


def make_rest_client(
    http_url: str, api_key: str = DEMO_API_KEY, secret: str = DEMO_API_SECRET, **overrides: Any
) -> ccxt.binance:
    """A synchronous ``ccxt.binance`` talking to the simulator's REST API."""
    opts = client_options(api_key, secret)
    opts.update(overrides)
    return point_at(ccxt.binance(opts), http_url, http_url.replace("http", "ws", 1))
