"""The market spec and the exact conversions between venue decimals and integer ticks and lots.

Inside pegbot every price is an integer number of ticks and every size an integer. Decimal
strings exist only where data crosses a boundary (a venue, a file), and they cross it here.

Two integer size units exist, because real books disagree with today's filters:

* **qty units** (``10**-qty_decimals`` of the base asset, 1e-8 by default as on Binance) hold
  any quantity a venue reports exactly, including levels left on the book by orders placed
  under an older, finer step size. Books and tapes store qty units.
* **lots** (``lot_size`` of the base asset) are what orders are sized in. A lot is a whole
  number of qty units.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    DecimalException,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any

DecimalLike = Decimal | str | int


class Side(enum.IntEnum):
    """Order or book side; the integer value is the sign of a position change."""

    BUY = 1
    SELL = -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class Rounding(enum.Enum):
    """How to bring an off-grid value onto the grid. ``EXACT`` refuses to round."""

    EXACT = "exact"
    DOWN = "down"
    UP = "up"

    @classmethod
    def passive(cls, side: Side) -> Rounding:
        """Rounding that moves a price away from the touch: bids down, asks up."""
        return cls.DOWN if side is Side.BUY else cls.UP

    @classmethod
    def aggressive(cls, side: Side) -> Rounding:
        """Rounding that moves a price toward the touch: bids up, asks down."""
        return cls.UP if side is Side.BUY else cls.DOWN


class MarketError(ValueError):
    """A value does not fit the market's grid or limits."""


class OffGridError(MarketError):
    """A price or size is not a whole number of ticks or lots and no rounding was asked for."""


def to_decimal(value: DecimalLike) -> Decimal:
    """Parse a venue number exactly. Floats are refused: they are not exact."""
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r}: pass a Decimal, str or int")
    try:
        result = Decimal(value)
    except (InvalidOperation, ValueError) as exc:
        raise MarketError(f"not a number: {value!r}") from exc
    if not result.is_finite():
        raise MarketError(f"not a finite number: {value!r}")
    return result


# Division that must be exact: rounding to the context's precision would turn an off-grid or
# absurd number into a plausible one, and an overflow must not escape as a non-ValueError.
_EXACT = Context(prec=64, traps=[Inexact, Overflow, InvalidOperation, DivisionByZero])
_ROUNDED = Context(prec=64, traps=[Overflow, InvalidOperation, DivisionByZero])


def _quantize_units(value: Decimal, unit: Decimal, rounding: Rounding, what: str) -> int:
    try:
        units = (_EXACT if rounding is Rounding.EXACT else _ROUNDED).divide(value, unit)
    except DecimalException as exc:
        raise MarketError(f"{what} {str(value)[:40]} is out of range or too precise") from exc
    whole = units.to_integral_value(ROUND_FLOOR)
    if whole == units:
        return int(whole)
    if rounding is Rounding.EXACT:
        raise OffGridError(f"{what} {value} is not a multiple of {unit}")
    mode = ROUND_FLOOR if rounding is Rounding.DOWN else ROUND_CEILING
    return int(units.to_integral_value(mode))


