"""The ledger: holdings per venue and in total, realised PnL at average cost, PnL at fair.

Exact throughout: quantities and money are :class:`fractions.Fraction` (a fill's price and
size come in as integer ticks and qty units, fees as Decimal); no float ever enters.

Accounting rules, stated once:

* **Average cost.** Adding to a position (or opening one) moves the average cost to the
  size-weighted mean; reducing it realises ``(price - average) × size`` (sign-adjusted for a
  short) and leaves the average unchanged; crossing through zero closes the old position
  and opens the rest at the fill price.
* **Bounded size.** The average cost is kept on a 1e-18 grid; the rounding residual (at
  most 5e-19 × position per fill) is booked to realised PnL, so the identity below stays
  exact while the numbers stay small.
* **Fees in the quote currency** are paid from the quote balance and counted in ``fees``.
* **Fees in the base asset** (Binance takes a buyer's commission from the KGST received) are
  a disposal of that much base at the fill price — realising ``(price - average) × fee`` —
  and a fee of ``price × fee`` in quote; the quote balance does not move.
* **Fees in a third asset** (BNB) are converted with a rate given to the ledger; an unknown
  rate is an error before anything is applied, never a guess.
* ``total = realised + unrealised − fees``, with ``unrealised = position × (fair − average)``.
  This equals the change of equity (``quote + base × fair``) since the start, when the
  starting inventory is valued at its ``cost_price``.

Fills are applied once: a second fill with the same ``(venue, symbol, trade_id)`` is ignored,
so replaying the journal and recovered fills after a restart is safe. The ledger remembers the
newest :data:`DEDUP_MEMORY` trade ids per venue (a set of every id would grow for as long as
the bot runs); a fill it no longer remembers and not newer than the forgotten ones cannot be
told from a duplicate and is refused with :class:`LedgerError`, never counted twice.

**Starting balances are a snapshot, not a blank.** A venue starts from the balances the
exchange reported as of some venue time (:meth:`Ledger.set_balances` ``as_of_ns``): a fill at
or before it is already in them and is not applied again, whether it arrives before or after
the snapshot (a restart fetches balances that already hold the fills made while the bot was
down, then recovers those fills). :meth:`Ledger.check` compares the ledger with a later
snapshot, leaving out the fills it applied after that snapshot's time, and
:meth:`Ledger.resync` makes the ledger agree with one (a deposit, a withdrawal, a fill that
never reached the bot): the difference is returned for the caller to log and alert on.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from pegbot.execution.venue import Fill
from pegbot.market import Market, Side

__all__ = ["DEDUP_MEMORY", "Holdings", "Ledger", "LedgerError", "PnL"]

Number = Fraction | Decimal | int
#: Resolution of the average cost, in quote currency per base unit.
_AVERAGE_GRID = 10**18
#: Trade ids remembered per venue to ignore repeats. Repeats come from stream replays and the
#: recovery fetch, which looks a minute back: 20,000 fills is over an hour at the load test's
#: 4 fills/s (months at KGST's real pace), about 3 MB at most.
DEDUP_MEMORY = 20_000


class LedgerError(ValueError):
    """A fill or setting the ledger cannot account for exactly."""


def _frac(value: Number) -> Fraction:
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r}: not exact")
    return Fraction(value)


@dataclass(frozen=True, slots=True)
class Holdings:
    """Balances the ledger holds for one venue (or all).

    Attributes:
        base: Base asset balance (the position).
        quote: Quote currency balance.
    """

    base: Fraction
    quote: Fraction


@dataclass(frozen=True, slots=True)
class PnL:
    """PnL of one venue (or ``total``) marked at ``fair``; all in the quote currency.

    Attributes:
        venue: Venue name, or ``total``.
        fair: The fair price used for marking.
        base: Base balance.
        quote: Quote balance.
        average_cost: Average cost of the position (0 when flat).
        realised: Realised PnL (gross of fees).
        unrealised: ``base × (fair − average_cost)``.
        fees: Fees paid, in quote (negative for net rebates).
        total: ``realised + unrealised − fees``.
        fills: Fills applied.
    """

    venue: str
    fair: Fraction
    base: Fraction
    quote: Fraction
    average_cost: Fraction
    realised: Fraction
    unrealised: Fraction
    fees: Fraction
    total: Fraction
    fills: int

    def journal_values(self) -> dict[str, Fraction]:
        """The fields :meth:`pegbot.journal.Journal.record_pnl` stores."""
        return {
            "fair": self.fair,
            "base": self.base,
            "quote": self.quote,
            "realised": self.realised,
            "unrealised": self.unrealised,
            "fees": self.fees,
            "total": self.total,
        }


@dataclass
class _Account:
    position: Fraction = Fraction(0)
    average: Fraction = Fraction(0)
    quote: Fraction = Fraction(0)
    realised: Fraction = Fraction(0)
    fees: Fraction = Fraction(0)
    fills: int = 0
    other: dict[str, Fraction] = field(default_factory=dict)
    # Fills at or before this venue time are in the starting (or re-synced) balances.
    as_of_ns: int = -1
    # (venue time, base change, quote change) of the fills applied, newest last (bounded).
    moves: deque[tuple[int, Fraction, Fraction]] = field(default_factory=deque)

    def trade(self, delta: Fraction, price: Fraction) -> None:
        """Move the position by ``delta`` base at ``price`` (average cost rules)."""
        p = self.position
        if delta == 0:
            return
        if p == 0 or (p > 0) == (delta > 0):
            exact = (abs(p) * self.average + abs(delta) * price) / (abs(p) + abs(delta))
            self.position = p + delta
            # The exact mean's denominator would grow with every fill (after a day of fills
            # it no longer prints); keep it on a 1e-18 grid and book the residual to realised,
            # so realised - position × average, hence total PnL, stays exact.
            self.average = Fraction(round(exact * _AVERAGE_GRID), _AVERAGE_GRID)
            self.realised += self.position * (self.average - exact)
            return
        closing = min(abs(delta), abs(p))
        self.realised += (price - self.average) * closing * (1 if p > 0 else -1)
        self.position = p + delta
        if self.position == 0:
            self.average = Fraction(0)
        elif (self.position > 0) != (p > 0):
            self.average = price  # crossed zero: the rest opened at this price


class Ledger:
    """Holdings and PnL of one symbol across venues.

    Attributes:
        market: The symbol's market (tick and qty units, asset names).
        rates: Prices in the quote currency of third assets that fees are paid in.
    """

    def __init__(
        self,
        market: Market,
        rates: Mapping[str, Number] | None = None,
        dedup_memory: int = DEDUP_MEMORY,
    ) -> None:
        """Start empty; set starting balances with :meth:`set_balances`.

        Args:
            market: The symbol's market.
            rates: Prices in quote of third assets that fees are paid in.
            dedup_memory: Trade ids remembered per venue (see the module docstring).
        """
        if dedup_memory < 1:
            raise ValueError("dedup_memory must be at least 1")
        self.market = market
        self.rates: dict[str, Fraction] = {k: _frac(v) for k, v in (rates or {}).items()}
        self._accounts: dict[str, _Account] = {}
        self._dedup_memory = dedup_memory
        # Per venue: trade id -> venue time, oldest first (bounded, see DEDUP_MEMORY), and the
        # newest venue time among the ids forgotten (-1: none forgotten yet).
        self._seen: dict[str, OrderedDict[str, int]] = {}
        self._forgotten_ns: dict[str, int] = {}

    def set_rate(self, asset: str, price: Number) -> None:
        """Set the quote price of a fee asset (e.g. BNB)."""
        self.rates[asset] = _frac(price)

    def set_balances(
        self,
        venue: str,
        base: Number,
        quote: Number,
        cost_price: Number | None = None,
        as_of_ns: int | None = None,
    ) -> None:
        """Start a venue with balances; a base position needs the price it is valued at.

        Args:
            venue: The venue.
            base: Base balance.
            quote: Quote balance.
            cost_price: What a non-zero base is valued at (its average cost from here on).
            as_of_ns: Venue time of the balances: fills at or before it are in them and are
                never applied (None: every fill applied from now on is new to them).

        Raises:
            LedgerError: A non-zero base without ``cost_price``, or the venue already traded.
        """
        acct = self._accounts.get(venue)
        if acct is not None and acct.fills:
            raise LedgerError(f"{venue}: balances are set before any fill")
        b = _frac(base)
        if b != 0 and cost_price is None:
            raise LedgerError(f"{venue}: a starting base balance needs its cost_price")
        self._accounts[venue] = _Account(
            position=b,
            average=_frac(cost_price) if b != 0 and cost_price is not None else Fraction(0),
            quote=_frac(quote),
            as_of_ns=-1 if as_of_ns is None else as_of_ns,
            moves=deque(maxlen=self._dedup_memory),
        )

    @property
    def venues(self) -> list[str]:
        """Venues the ledger knows, in order of appearance."""
        return list(self._accounts)

    def apply(self, fill: Fill) -> bool:
        """Account for one fill; False if it was applied before or is in the balances already.

        Raises:
            LedgerError: The fill's symbol is not this ledger's, its fee asset has no rate, or
                it is older than the trade ids the ledger still remembers (it may be a repeat).
        """
        m = self.market
        if fill.symbol != m.symbol:
            raise LedgerError(f"fill {fill.trade_id} is {fill.symbol}, ledger is {m.symbol}")
        seen = self._seen.get(fill.venue)
        if seen is not None and fill.trade_id in seen:
            return False
        known = self._accounts.get(fill.venue)
        if known is not None and fill.ts_ns <= known.as_of_ns:
            return False  # the venue's balances the ledger started from hold it already
        if fill.ts_ns <= self._forgotten_ns.get(fill.venue, -1):
            raise LedgerError(
                f"fill {fill.trade_id} at {fill.ts_ns} ns is older than the trade ids the ledger "
                f"remembers (last {self._dedup_memory}): it may be a repeat, not applied"
            )
        fee = _frac(fill.fee)
        if fee and fill.fee_asset not in (m.base, m.quote) and fill.fee_asset not in self.rates:
            raise LedgerError(
                f"fill {fill.trade_id}: fee in {fill.fee_asset} and no {fill.fee_asset} rate"
            )
        if fill.qty_units <= 0 or fill.price_ticks <= 0:
            raise LedgerError(f"fill {fill.trade_id}: non-positive price or quantity")
        acct = self._accounts.get(fill.venue)
        if acct is None:
            acct = self._accounts[fill.venue] = _Account(moves=deque(maxlen=self._dedup_memory))
        base0, quote0 = acct.position, acct.quote
        price = Fraction(m.tick_size) * fill.price_ticks
        qty = Fraction(m.qty_unit) * fill.qty_units
        if fill.side is Side.BUY:
            acct.quote -= price * qty
            acct.trade(qty, price)
        else:
            acct.quote += price * qty
            acct.trade(-qty, price)
        if fee:
            if fill.fee_asset == m.quote:
                acct.quote -= fee
                acct.fees += fee
            elif fill.fee_asset == m.base:
                acct.trade(-fee, price)
                acct.fees += fee * price
            else:
                acct.other[fill.fee_asset] = acct.other.get(fill.fee_asset, Fraction(0)) - fee
                acct.fees += fee * self.rates[fill.fee_asset]
        acct.fills += 1
        acct.moves.append((fill.ts_ns, acct.position - base0, acct.quote - quote0))
        self._remember(fill)
        return True

    def as_of(self, venue: str) -> int:
        """Venue time up to which ``venue``'s fills are in its starting or re-synced balances."""
        acct = self._accounts.get(venue)
        return acct.as_of_ns if acct is not None else -1

    def holdings_at(self, venue: str, as_of_ns: int) -> Holdings | None:
        """``venue``'s holdings without the fills applied after ``as_of_ns`` (venue time).

        What the venue's balances as of ``as_of_ns`` should be. None when the ledger no longer
        remembers every fill applied after it (more than its memory since then).
        """
        acct = self._accounts.get(venue)
        if acct is None:
            return None
        base, quote = acct.position, acct.quote
        moves = acct.moves
        for ts, db, dq in reversed(moves):
            if ts <= as_of_ns:
                return Holdings(base, quote)
            base, quote = base - db, quote - dq
        if moves.maxlen is not None and len(moves) == moves.maxlen:
            return None  # the oldest remembered is still newer: older ones may be forgotten
        return Holdings(base, quote)

    def check(self, venue: str, base: Number, quote: Number, as_of_ns: int) -> Holdings | None:
        """Venue balances as of ``as_of_ns`` minus what the ledger holds for that time.

        Returns:
            The difference (zero when they agree), or None if it cannot be told (see
            :meth:`holdings_at`).
        """
        held = self.holdings_at(venue, as_of_ns)
        if held is None:
            return None
        return Holdings(_frac(base) - held.base, _frac(quote) - held.quote)

    def resync(
        self, venue: str, base: Number, quote: Number, as_of_ns: int, cost_price: Number
    ) -> Holdings:
        """Make ``venue`` agree with its balances as of ``as_of_ns``; returns what changed.

        The base difference moves the position at its average cost (at ``cost_price`` when it
        opens one), so it is neither a gain nor a loss; the quote difference moves the quote
        balance. Fills at or before ``as_of_ns`` are in the balances from now on.

        Raises:
            LedgerError: The difference cannot be told (:meth:`holdings_at` is None).
        """
        diff = self.check(venue, base, quote, as_of_ns)
        if diff is None:
            raise LedgerError(f"{venue}: too many fills since {as_of_ns} to re-sync exactly")
        acct = self._accounts[venue]
        if acct.position == 0 or (acct.position + diff.base) * acct.position <= 0:
            acct.average = _frac(cost_price) if acct.position + diff.base != 0 else Fraction(0)
        acct.position += diff.base
        acct.quote += diff.quote
        acct.as_of_ns = max(acct.as_of_ns, as_of_ns)
        return diff

    def _remember(self, fill: Fill) -> None:
        seen = self._seen.setdefault(fill.venue, OrderedDict())
        seen[fill.trade_id] = fill.ts_ns
        if len(seen) > self._dedup_memory:
            _, ts = seen.popitem(last=False)
            venue = fill.venue
            self._forgotten_ns[venue] = max(self._forgotten_ns.get(venue, -1), ts)

    def apply_all(self, fills: Iterable[Fill]) -> int:
        """Apply fills in order; returns how many were new."""
        return sum(self.apply(f) for f in fills)

    def holdings(self, venue: str | None = None) -> Holdings:
        """Balances of one venue, or summed over all venues."""
        accts = self._select(venue)
        return Holdings(
            base=sum((a.position for a in accts), Fraction(0)),
            quote=sum((a.quote for a in accts), Fraction(0)),
        )

    def fee_asset_balance(self, asset: str, venue: str | None = None) -> Fraction:
        """Change of a third asset's balance through fees paid in it."""
        return sum((a.other.get(asset, Fraction(0)) for a in self._select(venue)), Fraction(0))

    def pnl(self, fair: Number, venue: str | None = None) -> PnL:
        """PnL marked at ``fair`` for one venue, or the total over venues."""
        f = _frac(fair)
        accts = self._select(venue)
        base = sum((a.position for a in accts), Fraction(0))
        realised = sum((a.realised for a in accts), Fraction(0))
        fees = sum((a.fees for a in accts), Fraction(0))
        unrealised = sum((a.position * (f - a.average) for a in accts), Fraction(0))
        cost = sum((a.position * a.average for a in accts), Fraction(0))
        return PnL(
            venue=venue or "total",
            fair=f,
            base=base,
            quote=sum((a.quote for a in accts), Fraction(0)),
            average_cost=cost / base if base else Fraction(0),
            realised=realised,
            unrealised=unrealised,
            fees=fees,
            total=realised + unrealised - fees,
            fills=sum(a.fills for a in accts),
        )

    def _select(self, venue: str | None) -> list[_Account]:
        if venue is None:
            return list(self._accounts.values())
        acct = self._accounts.get(venue)
        return [acct] if acct is not None else []
