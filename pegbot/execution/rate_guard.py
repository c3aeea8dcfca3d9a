"""The venue-side guard that keeps a client from ever earning a rate-limit ban.

Binance bans an IP (HTTP 418) that keeps sending after a 429. ccxt reads none of the
rate-limit headers, so the guard does, around every request the venue makes:

* after each reply it reads the used-weight header into the shared :class:`RateBudget`
  (the venue's count is the truth; the budget only ever learns it spent more);
* on a 429/418 it empties the budget and blocks everything until ``Retry-After`` (or the
  end of the venue's window when the header is missing) — except when the 429 is about the
  *order count* (Binance ``-1015``): then only new orders wait and the ``ORDERS`` buckets
  are emptied, while cancels, which only reduce risk, and reads go on;
* before each request it waits out a block, or, for a request that must not go out late
  (a place, decided on a market that has moved on), refuses at once without sending.

The block is a hard stop from the first request of a process to its last: it holds before the
budget exists (the first request of a run can be the one that learns of a ban) and is handed
to the budget once there, and a request that must answer by a deadline (the shutdown's
cancel-all) is refused at once when the block outlasts it, never sent into the ban. On
Binance every request during a ban is one more reason for a longer one.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from pegbot.execution import errors
from pegbot.execution.budget import RateBudget
from pegbot.execution.ccxt_parse import header
from pegbot.execution.quirks import VenueQuirks
from pegbot.logging import event_log
from pegbot.timeunits import NS_PER_MS, NS_PER_S

__all__ = ["RateGuard"]

log = event_log(__name__)
# When a rate-limited request may be retried, as the error text says it (Unix ms): the WebSocket
# API's ``error.data.retryAfter``, and a ban's "IP banned until <ms>".
_RETRY_AT = re.compile(r'"retryAfter"\s*:\s*(\d{12,})|banned until (\d{12,})')


class RateGuard:
    """Honours a venue's rate limits around its requests.

    Attributes:
        used_weight: Last used weight the venue reported (-1 before any reply).
        rate_limited: 429/418 replies seen.
        orders_blocked_until_ns: New orders wait until then (an order-count 429).
    """

    def __init__(
        self,
        quirks: VenueQuirks,
        clock: Callable[[], int],
        sleep: Callable[[float], Awaitable[None]],
        budget: RateBudget | None = None,
        name: str = "",
    ) -> None:
        """Guard requests to the venue described by ``quirks``."""
        self.quirks = quirks
        self.clock = clock
        self.sleep = sleep
        self._budget: RateBudget | None = None
        self._blocked_until_ns = 0  # while there is no budget to keep it
        self.budget = budget
        self.name = name
        self.used_weight = -1
        self.rate_limited = 0
        self.orders_blocked_until_ns = 0

    @property
    def budget(self) -> RateBudget | None:
        """The shared budget (None until the venue has built it)."""
        return self._budget

    @budget.setter
    def budget(self, value: RateBudget | None) -> None:
        # A block learned before the budget existed carries over to it.
        self._budget = value
        if value is not None and self._blocked_until_ns:
            value.block(self._blocked_until_ns)

    @property
    def blocked_until_ns(self) -> int:
        """Nothing is sent before this time (clock ns; 0: no block)."""
        b = self._budget
        return max(self._blocked_until_ns, b.blocked_until_ns if b is not None else 0)

    def block(self, until_ns: int) -> None:
        """Send nothing before ``until_ns`` (a 429/418 here, or one remembered from before)."""
        self._blocked_until_ns = max(self._blocked_until_ns, until_ns)
        if self._budget is not None:
            self._budget.block(until_ns)

    async def wait(self, kind: str, fail_fast: bool, deadline_ns: int | None = None) -> None:
        """Return once ``kind`` may be sent; with ``fail_fast`` refuse instead of waiting.

        Args:
            kind: The request kind (``place`` also waits for an order-count block).
            fail_fast: Refuse at once rather than wait.
            deadline_ns: Refuse at once if the block ends after this time (clock ns): a
                wait that cannot end in time only delays the caller's own report.

        Raises:
            RateLimitedError: ``fail_fast`` and the venue asked us to wait (nothing was sent).
            DeadlineError: The block outlasts ``deadline_ns`` (nothing was sent).
        """
        while True:
            now = self.clock()
            until = self.blocked_until_ns
            if kind == "place":
                until = max(until, self.orders_blocked_until_ns)
            if now >= until:
                return
            if deadline_ns is not None and until > deadline_ns:
                raise errors.DeadlineError(
                    f"{self.name}: rate-limited for another {(until - now) / NS_PER_S:.1f} s, "
                    f"{max(0, deadline_ns - now) / NS_PER_S:.1f} s left before the deadline; "
                    f"{kind} not sent"
                )
            if fail_fast:
                raise errors.RateLimitedError(
                    f"{self.name}: rate-limited for another "
                    f"{(until - now) / NS_PER_S:.1f} s; {kind} not sent"
                )
            await self.sleep(min((until - now) / NS_PER_S, 1.0))

    def observe(self, headers: Mapping[str, Any] | None) -> None:
        """Read the used-weight and order-count headers of a reply into the budget.

        The venue's counts are the truth: a bucket that counted less than the venue spends
        the difference (it never gives back what the venue has not counted yet).
        """
        hdrs = headers or {}
        name = self.quirks.used_weight_header
        raw = header(hdrs, name) if name else None
        used: int | None = None
        if raw is not None:
            with contextlib.suppress(ValueError):
                used = int(raw)
        if used is not None:
            self.used_weight = used
        if self.budget is None:
            return
        now = self.clock()
        if used is not None:
            self._catch_up("REQUEST_WEIGHT", None, used, now)
        for count_header, window_ns in self.quirks.order_count_headers.items():
            raw = header(hdrs, count_header)
            if raw is None:
                continue
            with contextlib.suppress(ValueError):
                self._catch_up("ORDERS", window_ns, int(raw), now)

    def _catch_up(self, kind: str, window_ns: int | None, used: int, now: int) -> None:
        assert self.budget is not None
        for bucket in self.budget.buckets:
            if bucket.limit.kind != kind:
                continue
            if window_ns is not None and bucket.limit.window_ns != window_ns:
                continue
            counted = bucket.limit.limit - bucket.tokens(now)
            if used > counted:
                bucket.take(used - counted, now)

    def on_rate_limited(self, headers: Mapping[str, Any] | None, message: str = "") -> int:
        """A 429/418 arrived: block until ``Retry-After``; returns the wait in ns.

        Args:
            headers: The reply's headers.
            message: The error text (tells an order-count limit from a weight limit).
        """
        self.rate_limited += 1
        raw = header(headers or {}, self.quirks.retry_after_header)
        retry_ns: int | None = None
        if raw is not None:
            with contextlib.suppress(InvalidOperation, ValueError):
                retry_ns = max(int(Decimal(raw) * NS_PER_S), 0)
        until_ms = [int(a or b) for a, b in _RETRY_AT.findall(message)]
        if until_ms:
            # A WebSocket API reply has no headers: its error says until when (Unix ms).
            retry_ns = max(retry_ns or 0, max(until_ms) * NS_PER_MS - self.clock())
        if retry_ns is None:
            # No Retry-After: wait out the rest of the venue's window.
            window = self.quirks.weight_window_ns
            retry_ns = window - self.clock() % window
        now = self.clock()
        orders_only = any(m in message for m in self.quirks.order_limit_markers)
        if orders_only:
            self.orders_blocked_until_ns = max(self.orders_blocked_until_ns, now + retry_ns)
            for bucket in self.budget.buckets if self.budget is not None else ():
                if bucket.limit.kind == "ORDERS":
                    bucket.drain(now)
        else:
            if self.budget is not None:
                self.budget.on_rate_limited(now, retry_ns)
            self.block(now + retry_ns)
        log.warning(
            "rate_limited",
            "rate limited",
            venue=self.name,
            retry_after_s=retry_ns / NS_PER_S,
            scope="orders" if orders_only else "all",
        )
        return retry_ns
