"""Binance's error replies, as the simulator sends them.

Each error carries the HTTP status and the exact ``{"code", "msg"}`` body Binance uses, so that
unmodified ccxt maps it to the same exception it would raise against the real venue (see
``binance-api.md`` §6: some codes are matched by message, so the messages must be exact).
"""

from __future__ import annotations

from typing import Any


class SimError(Exception):
    """An error reply: HTTP status plus Binance's ``code`` and ``msg``.

    Attributes:
        code: Binance's negative error code.
        msg: Binance's message, verbatim.
        status: HTTP status of the reply.
        headers: Extra reply headers (``Retry-After`` on 429/418).
        retry_after_ms: On a 429/418, when the request may be retried (Unix ms): the WebSocket
            API sends it as ``error.data.retryAfter`` (for a ban, when the ban is lifted).
    """

    def __init__(
        self,
        code: int,
        msg: str,
        status: int = 400,
        headers: dict[str, str] | None = None,
        retry_after_ms: int | None = None,
    ) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        self.retry_after_ms = retry_after_ms

    def body(self) -> dict[str, Any]:
        """The JSON body Binance sends."""
        return {"code": self.code, "msg": self.msg}


def internal_error() -> SimError:
    """503 -1001: refused before anything happened (the client cannot know that)."""
    return SimError(-1001, "Internal error; unable to process your request. Please try again.", 503)


def insufficient_balance() -> SimError:
    """-2010: the account cannot pay for the order."""
    return SimError(-2010, "Account has insufficient balance for requested action.")


def would_take() -> SimError:
    """-2010: a LIMIT_MAKER order would cross the book."""
    return SimError(-2010, "Order would immediately match and take.")


def duplicate_order() -> SimError:
    """-2010: the client order id is already used by an open order."""
    return SimError(-2010, "Duplicate order sent.")


def filter_failure(name: str) -> SimError:
    """-1013: an order breaks one of the symbol's filters."""
    return SimError(-1013, f"Filter failure: {name}")


def market_closed() -> SimError:
    """-1013: the symbol is not trading."""
    return SimError(-1013, "Market is closed.")


def invalid_symbol() -> SimError:
    """-1121: unknown symbol."""
    return SimError(-1121, "Invalid symbol.")


def unknown_order() -> SimError:
    """-2011: cancel of an order that is not open."""
    return SimError(-2011, "Unknown order sent.")


def no_such_order() -> SimError:
    """-2013: query of an order that does not exist."""
    return SimError(-2013, "Order does not exist.")


def bad_param(name: str) -> SimError:
    """-1100: a parameter has characters or a format Binance refuses."""
    return SimError(-1100, f"Illegal characters found in parameter '{name}'; legal range is ''.")


def missing_param(name: str) -> SimError:
    """-1102: a mandatory parameter is missing."""
    return SimError(
        -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed."
    )


def bad_enum(name: str) -> SimError:
    """-1116/-1117/-1115-style invalid enum value, reported as Binance's generic -1104."""
    return SimError(-1104, f"Not all sent parameters were read; invalid value for '{name}'.")


def precision_over(name: str) -> SimError:
    """-1111: more decimals than the asset allows."""
    return SimError(-1111, f"Parameter '{name}' has too much precision.")


def amend_rejected(msg: str) -> SimError:
    """-2038: the matching engine refused an order amend (``msg`` says why)."""
    return SimError(-2038, msg)