@dataclass(frozen=True, slots=True)
class Market:
    """One symbol's trading rules.

    Attributes:
        symbol: Unified symbol, ``BASE/QUOTE``.
        base: Base asset code.
        quote: Quote asset code.
        tick_size: Price increment.
        lot_size: Order size increment (``LOT_SIZE.stepSize``).
        min_qty: Smallest order size.
        min_notional: Smallest order value in the quote currency.
        maker_fee: Maker fee as a fraction of value (negative is a rebate).
        taker_fee: Taker fee as a fraction of value.
        qty_decimals: Decimals of the qty unit that books and tapes store quantities in.
        exchange_symbol: The venue's id for the symbol (``KGSTUSDT``).
    """

    symbol: str
    base: str
    quote: str
    tick_size: Decimal
    lot_size: Decimal
    min_qty: Decimal = Decimal(0)
    min_notional: Decimal = Decimal(0)
    maker_fee: Decimal = Decimal("0.001")
    taker_fee: Decimal = Decimal("0.001")
    qty_decimals: int = 8
    exchange_symbol: str = ""

    def __post_init__(self) -> None:
        for name in ("tick_size", "lot_size", "min_qty", "min_notional", "maker_fee", "taker_fee"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                object.__setattr__(self, name, to_decimal(value))
        if self.tick_size <= 0 or self.lot_size <= 0:
            raise MarketError(f"{self.symbol}: tick_size and lot_size must be positive")
        if not 0 <= self.qty_decimals <= 18:
            raise MarketError(f"{self.symbol}: qty_decimals must be within 0..18")
        if (self.lot_size / self.qty_unit) % 1 != 0:
            raise MarketError(
                f"{self.symbol}: lot_size {self.lot_size} is finer than the qty unit "
                f"{self.qty_unit}"
            )
        if not self.exchange_symbol:
            object.__setattr__(self, "exchange_symbol", f"{self.base}{self.quote}")

    # -- sizes of the units -------------------------------------------------------------

    @property
    def qty_unit(self) -> Decimal:
        """The smallest quantity books and tapes hold, as a Decimal."""
        return Decimal(1).scaleb(-self.qty_decimals)

    @property
    def units_per_lot(self) -> int:
        """Qty units in one lot."""
        return int(self.lot_size / self.qty_unit)

    # -- prices ---------------------------------------------------------------------------

    def price_to_ticks(self, price: DecimalLike, rounding: Rounding = Rounding.EXACT) -> int:
        """Convert a price to ticks; off-grid prices raise unless a rounding is given."""
        return _quantize_units(to_decimal(price), self.tick_size, rounding, "price")

    def ticks_to_price(self, ticks: int) -> Decimal:
        """The exact price of a tick count."""
        return (self.tick_size * ticks).normalize() if ticks else Decimal(0)

    def format_price(self, ticks: int) -> str:
        """The price as a plain decimal string (no exponent), as venues expect."""
        return _plain(self.ticks_to_price(ticks))

    # -- sizes ----------------------------------------------------------------------------

    def qty_to_units(self, qty: DecimalLike, rounding: Rounding = Rounding.EXACT) -> int:
        """Convert a quantity to qty units; exact for anything a venue can report."""
        return _quantize_units(to_decimal(qty), self.qty_unit, rounding, "quantity")

    def units_to_qty(self, units: int) -> Decimal:
        """The exact quantity of a count of qty units."""
        return Decimal(units).scaleb(-self.qty_decimals).normalize() if units else Decimal(0)

    def format_qty(self, units: int) -> str:
        """The quantity as a plain decimal string."""
        return _plain(self.units_to_qty(units))

    def qty_to_lots(self, qty: DecimalLike, rounding: Rounding = Rounding.EXACT) -> int:
        """Convert an order size to lots; off-grid sizes raise unless a rounding is given."""
        return _quantize_units(to_decimal(qty), self.lot_size, rounding, "quantity")

    def lots_to_qty(self, lots: int) -> Decimal:
        """The exact quantity of a lot count."""
        return (self.lot_size * lots).normalize() if lots else Decimal(0)

    def lots_to_units(self, lots: int) -> int:
        """Qty units in a lot count."""
        return lots * self.units_per_lot

    def units_to_lots(self, units: int, rounding: Rounding = Rounding.EXACT) -> int:
        """Lots in a count of qty units; off-grid counts raise unless a rounding is given."""
        lots, rest = divmod(units, self.units_per_lot)
        if rest == 0 or rounding is Rounding.DOWN:
            return lots
        if rounding is Rounding.UP:
            return lots + 1
        raise OffGridError(f"{self.units_to_qty(units)} is not a multiple of {self.lot_size}")

    # -- value ----------------------------------------------------------------------------

    def notional(self, ticks: int, units: int) -> Decimal:
        """Exact value in the quote currency of ``units`` at ``ticks``."""
        return self.tick_size * ticks * self.qty_unit * units

    def notional_of_tick_units(self, tick_units: int) -> Decimal:
        """Exact value of a sum of ``ticks * units`` products (as book depth returns)."""
        return self.tick_size * self.qty_unit * tick_units

    def check_order(self, ticks: int, lots: int) -> None:
        """Raise :class:`MarketError` if an order breaks the size or notional filters."""
        if ticks <= 0:
            raise MarketError(f"price must be positive, got {ticks} ticks")
        if lots <= 0:
            raise MarketError(f"size must be positive, got {lots} lots")
        qty = self.lots_to_qty(lots)
        if qty < self.min_qty:
            raise MarketError(f"size {qty} is below the minimum {self.min_qty}")
        value = self.ticks_to_price(ticks) * qty
        if value < self.min_notional:
            raise MarketError(f"notional {value} is below the minimum {self.min_notional}")

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def kgst_usdt(cls) -> Market:
        """The KGST/USDT defaults used by the simulator and tests (real filters are private)."""
        return cls(
            symbol="KGST/USDT",
            base="KGST",
            quote="USDT",
            tick_size=Decimal("0.00001"),
            lot_size=Decimal("1"),
            min_qty=Decimal("1"),
            min_notional=Decimal("1"),
            maker_fee=Decimal("0.001"),
            taker_fee=Decimal("0.001"),
        )

    @classmethod
    def from_exchange_info(
        cls,
        info: Mapping[str, Any],
        maker_fee: DecimalLike = "0.001",
        taker_fee: DecimalLike = "0.001",
    ) -> Market:
        """Build from one ``symbols[]`` entry of Binance ``GET /api/v3/exchangeInfo``."""
        filters = {f["filterType"]: f for f in info.get("filters", [])}
        try:
            price_filter = filters["PRICE_FILTER"]
            lot_filter = filters["LOT_SIZE"]
        except KeyError as exc:
            raise MarketError(f"{info.get('symbol')}: exchangeInfo lacks the {exc} filter") from exc
        notional = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        base, quote = str(info["baseAsset"]), str(info["quoteAsset"])
        return cls(
            symbol=f"{base}/{quote}",
            base=base,
            quote=quote,
            tick_size=to_decimal(price_filter["tickSize"]).normalize(),
            lot_size=to_decimal(lot_filter["stepSize"]).normalize(),
            min_qty=to_decimal(lot_filter.get("minQty", "0")).normalize(),
            min_notional=to_decimal(notional.get("minNotional", "0")).normalize(),
            maker_fee=to_decimal(maker_fee),
            taker_fee=to_decimal(taker_fee),
            exchange_symbol=str(info["symbol"]),
        )

    @classmethod
    def from_ccxt(cls, market: Mapping[str, Any]) -> Market:
        """Build from a ccxt unified market (``exchange.markets[symbol]``).

        The Binance filters in ``market["info"]`` are preferred because they are the exact
        strings; ccxt's ``precision`` numbers are floats.
        """
        maker = _decimal_or(market.get("maker"), "0.001")
        taker = _decimal_or(market.get("taker"), "0.001")
        info = market.get("info") or {}
        if isinstance(info, Mapping) and "filters" in info and "baseAsset" in info:
            built = cls.from_exchange_info(info, maker_fee=maker, taker_fee=taker)
            return dataclasses.replace(built, symbol=str(market["symbol"]))
        precision = market.get("precision") or {}
        limits = market.get("limits") or {}
        if precision.get("price") is None or precision.get("amount") is None:
            raise MarketError(f"{market.get('symbol')}: ccxt market lacks precision")
        return cls(
            symbol=str(market["symbol"]),
            base=str(market["base"]),
            quote=str(market["quote"]),
            tick_size=_decimal_or(precision["price"], "0"),
            lot_size=_decimal_or(precision["amount"], "0"),
            min_qty=_decimal_or((limits.get("amount") or {}).get("min"), "0"),
            min_notional=_decimal_or((limits.get("cost") or {}).get("min"), "0"),
            maker_fee=maker,
            taker_fee=taker,
            exchange_symbol=str(market.get("id") or ""),
        )


def _decimal_or(value: Any, default: str) -> Decimal:
    # ccxt gives floats; repr() of a float is the shortest string that round-trips it.
    if value is None:
        return Decimal(default)
    if isinstance(value, float):
        return Decimal(repr(value)).normalize()
    return to_decimal(value).normalize()


def _plain(value: Decimal) -> str:
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
