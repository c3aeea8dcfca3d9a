"""What the simulated exchange's engine trades in: requests, orders, fills and events.

Plain data: prices in ticks, sizes in qty units, money in amount units (1e-18), time in ns.
"""

from __future__ import annotations

from dataclasses import dataclass

from pegbot.market import Side

LIMIT, LIMIT_MAKER, MARKET = "LIMIT", "LIMIT_MAKER", "MARKET"
GTC, IOC, FOK = "GTC", "IOC", "FOK"
NEW, PARTIALLY_FILLED, FILLED = "NEW", "PARTIALLY_FILLED", "FILLED"
CANCELED, REJECTED, EXPIRED = "CANCELED", "REJECTED", "EXPIRED"
TRADING, HALT = "TRADING", "HALT"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})
ORDER_TYPES = (LIMIT, LIMIT_MAKER, MARKET)


@dataclass(frozen=True, slots=True)
class NewOrder:
    """A validated new-order request (exchange symbol, ticks, qty units, amount units)."""

    symbol: str
    side: Side
    type: str
    units: int = 0
    price: int = 0
    tif: str = GTC
    quote_amount: int = 0
    client_order_id: str = ""


@dataclass(slots=True)
class Order:
    """An order as the exchange keeps it. ``locked`` is what it still holds locked."""

    order_id: int
    client_order_id: str
    api_key: str
    symbol: str
    side: Side
    type: str
    tif: str
    price: int
    orig_units: int
    quote_amount: int
    time_ns: int
    executed_units: int = 0
    cum_quote: int = 0
    status: str = NEW
    update_ns: int = 0
    working_ns: int = -1
    locked: int = 0

    @property
    def remaining(self) -> int:
        """Unfilled qty units."""
        return self.orig_units - self.executed_units

    @property
    def is_open(self) -> bool:
        """On the book (NEW or PARTIALLY_FILLED)."""
        return self.status in OPEN_STATUSES


@dataclass(frozen=True, slots=True)
class AccountTrade:
    """One fill from one account's side (``myTrades`` row)."""

    symbol: str
    trade_id: int
    order_id: int
    price: int
    units: int
    quote: int
    commission: int
    commission_asset: str
    time_ns: int
    is_buyer: bool
    is_maker: bool


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A change to one order, for the user data stream."""

    api_key: str
    order: Order
    exec_type: str
    time_ns: int
    last_units: int = 0
    last_price: int = 0
    last_quote: int = 0
    commission: int = 0
    commission_asset: str = ""
    trade_id: int = -1
    is_maker: bool = False
    orig_client_order_id: str = ""


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """Balances of the assets an operation touched: ``(asset, free, locked)``."""

    api_key: str
    time_ns: int
    balances: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class PublicTrade:
    """A trade on the public tape; ``buyer_is_maker`` is Binance's ``m``."""

    symbol: str
    trade_id: int
    price: int
    units: int
    buyer_is_maker: bool
    time_ns: int


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """Changed public levels with absolute quantities; update ids ``first..last``."""

    symbol: str
    first_id: int
    last_id: int
    bids: tuple[tuple[int, int], ...]
    asks: tuple[tuple[int, int], ...]
    time_ns: int


@dataclass(frozen=True, slots=True)
class BookTicker:
    """Best bid and ask (tick, units; 0 when empty) after update ``update_id``."""

    symbol: str
    update_id: int
    bid: int
    bid_units: int
    ask: int
    ask_units: int
    time_ns: int


Event = ExecutionReport | AccountUpdate | PublicTrade | DepthUpdate | BookTicker
