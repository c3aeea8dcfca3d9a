"""The small typed error hierarchy of venue replies, each with one bounded ``reason`` label.

Venues speak in codes (Binance ``-2010``) and ccxt turns those into exception classes. The
bot decides on neither: it decides on the classes below, which say what a failure *means*
for the loop (retry later, back off, reconcile because the outcome is unknown, stop quoting,
count toward a reject storm). Every class carries one ``reason`` value from :data:`REASONS`,
the only values the ``reason`` label of the reject metrics may take.

ccxt exceptions are mapped by class *name*, walking the exception's MRO from the most
specific class, so this module does not import ccxt and a subclass ccxt adds later still
maps to its nearest known parent.
"""

from __future__ import annotations

from typing import ClassVar


class VenueError(Exception):
    """A venue call failed.

    Attributes:
        reason: Bounded label value for metrics (one per class).
        retryable: The same request may be sent again after a pause.
        outcome_unknown: The venue may have executed the request anyway; reconcile with the
            venue (open orders, fills) before deciding anything.
        counts_as_reject: The failure counts toward the risk layer's reject storm.
        code: The venue's own error code, if it sent one.
        venue_message: The venue's message, verbatim (for logs, never for labels).
    """

    reason: ClassVar[str] = "unknown"
    retryable: ClassVar[bool] = False
    outcome_unknown: ClassVar[bool] = False
    counts_as_reject: ClassVar[bool] = True

    def __init__(self, message: str = "", code: int | None = None) -> None:
        super().__init__(message or self.reason)
        self.code = code
        self.venue_message = message


class TemporaryError(VenueError):
    """The venue or the network failed for now; retry after a pause."""

    reason = "temporary"
    retryable = True
    counts_as_reject = False


class OutcomeUnknownError(TemporaryError):
    """A timeout or a server error: the request may or may not have been executed."""

    reason = "outcome_unknown"
    outcome_unknown = True


class RateLimitedError(TemporaryError):
    """Too much request weight (HTTP 429, or 418 when banned): back off."""

    reason = "rate_limited"
    counts_as_reject = True


class DeadlineError(OutcomeUnknownError):
    """The caller's deadline came before the request could be sent or confirmed.

    Raised instead of waiting out a rate-limit block (or a retry) that ends after the
    deadline, e.g. the final cancel-all of a shutdown: what it was to do may be undone.
    """

    reason = "deadline"
    counts_as_reject = False


class ClockSkewError(TemporaryError):
    """The request's timestamp fell outside the venue's receive window."""

    reason = "clock_skew"
    counts_as_reject = True


class RejectedError(VenueError):
    """The venue refused the request; sending it again unchanged fails again."""

    reason = "rejected"


class InsufficientFundsError(RejectedError):
    """The account cannot pay for the order."""

    reason = "insufficient_balance"


class WouldTakeError(RejectedError):
    """A post-only order would have crossed the book (Binance ``-2010`` "would match")."""

    reason = "would_take"


class InvalidOrderError(RejectedError):
    """The order breaks a filter (price, lot size, notional) or is malformed."""

    reason = "invalid_order"


class DuplicateOrderError(RejectedError):
    """The client order id is already in use: the earlier request did arrive."""

    reason = "duplicate_order"


class MarketClosedError(RejectedError):
    """The symbol is not trading."""

    reason = "market_closed"


class BadSymbolError(RejectedError):
    """The venue does not know the symbol."""

    reason = "bad_symbol"


class OrderNotFoundError(VenueError):
    """The order is not open (already filled or cancelled): nothing left to cancel."""

    reason = "order_not_found"
    counts_as_reject = False


class AuthError(VenueError):
    """Bad key, signature, IP or permissions: no request of this kind can succeed."""

    reason = "auth"


class UnknownVenueError(VenueError):
    """A failure no rule maps; treated as a reject with an unknown outcome."""

    reason = "unknown"
    outcome_unknown = True


#: Every ``reason`` label value, for initialising metric label sets at start.
REASONS: tuple[str, ...] = tuple(
    sorted(
        {
            cls.reason
            for cls in (
                VenueError,
                TemporaryError,
                OutcomeUnknownError,
                RateLimitedError,
                DeadlineError,
                ClockSkewError,
                RejectedError,
                InsufficientFundsError,
                WouldTakeError,
                InvalidOrderError,
                DuplicateOrderError,
                MarketClosedError,
                BadSymbolError,
                OrderNotFoundError,
                AuthError,
                UnknownVenueError,
            )
        }
    )
)

