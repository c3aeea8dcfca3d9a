"""What the simulated exchange's engine trades in: requests, orders, fills and events.

Plain data: prices in ticks, sizes in qty units, money in amount units (1e-18), time in ns.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pegbot.market import Market, Side

LIMIT, LIMIT_MAKER, MARKET = "LIMIT", "LIMIT_MAKER", "MARKET"
GTC, IOC, FOK = "GTC", "IOC", "FOK"
NEW, PARTIALLY_FILLED, FILLED = "NEW", "PARTIALLY_FILLED", "FILLED"
CANCELED, REJECTED, EXPIRED = "CANCELED", "REJECTED", "EXPIRED"
TRADING, HALT = "TRADING", "HALT"
OPEN_STATUSES = frozenset({NEW, PARTIALLY_FILLED})
ORDER_TYPES = (LIMIT, LIMIT_MAKER, MARKET)
#: ``cancelRestrictions`` values: the cancel succeeds only from that status.
ONLY_NEW, ONLY_PARTIALLY_FILLED = "ONLY_NEW", "ONLY_PARTIALLY_FILLED"
CANCEL_RESTRICTIONS = {ONLY_NEW: NEW, ONLY_PARTIALLY_FILLED: PARTIALLY_FILLED}
#: Why an order expired (the ``eR`` / ``expiryReason`` field); NONE when none applies.
EXPIRY_NONE = "NONE"
EXPIRY_IOC = "UNFILLED_IOC_QUANTITY_EXPIRED"
EXPIRY_FOK = "UNFILLED_FOK_ORDER_EXPIRED"
EXPIRY_LIQUIDITY = "INSUFFICIENT_LIQUIDITY"


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
    #: The cancel request's own client id once canceled (Binance's ``newClientOrderId`` of
    #: the cancel; the order keeps ``client_order_id`` for queries).
    cancel_client_order_id: str = ""
    #: Successful amendments so far (the ``MAX_NUM_ORDER_AMENDS`` filter).
    amends: int = 0
    #: Why it expired (``eR``), set with status EXPIRED.
    expiry_reason: str = ""

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
    """A change to one order, for the user data stream.

    ``client_order_id`` is the report's ``c`` when it is not the order's own id (a cancel
    reports the cancel request's id there); ``orig_client_order_id`` is its ``C``: the
    canceled order's id on a cancel, "" otherwise (User Data Streams, "Order Update": "This
    is the ID of the order being canceled").
    """

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
    client_order_id: str = ""
    execution_id: int = 0
    reject_reason: str = "NONE"


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


@dataclass
class SymbolBook:
    """One symbol: users' resting orders in price-time priority plus external levels."""

    market: Market
    status: str = TRADING
    orders: dict[int, deque[Order]] = field(default_factory=dict)
    bid_ticks: list[int] = field(default_factory=list)  # ascending; best bid last
    ask_ticks: list[int] = field(default_factory=list)  # ascending; best ask first
    user_bids: dict[int, int] = field(default_factory=dict)
    user_asks: dict[int, int] = field(default_factory=dict)
    ext_bids: dict[int, int] = field(default_factory=dict)
    ext_asks: dict[int, int] = field(default_factory=dict)
    update_id: int = 0
    trade_id: int = 0
    execution_id: int = 0
    changes: dict[tuple[int, int], int] = field(default_factory=dict)
    top: tuple[int, int, int, int] = (0, 0, 0, 0)

    def level(self, side: int, tick: int) -> int:
        """Public quantity at a level: users' orders plus external liquidity."""
        if side > 0:
            return self.user_bids.get(tick, 0) + self.ext_bids.get(tick, 0)
        return self.user_asks.get(tick, 0) + self.ext_asks.get(tick, 0)

    def best_user(self, side: int) -> int | None:
        """Best tick among users' resting orders on ``side``."""
        if side > 0:
            return self.bid_ticks[-1] if self.bid_ticks else None
        return self.ask_ticks[0] if self.ask_ticks else None

    def drain_changes(self, now_ns: int) -> list[DepthUpdate | BookTicker]:
        """The depth diff of the levels changed since the last call, and the new top if moved.

        One depth event per operation; each changed level consumes one update id.
        """
        if not self.changes:
            return []
        bids = tuple((t, q) for (s, t), q in self.changes.items() if s > 0)
        asks = tuple((t, q) for (s, t), q in self.changes.items() if s < 0)
        first = self.update_id + 1
        self.update_id += len(self.changes)
        self.changes = {}
        sym = self.market.exchange_symbol
        out: list[DepthUpdate | BookTicker] = [
            DepthUpdate(sym, first, self.update_id, bids, asks, now_ns)
        ]
        bb = self.public_levels(1, 1)
        ba = self.public_levels(-1, 1)
        top = (*(bb[0] if bb else (0, 0)), *(ba[0] if ba else (0, 0)))
        if top != self.top:
            self.top = top
            out.append(BookTicker(sym, self.update_id, *top, now_ns))
        return out

    def public_levels(self, side: int, limit: int) -> list[tuple[int, int]]:
        """The best ``limit`` public levels of ``side``, best first."""
        user, ext = (self.user_bids, self.ext_bids) if side > 0 else (self.user_asks, self.ext_asks)
        ticks = set(user) | set(ext) if ext else set(user)
        ordered = sorted(ticks, reverse=side > 0)[:limit]
        return [(t, user.get(t, 0) + ext.get(t, 0)) for t in ordered]
