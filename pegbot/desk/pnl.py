"""A signal's realised round-trip PnL, from the figures recorded at each step.

Pure: the signal's record, its steps and (when the exchange leg was an order of ours) its
fills in; the round trip out, in the quote currency, exact (:class:`~decimal.Decimal`).

Figures, as exact decimal strings in each step's ``figures`` (see :mod:`pegbot.desk.store`):

========== =================================================================================
step       figures
========== =================================================================================
executed   ``qty`` (base traded), ``price`` (average) or ``quote`` (gross), ``fee`` (quote);
           or ``order``: a client order id whose journaled fills are the exchange leg
requested  ``ref`` (the issuer's reference), ``amount`` (base asked for)
confirmed  ``amount`` (base the issuer accepted), ``fee``, ``transfer``
settled    ``amount`` (base minted or redeemed), ``kgs`` (som paid or received),
           ``quote`` (that som's value in the quote currency, FX and bank costs included),
           ``fee``, ``transfer``
deposited  ``amount``, ``quote``, ``fee``, ``transfer`` (gas, deposit and withdrawal fees)
========== =================================================================================

With ``s = +1`` for a mint and ``-1`` for a redemption::

    pnl = s·(exchange_quote − issuer_quote) − exchange_fee − Σ fee − Σ transfer
          + s·(issuer_base − exchange_base)·fair

The last term marks what the two legs leave unmatched (a partial fill, a mint of a different
size) at the signal's recorded fair value (its journal record, 10 decimal places); a
rebalance has no exchange leg, so its PnL is the mint or redemption's cost against fair.
Nothing is guessed: while a figure is missing the round trip names it in ``missing`` and
has no PnL.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from pegbot.desk.store import Step
from pegbot.execution.venue import Fill
from pegbot.market import Market
from pegbot.peg.signals import SignalKind, SignalState

__all__ = ["ExchangeLeg", "RoundTrip", "decimal_str", "exchange_leg_from_fills", "round_trip"]

_ISSUER_STEPS = (
    SignalState.REQUESTED,
    SignalState.CONFIRMED,
    SignalState.SETTLED,
    SignalState.DEPOSITED,
)


@dataclass(frozen=True, slots=True)
class ExchangeLeg:
    """What the exchange leg traded: base quantity, gross quote and fee (in the quote)."""

    base: Decimal
    quote: Decimal
    fee: Decimal


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """A signal's round trip as far as it is known.

    Attributes:
        signal_id: The signal.
        kind: Its kind.
        state: Its state.
        closed: True once deposited with every figure known.
        pnl: Realised PnL in the quote currency (None while a figure is missing).
        missing: Names of the figures still missing.
        breakdown: Each component as a decimal string (for the journal and reports).
    """

    signal_id: str
    kind: SignalKind
    state: SignalState
    closed: bool
    pnl: Decimal | None
    missing: tuple[str, ...]
    breakdown: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "signal_id": self.signal_id,
            "kind": self.kind.value,
            "state": self.state.value,
            "closed": self.closed,
            "pnl_quote": None if self.pnl is None else _s(self.pnl),
            "missing": list(self.missing),
            "breakdown": dict(self.breakdown),
        }


def exchange_leg_from_fills(fills: Iterable[Fill], client_id: str, market: Market) -> ExchangeLeg:
    """Sum the fills of order ``client_id`` into an exchange leg.

    A fee in the base asset is converted at its fill's price.

    Raises:
        ValueError: No fill of that order, or a fee in an asset other than base or quote
            (its value in the quote currency is not known here).
    """
    base = quote = fee = Decimal(0)
    found = False
    for f in fills:
        if f.client_id != client_id:
            continue
        found = True
        qty = market.units_to_qty(f.qty_units)
        price = market.ticks_to_price(f.price_ticks)
        base += qty
        quote += qty * price
        if f.fee_asset == market.quote or f.fee == 0:
            fee += f.fee
        elif f.fee_asset == market.base:
            fee += f.fee * price
        else:
            raise ValueError(f"order {client_id}: a fee in {f.fee_asset} has no known value")
    if not found:
        raise ValueError(f"no journaled fill of order {client_id}")
    return ExchangeLeg(base, quote, fee)


def round_trip(
    record: dict[str, Any], steps: Sequence[Step], exchange: ExchangeLeg | None = None
) -> RoundTrip:
    """The round trip of one signal (see the module docstring for the formula).

    Args:
        record: The signal's journal record.
        steps: Its recorded steps, in order.
        exchange: The exchange leg when it comes from fills (``order`` figure); None: from
            the ``executed`` step's own figures.

    Returns:
        The round trip; ``pnl`` is None while anything in ``missing``.

    Raises:
        ValueError: A figure that is not an exact decimal number.
    """
    kind = SignalKind(record["kind"])
    state = SignalState(record["state"])
    missing: list[str] = []
    sign = 1 if kind.mints else -1
    zero = Decimal(0)
    if not kind.arbitrage:
        exchange = ExchangeLeg(zero, zero, zero)
    elif exchange is None:
        exchange = _exchange_from_step(steps, missing)
    issuer_base = _last(steps, "amount")
    issuer_quote = _last(steps, "quote")
    fees = sum((_dec(s.figures, "fee") for s in steps if s.state in _ISSUER_STEPS), zero)
    transfer = sum((_dec(s.figures, "transfer") for s in steps if s.state in _ISSUER_STEPS), zero)
    if issuer_base is None:
        missing.append("issuer amount")
    if issuer_quote is None:
        missing.append("issuer quote (the som leg's value)")
    breakdown = {"fees_quote": _s(fees), "transfer_quote": _s(transfer)}
    pnl: Decimal | None = None
    if exchange is not None:
        breakdown.update(
            exchange_base=_s(exchange.base),
            exchange_quote=_s(exchange.quote),
            exchange_fee_quote=_s(exchange.fee),
        )
    if issuer_base is not None:
        breakdown["issuer_base"] = _s(issuer_base)
    if issuer_quote is not None:
        breakdown["issuer_quote"] = _s(issuer_quote)
    if exchange is not None and issuer_base is not None and issuer_quote is not None:
        fair = Decimal(str(record["fair"]))
        residual = issuer_base - exchange.base
        mark = sign * residual * fair
        pnl = sign * (exchange.quote - issuer_quote) - exchange.fee - fees - transfer + mark
        breakdown.update(residual_base=_s(residual), residual_mark_quote=_s(mark), fair=_s(fair))
    if state is not SignalState.DEPOSITED:
        missing.append(f"deposit (state is {state.value})")
    closed = not missing
    return RoundTrip(record["id"], kind, state, closed, pnl, tuple(missing), breakdown)


def _exchange_from_step(steps: Sequence[Step], missing: list[str]) -> ExchangeLeg | None:
    executed = [s for s in steps if s.state is SignalState.EXECUTED]
    if not executed:
        missing.append("exchange leg (no executed step)")
        return None
    f = executed[-1].figures
    if "qty" not in f or ("price" not in f and "quote" not in f):
        missing.append("exchange leg (qty and price, or an order with fills)")
        return None
    qty = _dec(f, "qty")
    quote = _dec(f, "quote") if "quote" in f else qty * _dec(f, "price")
    if "fee" not in f:
        missing.append("exchange fee")
        return None
    return ExchangeLeg(qty, quote, _dec(f, "fee"))


def _last(steps: Sequence[Step], key: str) -> Decimal | None:
    for s in reversed(steps):
        if s.state in _ISSUER_STEPS and key in s.figures:
            return _dec(s.figures, key)
    return None


def _dec(figures: dict[str, str], key: str) -> Decimal:
    raw = figures.get(key, "0")
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ValueError(f"figure {key}={raw!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"figure {key}={raw!r} is not finite")
    return value


def decimal_str(value: Decimal) -> str:
    """An exact decimal as a plain string without trailing zeros (``-0.011``, ``12``)."""
    return format(value.normalize(), "f") if value else "0"


_s = decimal_str
