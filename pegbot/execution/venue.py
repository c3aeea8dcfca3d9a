"""The ``Venue`` contract: where orders go and where their fate comes from.

One protocol, several implementations; paper trading is a venue of its own, never an
``if paper:`` inside the live one:

* ``CcxtVenue`` — Binance live, testnet and the simulator, and any ccxt exchange with the
  calls pegbot needs; venue quirks are data, not branches;
* ``PaperVenue`` — simulated fills against the live book (``pegbot.matching``);
* ``DryRunVenue`` — logs what it would send, sends nothing;
* the backtester's venue (latency + queue-position fills).

Everything crossing this boundary is in integer ticks and qty units of :attr:`Venue.market`;
fees stay Decimal because they are money in some asset, not a size on our grid. Time is int
ns UTC. Errors are the typed hierarchy of :mod:`pegbot.execution.errors`.

The protocol's members, all required (a venue without a behaviour says so in its
:class:`VenueCapabilities` or implements the member as a no-op):

=====================  ==================================================================
member                 what the shell relies on
=====================  ==================================================================
``name``, ``market``   venue name; the symbol's filters and fees (after ``start``)
``capabilities``       what the venue can do beyond plain limit orders (data, not probing)
``budget``             the rate budget the venue feeds from the exchange's limits and
                       replies (None: the venue has no request limits)
``stream_connected``   the user-data stream is up (venues without one: always True)
``start``, ``close``   connect / load the market; close connections (never cancels)
``place``              limit order, idempotent by client id; ``time_in_force`` one of
                       ``capabilities.time_in_force``
``cancel``,            one order; every order of ours, confirmed with an open-orders
``cancel_all``         fetch
``replace``            cancel one order and place its successor in one atomic request
                       (``capabilities.replace``; others raise ``InvalidOrderError``)
``amend``              reduce an order keeping its queue position (``capabilities.amend``)
``open_orders``,       snapshots for recovery (``balances`` says as of which venue time,
``fills_since``,       so a fill is counted once whether it arrives before or after them)
``balances``,
``lookup``             one order's state by client id (recovery of final states)
``events``             order updates and fills as the venue pushes them
``on_book``,           the live market, for venues that fill against it (paper); the
``on_trade``           others do nothing
=====================  ==================================================================

What the bot relies on:

* ``place`` is idempotent by ``client_id``: if a placement's outcome is unknown (time-out,
  5xx), the venue looks the client id up before anything is sent again;
* ``events()`` yields every order update and fill exactly once per connection, in venue order;
  after a reconnect the bot recovers what it may have missed with ``open_orders`` and
  ``fills_since``, and the journal drops duplicates by ``(venue, trade_id)``;
* ``cancel_all`` returns only after the venue confirms, with an open-orders fetch, that no
  order of ours for the symbol is left.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from pegbot.execution.errors import VenueError
from pegbot.market import Market, Side

if TYPE_CHECKING:
    from pegbot.book import OrderBook
    from pegbot.execution.budget import RateBudget
    from pegbot.feeds.model import Trade


class OrderState(enum.Enum):
    """An order's state as the venue reports it."""

    NEW = "new"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def is_open(self) -> bool:
        """Still resting on the book."""
        return self in (OrderState.NEW, OrderState.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """The venue's view of one order after a change (ack, fill, cancel, reject).

    Attributes:
        client_id: Our client order id.
        order_id: The venue's id ("" if the venue never accepted it).
        side: Buy or sell.
        price_ticks: Limit price.
        qty_units: Original quantity.
        filled_units: Cumulative filled quantity.
        state: Venue state after the change.
        ts_ns: Venue time of the change.
        reason: Why it was rejected or expired, if it was.
    """

    client_id: str
    order_id: str
    side: Side
    price_ticks: int
    qty_units: int
    filled_units: int
    state: OrderState
    ts_ns: int
    reason: str = ""

    @property
    def remaining_units(self) -> int:
        """Quantity still open (0 once the order is done)."""
        return self.qty_units - self.filled_units if self.state.is_open else 0


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders.

    Attributes:
        venue: Venue name.
        symbol: Unified symbol.
        trade_id: The venue's trade id; ``(venue, symbol, trade_id)`` is unique.
        client_id: Our client order id.
        order_id: The venue's order id.
        side: Our side.
        price_ticks: Execution price.
        qty_units: Executed quantity.
        fee: Fee charged, in ``fee_asset``.
        fee_asset: Asset the fee was charged in.
        maker: True if our order was resting (maker), False if it took.
        ts_ns: Venue time of the execution.
    """

    venue: str
    symbol: str
    trade_id: str
    client_id: str
    order_id: str
    side: Side
    price_ticks: int
    qty_units: int
    fee: Decimal
    fee_asset: str
    maker: bool
    ts_ns: int


@dataclass(frozen=True, slots=True)
class Balance:
    """One asset's balance."""

    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        """Free plus locked."""
        return self.free + self.locked


class Balances(dict[str, Balance]):
    """Balances by asset as the venue reported them at one moment.

    A fill is in them when it happened at or before :attr:`as_of_ns` (Binance: the account's
    ``updateTime``, the venue time of its newest change); a later one is not. That rule is
    what lets the bot count each fill once, whatever arrives first: the balances, the
    stream's fill, or the fills recovered after a restart.

    Attributes:
        as_of_ns: Venue time of the newest change included (None: the venue does not say).
    """

    def __init__(
        self,
        rows: Mapping[str, Balance] | Iterable[tuple[str, Balance]] = (),
        as_of_ns: int | None = None,
    ) -> None:
        """Balances ``rows`` as of ``as_of_ns``."""
        super().__init__(rows)
        self.as_of_ns = as_of_ns


VenueEvent = OrderUpdate | Fill


@dataclass(frozen=True, slots=True)
class ReplaceResult:
    """What a cancel-replace did, half by half (the new order goes out only if the cancel did).

    Attributes:
        canceled: The old order after its cancel (None when the cancel failed).
        placed: The new order (None when it was not placed).
        cancel_error: Why the cancel failed (the new order was then not attempted).
        place_error: Why the new order failed after the old one was cancelled.
    """

    canceled: OrderUpdate | None
    placed: OrderUpdate | None
    cancel_error: VenueError | None = None
    place_error: VenueError | None = None


@dataclass(frozen=True, slots=True)
class VenueCapabilities:
    """What a venue can do beyond resting limit orders; the shell reads this, never probes.

    Attributes:
        time_in_force: Times in force ``place`` accepts besides post-only (``GTC``; ``IOC``
            for auto-execution's taking order).
        user_stream: The venue pushes order and fill events over a connection whose state
            matters (``stream_connected`` then says whether it is up).
        replace: ``replace`` moves an order atomically (cancel, then place only if the
            cancel succeeded, in one request); without it the reconciler cancels and places.
        amend: ``amend`` reduces an order keeping its queue position.
    """

    time_in_force: frozenset[str] = frozenset({"GTC"})
    user_stream: bool = False
    replace: bool = False
    amend: bool = False


@runtime_checkable
class Venue(Protocol):
    """Where the bot's orders go. See the module docstring for the guarantees."""

    name: str
    capabilities: VenueCapabilities

    @property
    def market(self) -> Market:
        """The symbol's market spec (valid after :meth:`start`)."""
        ...

    @property
    def budget(self) -> RateBudget | None:
        """The rate budget the venue keeps from the exchange's limits (None: no limits)."""
        ...

    @property
    def stream_connected(self) -> bool:
        """The user-data stream is up (always True for a venue without one)."""
        ...

    async def start(self) -> Market:
        """Connect, load the market's filters and fees, start the user-data stream."""
        ...

    async def place(
        self,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
        time_in_force: str | None = None,
    ) -> OrderUpdate:
        """Place a limit order (LIMIT_MAKER when ``post_only``); idempotent by ``client_id``.

        ``time_in_force`` (not with ``post_only``) is one of ``capabilities.time_in_force``;
        None is the venue's default (GTC).
        """
        ...

    async def cancel(self, client_id: str) -> OrderUpdate:
        """Cancel one order by client id.

        Raises:
            OrderNotFoundError: The venue has no such open order (filled or already gone).
        """
        ...

    async def replace(
        self,
        cancel_client_id: str,
        side: Side,
        price_ticks: int,
        lots: int,
        client_id: str,
        post_only: bool = True,
    ) -> ReplaceResult:
        """Cancel ``cancel_client_id`` and, only if that succeeded, place the new order.

        Each half's failure is in the result; an exception means the outcome of both is
        unknown (``outcome_unknown``) or the request never left (a refused budget, a ban).
        """
        ...

    async def amend(self, client_id: str, lots: int) -> OrderUpdate:
        """Reduce an order to ``lots`` *remaining*, keeping its place in the queue.

        (Binance's ``newQty`` is the new total; the venue adds what already filled.)

        Raises:
            OrderNotFoundError: The order is no longer open.
        """
        ...

    async def cancel_all(self, timeout_s: float | None = None) -> list[OrderUpdate]:
        """Cancel every open order of ours on the symbol and confirm none is left.

        ``timeout_s`` bounds the whole call: past it the venue raises
        :class:`~pegbot.execution.errors.DeadlineError` rather than keep waiting.
        """
        ...

    async def open_orders(self) -> list[OrderUpdate]:
        """Every open order on the symbol (ours and any other of the account)."""
        ...

    async def fills_since(self, since_ns: int) -> list[Fill]:
        """Our fills from ``since_ns`` on (for recovery after a restart or reconnect)."""
        ...

    async def balances(self) -> Balances:
        """Balances of the account, by asset, and as of which venue time."""
        ...

    async def lookup(self, client_id: str) -> OrderUpdate | None:
        """The venue's current view of one of our orders (None: the venue does not know it).

        Raises:
            OutcomeUnknownError: The venue could not be asked.
        """
        ...

    def events(self) -> AsyncIterator[VenueEvent]:
        """Order updates and fills as the venue pushes them."""
        ...

    async def close(self) -> None:
        """Close connections; does not cancel orders (the bot decides that)."""
        ...

    def on_book(self, book: OrderBook, ts_ns: int) -> Sequence[Fill]:
        """The feed's book after a change; returns fills it caused (also sent as events)."""
        ...

    def on_trade(self, trade: Trade) -> Sequence[Fill]:
        """A public trade from the feed; returns fills it caused (also sent as events)."""
        ...
