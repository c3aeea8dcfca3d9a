"""The strategy contract: market state in, desired quotes out.

Everything here is synchronous and pure: no I/O and no clock reads. The shell (live bot,
paper, backtest) builds a :class:`MarketState` from what it knows, asks the strategy for
:class:`DesiredQuotes`, passes them through :class:`pegbot.execution.risk.Risk` and lets
:class:`pegbot.execution.reconciler.Reconciler` turn the difference to the live orders into
venue calls. The same objects flow in all three worlds, so a backtest, a property test and
the live bot exercise the very same code.

Prices are integer ticks and sizes integer lots. The fair value is kept as an exact
:class:`~fractions.Fraction` of ticks because the peg rarely sits on the tick grid (1/87.45
USDT is 1143.5… ticks of 1e-5) and rounding it early would bias one side of every ladder.

Strategies may keep a small deterministic state of their own (a volatility estimate): given
the same sequence of states they return the same quotes. The exact tick arithmetic they share
(rounding away from the touch, the band around fair, inventory skew) is in
:mod:`pegbot.quoting`.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import math
import sys
from collections.abc import Mapping
from dataclasses import field
from decimal import Decimal
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any, Final, Protocol, cast, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from pegbot.book import Level
from pegbot.market import Market, Side
from pegbot.peg.fair_state import FAIR_STATES, FairState

# Strategy files import the quoting helpers from this module as well as from pegbot.quoting
# (their home): both are supported.
from pegbot.quoting import (
    band_ticks,
    bps_ticks,
    frac,
    inventory_skew,
    post_only_clamp,
    round_passive,
)
from pegbot.values import value

__all__ = [
    "ALL_INPUTS",
    "BEST_PRICE_INPUTS",
    "FAIR_STATES",
    "BookView",
    "DesiredQuotes",
    "FairState",
    "FairValueLike",
    "FairView",
    "FeedHealth",
    "Input",
    "Inventory",
    "LiveOrder",
    "MarketState",
    "OrderStatus",
    "Quote",
    "Strategy",
    "StrategyError",
    "StrategyParams",
    "adapt_fair",
    "band_ticks",
    "bps_ticks",
    "frac",
    "inventory_skew",
    "load_strategy",
    "post_only_clamp",
    "round_passive",
]


class StrategyError(ValueError):
    """A strategy cannot be loaded, or its parameters are invalid."""


class Input(enum.StrEnum):
    """What a strategy reads from :class:`MarketState` (its :attr:`Strategy.inputs`).

    A shell may skip asking a strategy when none of its inputs changed: a backtest of a
    strategy that reads only ``best_prices`` and ``inventory`` is woken by best-price
    changes and fills, not by every level update.
    """

    BEST_PRICES = "best_prices"  #: best bid and ask prices
    BEST_SIZES = "best_sizes"  #: quantities at the best bid and ask
    DEPTH = "depth"  #: any level of the book beyond the best
    TRADES = "trades"  #: public trades
    FAIR = "fair"  #: the fair value
    INVENTORY = "inventory"  #: holdings and target
    OWN_ORDERS = "own_orders"  #: our live orders
    TIMER = "timer"  #: the clock alone (time-driven decisions)


#: Everything: a strategy that may read any part of the state.
ALL_INPUTS: Final[frozenset[Input]] = frozenset(Input)
#: Best prices, fair, inventory and own orders, with the timer: a top-of-book quoter.
BEST_PRICE_INPUTS: Final[frozenset[Input]] = frozenset(
    {Input.BEST_PRICES, Input.FAIR, Input.INVENTORY, Input.OWN_ORDERS, Input.TIMER}
)


# -- inputs ---------------------------------------------------------------------------------


@value
class FairView:
    """The fair value as the core sees it (the peg's FairValue is adapted into this).

    Attributes:
        price_ticks: Fair price in ticks, exact (usually between two ticks).
        state: ``ok``, ``stale`` (sources too old), ``disputed`` (sources disagree) or
            ``jump`` (the reference moved more than expected); a :class:`FairState`, equal to
            its string (a string given is converted).
        age_ns: Age of the underlying reference when the view was built, as the peg
            measures it (includes the source's own publication lag).
        observed_at_ns: Local time (int ns UTC) the value was last confirmed by a source.
        rebased_at_ns: When the value last re-anchored on a confirmed jump (None: not since
            start). The market needs time to follow an official step; risk reads this.
    """

    price_ticks: Fraction
    state: FairState
    age_ns: int
    observed_at_ns: int
    rebased_at_ns: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.price_ticks, Fraction):
            raise TypeError("price_ticks must be a Fraction; use FairView.make()")
        if self.price_ticks <= 0:
            raise ValueError(f"fair price must be positive, got {self.price_ticks} ticks")
        if type(self.state) is not FairState:
            if self.state not in FAIR_STATES:
                raise ValueError(
                    f"unknown fair state {self.state!r}; expected one of {FAIR_STATES}"
                )
            object.__setattr__(self, "state", FairState(self.state))
        if self.age_ns < 0:
            raise ValueError(f"age_ns must be >= 0, got {self.age_ns}")

    @classmethod
    def make(
        cls,
        price_ticks: int | float | Decimal | Fraction,
        state: str = "ok",
        age_ns: int = 0,
        observed_at_ns: int = 0,
        rebased_at_ns: int | None = None,
    ) -> FairView:
        """Build from any exact or float tick count (a float is taken at its exact value)."""
        if isinstance(price_ticks, float) and not math.isfinite(price_ticks):
            raise ValueError(f"fair price must be finite, got {price_ticks}")
        if state not in FAIR_STATES:
            raise ValueError(f"unknown fair state {state!r}; expected one of {FAIR_STATES}")
        return cls(Fraction(price_ticks), FairState(state), age_ns, observed_at_ns, rebased_at_ns)

    @classmethod
    def from_price(
        cls,
        market: Market,
        price: Decimal | str,
        state: str = "ok",
        age_ns: int = 0,
        observed_at_ns: int = 0,
    ) -> FairView:
        """Build from a price in the quote currency, converted to ticks exactly."""
        ticks = Fraction(Decimal(price)) / Fraction(market.tick_size)
        return cls.make(ticks, state, age_ns, observed_at_ns)


class FairValueLike(Protocol):
    """What :meth:`FairView.adapt` reads from the peg's ``FairValue`` (duck-typed)."""

    @property
    def state(self) -> str:
        """``ok``, ``stale``, ``disputed`` or ``jump``."""

    @property
    def price(self) -> Fraction | None:
        """Exact price in the quote currency, None if unknown."""

    @property
    def observed_at_ns(self) -> int:
        """When the sources last confirmed it."""

    @property
    def age_ns(self) -> int | None:
        """Age of the oldest observation used."""

    @property
    def jump(self) -> JumpLike | None:
        """The last jump, pending or settled (None: none since start)."""


class JumpLike(Protocol):
    """The part of the peg's ``JumpStatus`` the core reads."""

    @property
    def confirmed_at_ns(self) -> int | None:
        """When the jump was confirmed (None while pending or once set aside)."""


def adapt_fair(value: FairValueLike | None, market: Market) -> FairView | None:
    """The peg's fair value as the core sees it; None (quotes pulled) without a price.

    An unknown state raises :class:`ValueError` rather than being guessed at.
    """
    if value is None or value.price is None:
        return None
    ticks = Fraction(value.price) / Fraction(market.tick_size)
    jump = value.jump
    return FairView.make(
        ticks,
        str(value.state),
        max(0, value.age_ns or 0),
        value.observed_at_ns,
        None if jump is None else jump.confirmed_at_ns,
    )


@runtime_checkable
class BookView(Protocol):
    """The read-only part of :class:`pegbot.book.OrderBook` a strategy may use."""

    @property
    def best_bid(self) -> int | None:
        """Best bid tick."""

    @property
    def best_ask(self) -> int | None:
        """Best ask tick."""

    @property
    def best_bid_qty(self) -> int:
        """Quantity at the best bid (qty units)."""

    @property
    def best_ask_qty(self) -> int:
        """Quantity at the best ask (qty units)."""

    @property
    def is_two_sided(self) -> bool:
        """Both sides have a level."""

    @property
    def is_crossed(self) -> bool:
        """Best bid at or above best ask."""

    @property
    def local_ts(self) -> int:
        """Local receive time of the last change (ns)."""

    def mid_ticks(self) -> float | None:
        """Mid price in ticks."""

    def microprice_ticks(self) -> float | None:
        """Size-weighted mid in ticks."""

    def spread_ticks(self) -> int | None:
        """Best ask minus best bid."""

    def top(self, side: int, n: int) -> list[Level]:
        """Best ``n`` levels of a side."""


@value
class Inventory:
    """What the desk holds, aggregated across venues.

    Attributes:
        base_units: Base asset held, in qty units (``10**-qty_decimals``).
        quote_units: Quote asset held, in units of the same decimals as the base.
        target_base_units: The base holding the strategy skews toward.
    """

    base_units: int
    quote_units: int
    target_base_units: int = 0

    @property
    def excess_units(self) -> int:
        """Base held above the target (negative when below)."""
        return self.base_units - self.target_base_units


class OrderStatus(enum.Enum):
    """Where a live order stands, from the bot's side of the wire."""

    PENDING_NEW = "pending_new"  # sent, not yet acknowledged
    OPEN = "open"  # acknowledged and resting
    PENDING_CANCEL = "pending_cancel"  # cancel (or cancel-replace) sent, not yet acknowledged
    PENDING_AMEND = "pending_amend"  # a size reduction in flight: rests at ``lots`` until known


@value
class LiveOrder:
    """One of our orders believed to be on the venue.

    Attributes:
        client_id: Our client order id (``pegbot-<run>-<level>-<n>``).
        level_id: The ladder level it currently serves.
        side: Buy or sell.
        price_ticks: Limit price.
        lots: Remaining (unfilled) size in lots.
        status: See :class:`OrderStatus`.
    """

    client_id: str
    level_id: str
    side: Side
    price_ticks: int
    lots: int
    status: OrderStatus = OrderStatus.OPEN


@value
class FeedHealth:
    """How fresh and trustworthy the inputs are; the shell fills it in.

    Attributes:
        book_ts_ns: Local time the book was last confirmed live (a message, a resync, or a
            REST probe finding a quiet book unchanged).
        book_synced: The book follows the venue's sequence (no gap since the last snapshot).
        ws_connected: The market and user streams are connected.
        rejects_total: Rejected requests since start (monotone; risk measures its rate).
    """

    book_ts_ns: int
    book_synced: bool = True
    ws_connected: bool = True
    rejects_total: int = 0


@value
class MarketState:
    """Everything a strategy and the risk layer may look at, at one instant.

    Attributes:
        now_ns: The decision time (int ns UTC), injected by the shell's clock.
        book: Read-only view of the venue's book.
        fair: The fair value, or None if none is known yet (quotes are then pulled).
        inventory: Holdings and target.
        live_orders: Our orders believed to be on the venue.
        mode: ``dry-run``, ``paper``, ``testnet``, ``live`` or ``backtest``.
        feed: Freshness of the inputs; None means unknown, and risk then pulls quotes.
        market: The book without our own orders (None: ``book`` holds none of ours, as in
            a backtest, whose tape is the market alone). Risk judges the market by it.
    """

    now_ns: int
    book: BookView
    fair: FairView | None
    inventory: Inventory
    live_orders: tuple[LiveOrder, ...] = ()
    mode: str = "backtest"
    feed: FeedHealth | None = None
    market: BookView | None = None

    @property
    def market_book(self) -> BookView:
        """The market without our orders: :attr:`market`, else :attr:`book`."""
        return self.book if self.market is None else self.market


# -- outputs --------------------------------------------------------------------------------


@value
class Quote:
    """One order the strategy wants resting.

    Attributes:
        side: Buy or sell.
        price_ticks: Limit price in ticks.
        lots: Size in lots.
        level_id: Stable name of the ladder slot (``b0``, ``a2``, ``bw``), short and
            ``[A-Za-z0-9]`` only, since it becomes part of the client order id.
    """

    side: Side
    price_ticks: int
    lots: int
    level_id: str

    def __post_init__(self) -> None:
        if self.price_ticks <= 0:
            raise ValueError(f"{self.level_id}: price must be positive, got {self.price_ticks}")
        if self.lots <= 0:
            raise ValueError(f"{self.level_id}: lots must be positive, got {self.lots}")
        if not (self.level_id.isascii() and self.level_id.isalnum() and len(self.level_id) <= 8):
            raise ValueError(f"level_id must be 1-8 ASCII letters/digits, got {self.level_id!r}")


@value
class DesiredQuotes:
    """The full set of quotes wanted now; anything live and not in it is to be cancelled.

    Attributes:
        quotes: The quotes, at most one per level id.
        note: Why the set is what it is (e.g. why it is empty), for logs.
    """

    quotes: tuple[Quote, ...] = ()
    note: str = ""
    _by_level: dict[str, Quote] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_level: dict[str, Quote] = {}
        for q in self.quotes:
            if q.level_id in by_level:
                raise ValueError(f"duplicate level id {q.level_id!r}")
            by_level[q.level_id] = q
        object.__setattr__(self, "_by_level", by_level)

    @property
    def bids(self) -> list[Quote]:
        """Buy quotes, best (highest) first."""
        return sorted((q for q in self.quotes if q.side is Side.BUY), key=lambda q: -q.price_ticks)

    @property
    def asks(self) -> list[Quote]:
        """Sell quotes, best (lowest) first."""
        return sorted((q for q in self.quotes if q.side is Side.SELL), key=lambda q: q.price_ticks)

    @property
    def best_bid(self) -> int | None:
        """Highest bid price, or None."""
        return max((q.price_ticks for q in self.quotes if q.side is Side.BUY), default=None)

    @property
    def best_ask(self) -> int | None:
        """Lowest ask price, or None."""
        return min((q.price_ticks for q in self.quotes if q.side is Side.SELL), default=None)

    def lots(self, side: Side) -> int:
        """Total lots quoted on a side."""
        return sum(q.lots for q in self.quotes if q.side is side)

    def get(self, level_id: str) -> Quote | None:
        """The quote of a level, if any."""
        return self._by_level.get(level_id)

    def __len__(self) -> int:
        return len(self.quotes)


# -- the protocol and its parameters ------------------------------------------------------


class StrategyParams(BaseModel):
    """Base of every strategy's parameters: frozen, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@runtime_checkable
class Strategy(Protocol):
    """A quoting strategy. ``quote`` must not do I/O or read the clock.

    =========  ====================================================================
    member     meaning
    =========  ====================================================================
    ``name``   short name, for logs and results
    ``inputs`` the parts of :class:`MarketState` ``quote`` reads (:class:`Input`);
               :data:`ALL_INPUTS` when in doubt
    ``quote``  the quotes wanted for a state; pure and deterministic
    =========  ====================================================================
    """

    name: str
    inputs: frozenset[Input]

    def quote(self, state: MarketState) -> DesiredQuotes:
        """Return the quotes wanted for ``state``."""
        ...


def load_strategy(spec: str, market: Market, params: Mapping[str, Any] | None = None) -> Strategy:
    """Load a strategy by module name or file path and build it with validated parameters.

    A strategy module defines ``Params`` (a :class:`StrategyParams` subclass) and
    ``build(params, market) -> Strategy``.

    Args:
        spec: ``peg_ladder``, ``strategies.peg_ladder``, or a path to a ``.py`` file.
        market: The market it will quote.
        params: Raw parameters (from TOML); validated against the module's ``Params``.

    Returns:
        The strategy object.

    Raises:
        StrategyError: Unknown module, a module breaking the contract, or invalid
            parameters (the message names each bad field by its path).
    """
    module = _import_strategy_module(spec)
    params_cls = getattr(module, "Params", None)
    build = getattr(module, "build", None)
    if not (isinstance(params_cls, type) and issubclass(params_cls, StrategyParams)):
        raise StrategyError(f"{spec}: module must define Params(StrategyParams)")
    if params_cls.model_config.get("extra") != "forbid":
        raise StrategyError(f"{spec}: Params must forbid unknown keys (extra='forbid')")
    if not callable(build):
        raise StrategyError(f"{spec}: module must define build(params, market)")
    try:
        parsed = params_cls.model_validate(dict(params or {}))
    except ValidationError as exc:
        lines = [
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise StrategyError(f"{spec}: invalid parameters: " + "; ".join(lines)) from exc
    strategy = build(parsed, market)
    missing = [m for m in ("name", "inputs", "quote") if not hasattr(strategy, m)]
    if missing:
        raise StrategyError(
            f"{spec}: build() did not return a Strategy (missing {', '.join(missing)}; "
            "declare inputs = ALL_INPUTS if unsure)"
        )
    inputs = strategy.inputs
    if not (isinstance(inputs, frozenset) and inputs and all(isinstance(i, Input) for i in inputs)):
        raise StrategyError(
            f"{spec}: inputs must be a non-empty frozenset of Input, got {inputs!r}"
        )
    return cast(Strategy, strategy)


def _import_strategy_module(spec: str) -> ModuleType:
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec)
        if not path.is_file():
            raise StrategyError(f"strategy file not found: {spec}")
        name = f"pegbot_user_strategy_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise StrategyError(f"cannot load strategy file {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module  # dataclasses and pydantic look their module up here
        try:
            module_spec.loader.exec_module(module)
        except Exception:
            sys.modules.pop(name, None)
            raise
        return module
    name = spec if spec.startswith("strategies.") else f"strategies.{spec}"
    if not all(part.isidentifier() for part in name.split(".")):
        raise StrategyError(f"not a strategy name: {spec!r}")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            raise StrategyError(f"unknown strategy {spec!r} (no module {name})") from exc
        raise
