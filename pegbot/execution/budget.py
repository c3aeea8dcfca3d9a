"""The request budget: token buckets built from the exchange's own rate limits and weights.

Binance bans an IP (HTTP 418, minutes to days) that keeps sending after a 429, and ccxt's
client-side throttle knows only static per-endpoint costs. The bot therefore keeps its own
budget, in the exchange's terms: one bucket per declared limit (``REQUEST_WEIGHT`` 6000 per
minute, ``ORDERS`` 10 per second, …) and a weight per request kind. It is pure: the caller
passes ``now_ns`` on every call and the buckets refill continuously, in exact integers.

Places keep a reserve untouched so that cancels, which only ever reduce risk, can still go
out when the budget runs low. A 429 or 418 with ``Retry-After`` blocks everything until then;
the block outlives the process only if someone remembers it, so :attr:`RateBudget.on_block`
hears of every extension (the bot journals it, and a restart inside a ban sends nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pegbot.logging import event_log
from pegbot.timeunits import NS_PER_DAY, NS_PER_HOUR, NS_PER_MIN, NS_PER_S

__all__ = ["BINANCE_SPOT_WEIGHTS", "RateBudget", "RateLimit", "TokenBucket"]

log = event_log(__name__)

_INTERVAL_NS = {
    "SECOND": NS_PER_S,
    "MINUTE": NS_PER_MIN,
    "HOUR": NS_PER_HOUR,
    "DAY": NS_PER_DAY,
}

#: Request weights of Binance spot (``/api/v3``) by request kind and limit type.
BINANCE_SPOT_WEIGHTS: Mapping[str, Mapping[str, int]] = {
    "place": {"REQUEST_WEIGHT": 1, "ORDERS": 1, "RAW_REQUESTS": 1},
    # A cancel-replace places an order (ORDERS); an amend does not add to the order count.
    "replace": {"REQUEST_WEIGHT": 1, "ORDERS": 1, "RAW_REQUESTS": 1},
    "amend": {"REQUEST_WEIGHT": 4, "RAW_REQUESTS": 1},
    "cancel": {"REQUEST_WEIGHT": 1, "RAW_REQUESTS": 1},
    "cancel_all": {"REQUEST_WEIGHT": 1, "RAW_REQUESTS": 1},
    "open_orders": {"REQUEST_WEIGHT": 6, "RAW_REQUESTS": 1},
    "balances": {"REQUEST_WEIGHT": 20, "RAW_REQUESTS": 1},
    "depth": {"REQUEST_WEIGHT": 250, "RAW_REQUESTS": 1},
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """One limit the venue declares.

    Attributes:
        kind: Limit type (``REQUEST_WEIGHT``, ``ORDERS``, ``RAW_REQUESTS``).
        limit: Units allowed per window.
        window_ns: Window length.
    """

    kind: str
    limit: int
    window_ns: int

    def __post_init__(self) -> None:
        if self.limit <= 0 or self.window_ns <= 0:
            raise ValueError(f"{self.kind}: limit and window must be positive")


class TokenBucket:
    """A bucket of ``limit`` tokens refilled evenly over ``window_ns``, in exact integers.

    Internally tokens are counted in ``token × ns`` so that the refill of any elapsed
    nanoseconds is an integer.
    """

    __slots__ = ("_last_ns", "_level", "capacity", "limit")

    def __init__(self, limit: RateLimit, now_ns: int = 0) -> None:
        """Start full at ``now_ns``."""
        self.limit = limit
        self.capacity = limit.limit * limit.window_ns
        self._level = self.capacity
        self._last_ns = now_ns

    def _refill(self, now_ns: int) -> None:
        # Time that goes backwards (a caller mixing clocks) refills nothing.
        if now_ns > self._last_ns:
            self._level = min(
                self.capacity, self._level + (now_ns - self._last_ns) * self.limit.limit
            )
            self._last_ns = now_ns

    def tokens(self, now_ns: int) -> int:
        """Whole tokens available at ``now_ns``."""
        self._refill(now_ns)
        return self._level // self.limit.window_ns

    def can_take(self, n: int, now_ns: int, keep: int = 0) -> bool:
        """Whether ``n`` tokens can be taken while ``keep`` stay in the bucket."""
        self._refill(now_ns)
        return self._level >= (n + keep) * self.limit.window_ns

    def take(self, n: int, now_ns: int) -> None:
        """Remove ``n`` tokens (the caller checked :meth:`can_take`)."""
        self._refill(now_ns)
        self._level -= n * self.limit.window_ns

    def drain(self, now_ns: int) -> None:
        """Empty the bucket, as the venue says it is (a 429)."""
        self._refill(now_ns)
        self._level = min(self._level, 0)


class RateBudget:
    """All of a venue's limits together; a request goes out only if every bucket allows it.

    Attributes:
        blocked_until_ns: Nothing may be sent before this time (``Retry-After``).
        on_block: Called with the new end whenever a block starts or is extended.
    """

    def __init__(
        self,
        limits: Iterable[RateLimit],
        weights: Mapping[str, Mapping[str, int]] = BINANCE_SPOT_WEIGHTS,
        place_reserve: Mapping[str, int] | None = None,
        now_ns: int = 0,
    ) -> None:
        """Build the buckets.

        Args:
            limits: The venue's limits.
            weights: Cost of each request kind per limit type; a type a request does not
                name costs it nothing.
            place_reserve: Tokens per limit type that places must leave for cancels
                (default: 5 % of each limit cancels draw on, at least one cancel).
            now_ns: Start time; the buckets start full.
        """
        self.buckets = [TokenBucket(lim, now_ns) for lim in limits]
        self.weights = {k: dict(v) for k, v in weights.items()}
        if place_reserve is None:
            # Only the limits cancels draw on need a reserve.
            cancel_cost = self.weights.get("cancel", {})
            place_reserve = {
                b.limit.kind: max(cancel_cost[b.limit.kind], b.limit.limit // 20)
                for b in self.buckets
                if cancel_cost.get(b.limit.kind)
            }
        self.place_reserve = dict(place_reserve)
        self.blocked_until_ns = 0
        self.on_block: Callable[[int], None] | None = None

    def adopt(self, other: RateBudget) -> None:
        """Take ``other``'s limits, weights and reserve; keep this budget's block and listener.

        A venue builds its budget before it knows the exchange's declared limits, so that a
        ban learned from the very first request (or remembered from before a restart) blocks
        from the start; the declared limits replace the defaults once they are known.
        """
        self.buckets = other.buckets
        self.weights = other.weights
        self.place_reserve = other.place_reserve
        self.block(other.blocked_until_ns)

    def block(self, until_ns: int) -> bool:
        """Send nothing before ``until_ns``; returns whether that extended the block."""
        if until_ns <= self.blocked_until_ns:
            return False
        self.blocked_until_ns = until_ns
        if self.on_block is not None:
            self.on_block(until_ns)
        return True

    def _cost(self, request: str) -> Mapping[str, int]:
        try:
            return self.weights[request]
        except KeyError:
            raise KeyError(f"no weight known for request kind {request!r}") from None

    def can_spend(self, request: str, now_ns: int) -> bool:
        """Whether ``request`` (``place``, ``cancel``, …) fits the budget at ``now_ns``."""
        if now_ns < self.blocked_until_ns:
            return False
        cost = self._cost(request)
        # Adding orders leaves a reserve for cancels, which only ever reduce risk.
        reserve = self.place_reserve if request in ("place", "replace") else {}
        return all(
            b.can_take(cost.get(b.limit.kind, 0), now_ns, reserve.get(b.limit.kind, 0))
            for b in self.buckets
        )

    def try_spend(self, request: str, now_ns: int) -> bool:
        """Spend the cost of ``request`` if it fits; return whether it did."""
        if not self.can_spend(request, now_ns):
            return False
        cost = self._cost(request)
        for b in self.buckets:
            b.take(cost.get(b.limit.kind, 0), now_ns)
        return True

    def available(self, now_ns: int) -> dict[str, int]:
        """Whole tokens left per limit (the smallest over limits of the same type)."""
        out: dict[str, int] = {}
        for b in self.buckets:
            n = b.tokens(now_ns)
            out[b.limit.kind] = min(n, out.get(b.limit.kind, n))
        return out

    def on_rate_limited(self, now_ns: int, retry_after_ns: int | None = None) -> None:
        """The venue answered 429/418: empty every bucket and honour ``Retry-After``."""
        for b in self.buckets:
            b.drain(now_ns)
        if retry_after_ns is not None:
            self.block(now_ns + retry_after_ns)

    @classmethod
    def from_exchange_info(
        cls,
        rate_limits: Sequence[Mapping[str, Any]],
        weights: Mapping[str, Mapping[str, int]] = BINANCE_SPOT_WEIGHTS,
        safety: float = 0.8,
        now_ns: int = 0,
    ) -> RateBudget:
        """Build from Binance ``exchangeInfo.rateLimits`` (or ccxt's ``info`` copy of it).

        Args:
            rate_limits: Entries ``{rateLimitType, interval, intervalNum, limit}``.
            weights: Request weights.
            safety: Fraction of each declared limit the bot allows itself.
            now_ns: Start time.
        """
        if not 0 < safety <= 1:
            raise ValueError(f"safety must be within (0, 1], got {safety}")
        limits = []
        for entry in rate_limits:
            interval = str(entry["interval"]).upper()
            if interval not in _INTERVAL_NS:
                raise ValueError(f"unknown rate-limit interval {interval!r}")
            window = _INTERVAL_NS[interval] * int(entry.get("intervalNum", 1))
            allowed = max(1, int(int(entry["limit"]) * safety))
            limits.append(RateLimit(str(entry["rateLimitType"]), allowed, window))
        return cls(limits, weights, now_ns=now_ns)

    @classmethod
    def declared_or_default(
        cls, rate_limits: Sequence[Mapping[str, Any]] | None, now_ns: int, venue: str = ""
    ) -> RateBudget:
        """The venue's declared limits, else Binance's documented ones (and say which)."""
        budget = (
            cls.from_exchange_info(rate_limits, now_ns=now_ns)
            if rate_limits
            else cls.binance_spot(now_ns=now_ns)
        )
        log.info(
            "rate_limits",
            "rate budget from %s",
            "the venue's exchangeInfo" if rate_limits else "Binance's documented defaults",
            venue=venue,
            limits=[
                f"{b.limit.kind} {b.limit.limit}/{b.limit.window_ns // NS_PER_S}s"
                for b in budget.buckets
            ],
        )
        return budget

    @classmethod
    def binance_spot(cls, safety: float = 0.8, now_ns: int = 0) -> RateBudget:
        """Binance spot's documented ``exchangeInfo`` limits at ``safety``."""
        return cls.from_exchange_info(
            [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 1, "limit": 10},
                {
                    "rateLimitType": "RAW_REQUESTS",
                    "interval": "MINUTE",
                    "intervalNum": 5,
                    "limit": 61000,
                },
            ],
            safety=safety,
            now_ns=now_ns,
        )