# ccxt class name -> ours. Order matters only through the MRO walk: the most specific
# class of the raised exception that appears here wins.
_CCXT_CLASSES: dict[str, type[VenueError]] = {
    "OrderImmediatelyFillable": WouldTakeError,
    "DuplicateOrderId": DuplicateOrderError,
    "OrderNotFound": OrderNotFoundError,
    "OrderNotCached": OrderNotFoundError,
    "InvalidOrder": InvalidOrderError,
    "InsufficientFunds": InsufficientFundsError,
    "BadSymbol": BadSymbolError,
    "MarketClosed": MarketClosedError,
    "BadRequest": InvalidOrderError,
    "AuthenticationError": AuthError,
    "DDoSProtection": RateLimitedError,
    "RateLimitExceeded": RateLimitedError,
    "InvalidNonce": ClockSkewError,
    "RequestTimeout": OutcomeUnknownError,
    "ExchangeNotAvailable": OutcomeUnknownError,
    "BadResponse": OutcomeUnknownError,
    "NetworkError": TemporaryError,
    "CancelPending": TemporaryError,
    "OperationFailed": OutcomeUnknownError,
    "OperationRejected": RejectedError,
    "ExchangeError": RejectedError,
}

# Binance spot error codes. -2010 and -1013 carry several meanings that only the message tells
# apart, as ccxt itself does.
_BINANCE_CODES: dict[int, type[VenueError]] = {
    -1003: RateLimitedError,
    -1021: ClockSkewError,
    -1022: AuthError,
    -2014: AuthError,
    -2015: AuthError,
    -1121: BadSymbolError,
    -2011: OrderNotFoundError,
    -2013: OrderNotFoundError,
    -1100: InvalidOrderError,
    -1013: InvalidOrderError,
    -2010: RejectedError,
    -2038: InvalidOrderError,  # an amend refused (an increase, no change, too many amends)
    -1001: OutcomeUnknownError,
}

_MESSAGE_RULES: tuple[tuple[str, type[VenueError]], ...] = (
    ("insufficient balance", InsufficientFundsError),
    ("immediately match and take", WouldTakeError),
    ("duplicate order", DuplicateOrderError),
    ("market is closed", MarketClosedError),
    ("unknown order sent", OrderNotFoundError),
)


_GENERIC: frozenset[type[VenueError]] = frozenset(
    {RejectedError, InvalidOrderError, UnknownVenueError}
)


def _by_message(message: str) -> type[VenueError] | None:
    lowered = message.lower()
    for needle, cls in _MESSAGE_RULES:
        if needle in lowered:
            return cls
    return None


def from_exception(exc: BaseException) -> VenueError:
    """Map any exception raised by a venue call (ccxt or ours) to a :class:`VenueError`.

    Our own errors pass through unchanged. ccxt classes map by name along the MRO; a
    message rule refines a generic match (ccxt raises ``InvalidOrder`` for Binance's
    "Duplicate order sent."). Anything else becomes :class:`UnknownVenueError`.
    """
    if isinstance(exc, VenueError):
        return exc
    message = str(exc)
    for klass in type(exc).__mro__:
        mapped = _CCXT_CLASSES.get(klass.__name__)
        if mapped is None:
            continue
        if mapped in _GENERIC:
            # ccxt's generic classes hide meanings Binance's message still carries
            # ("Duplicate order sent." arrives as a plain InvalidOrder).
            mapped = _by_message(message) or mapped
        error = mapped(message)
        error.__cause__ = exc
        return error
    error = UnknownVenueError(f"{type(exc).__name__}: {message}")
    error.__cause__ = exc
    return error


def from_binance_code(code: int, message: str) -> VenueError:
    """Map a Binance ``{"code", "msg"}`` error body to a :class:`VenueError`."""
    mapped = _BINANCE_CODES.get(code, UnknownVenueError)
    if mapped in _GENERIC:
        mapped = _by_message(message) or mapped
    return mapped(message, code=code)
