"""Venue errors: Binance bodies through ccxt's own error handling, mapped to our hierarchy."""

from __future__ import annotations

import json

import ccxt
import pytest

from pegbot.execution import errors as e


def _ccxt_raises(status: int, code: int, msg: str) -> BaseException:
    """Run ccxt's real Binance error handling on a reply body, as a request would."""
    ex = ccxt.binance()
    body = {"code": code, "msg": msg}
    text = json.dumps(body)
    url = "http://127.0.0.1:1/api/v3/order"
    try:
        ex.handle_errors(status, "reason", url, "POST", {}, text, body, None, None)
        ex.handle_http_status_code(status, "reason", url, "POST", text)
    except Exception as exc:
        return exc
    raise AssertionError("ccxt raised nothing")


CASES = [
    (
        400,
        -2010,
        "Account has insufficient balance for requested action.",
        e.InsufficientFundsError,
    ),
    (400, -2010, "Order would immediately match and take.", e.WouldTakeError),
    (400, -2010, "Duplicate order sent.", e.DuplicateOrderError),
    (400, -1013, "Filter failure: NOTIONAL", e.InvalidOrderError),
    (400, -1013, "Filter failure: LOT_SIZE", e.InvalidOrderError),
    (400, -1013, "Market is closed.", e.MarketClosedError),
    (400, -1021, "Timestamp for this request is outside of the recvWindow.", e.ClockSkewError),
    (400, -1022, "Signature for this request is not valid.", e.AuthError),
    (401, -2015, "Invalid API-key, IP, or permissions for action.", e.AuthError),
    (400, -1121, "Invalid symbol.", e.BadSymbolError),
    (400, -2011, "Unknown order sent.", e.OrderNotFoundError),
    (400, -2013, "Order does not exist.", e.OrderNotFoundError),
    (
        429,
        -1003,
        "Too much request weight used; current limit is 6000 request weight per 1 MINUTE.",
        e.RateLimitedError,
    ),
    (418, -1003, "Way too much request weight used; IP banned until 1.", e.RateLimitedError),
    (
        503,
        -1001,
        "Internal error; unable to process your request. Please try again.",
        e.OutcomeUnknownError,
    ),
]


@pytest.mark.parametrize(("status", "code", "msg", "expected"), CASES)
def test_ccxt_exceptions_map_to_one_reason(
    status: int, code: int, msg: str, expected: type[e.VenueError]
) -> None:
    raised = _ccxt_raises(status, code, msg)
    mapped = e.from_exception(raised)
    assert type(mapped) is expected, f"{type(raised).__name__} -> {type(mapped).__name__}"
    assert mapped.reason in e.REASONS
    assert mapped.__cause__ is raised
    # The venue's own code maps the same way, for paths that see the raw body.
    assert type(e.from_binance_code(code, msg)) is expected


def test_semantics_of_the_classes() -> None:
    assert e.RateLimitedError.retryable and e.RateLimitedError.counts_as_reject
    assert e.OutcomeUnknownError.outcome_unknown and e.OutcomeUnknownError.retryable
    assert not e.WouldTakeError.retryable and e.WouldTakeError.counts_as_reject
    assert not e.OrderNotFoundError.counts_as_reject  # a cancel that raced a fill
    assert not e.TemporaryError.counts_as_reject
    assert e.UnknownVenueError.outcome_unknown


def test_network_failures_and_unknowns() -> None:
    timeout = e.from_exception(ccxt.RequestTimeout("binance POST timed out"))
    assert isinstance(timeout, e.OutcomeUnknownError) and timeout.outcome_unknown
    assert type(e.from_exception(ccxt.NetworkError("reset"))) is e.TemporaryError
    assert type(e.from_exception(ccxt.ExchangeNotAvailable("502"))) is e.OutcomeUnknownError
    assert type(e.from_exception(ccxt.ChecksumError("book"))) is e.ClockSkewError  # an InvalidNonce
    unknown = e.from_exception(KeyError("surprise"))
    assert type(unknown) is e.UnknownVenueError and "KeyError" in str(unknown)
    ours = e.WouldTakeError("x")
    assert e.from_exception(ours) is ours
    assert type(e.from_binance_code(-9999, "new code")) is e.UnknownVenueError


def test_subclass_ccxt_adds_later_maps_to_its_parent() -> None:
    class FancyNewFundsError(ccxt.InsufficientFunds):  # type: ignore[misc]  # ccxt is untyped
        pass

    assert type(e.from_exception(FancyNewFundsError("x"))) is e.InsufficientFundsError


def test_reasons_are_bounded_and_unique() -> None:
    assert len(e.REASONS) == len(set(e.REASONS)) == 15  # VenueError and Unknown share one
    classes = [c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.VenueError)]
    assert {c.reason for c in classes} == set(e.REASONS)
    assert all(r.isidentifier() and r.islower() for r in e.REASONS)
