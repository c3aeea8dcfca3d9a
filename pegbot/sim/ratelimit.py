"""Binance's rate limits: request weight per IP, unfilled order counts per account, 429, 418.

Binance counts weight in fixed windows (one per calendar minute) and tells the client how much
it used in ``X-MBX-USED-WEIGHT-1M`` (REST) or the reply's ``rateLimits`` (WebSocket API). Over
the limit a request gets HTTP 429 with ``Retry-After``; a client that keeps going is banned
with HTTP 418 for a while: the ``ban_after_429s``-th 429 of a minute, counting the requests
that reached the limit within ``ban_reaction_ms`` of its first 429 as one (they were sent
before the client could read it; the docs ban "for continuing to send requests after
receiving 429 codes"). New orders count separately per account
(``X-MBX-ORDER-COUNT-10S`` / ``-1D``): the *unfilled* order count, which falls by one when an
order fills for the first time; over it, 429 with -1015. Windows are aligned (a 10 s window
starts at :00, :10 …; a day at 00:00 UTC). Time is passed in (ns), so the limiter is
deterministic under test.

Order entry costs no weight when it succeeds (Binance's changelog, 2026-03-27 and
2026-04-02): placing, canceling, cancel-all and cancel-replace are charged their documented
weight up front and refunded on success; an amend is refunded only when it expired the order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pegbot.timeunits import NS_PER_DAY, NS_PER_MIN, NS_PER_MS, NS_PER_S

from . import errors
from .config import RateLimitConfig

#: Request weight of each REST endpoint (method, path); ``depth`` and the ticker depend on
#: parameters and are computed in :func:`request_weight`.
WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/aggTrades"): 4,
    ("GET", "/api/v3/ticker/bookTicker"): 2,
    ("GET", "/api/v3/ticker/price"): 2,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/account/commission"): 20,
    ("POST", "/api/v3/order"): 1,
    ("POST", "/api/v3/order/test"): 1,
    ("GET", "/api/v3/order"): 4,
    ("DELETE", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/openOrders"): 1,
    ("GET", "/api/v3/allOrders"): 20,
    ("GET", "/api/v3/myTrades"): 20,
    ("POST", "/api/v3/order/cancelReplace"): 1,
    ("PUT", "/api/v3/order/amend/keepPriority"): 4,
    ("GET", "/api/v3/rateLimit/order"): 40,
}

#: Request weight of each WebSocket API method (``openOrders.status`` depends on ``symbol``).
WS_WEIGHTS: dict[str, int] = {
    "ping": 1,
    "time": 1,
    "order.place": 1,
    "order.cancel": 1,
    "order.cancelReplace": 1,
    "order.amend.keepPriority": 4,
    "openOrders.cancelAll": 1,
    "order.status": 4,
    "account.status": 20,
    "account.rateLimits.orders": 40,
    "userDataStream.subscribe.signature": 2,
    "userDataStream.unsubscribe": 2,
}
#: What connecting to the WebSocket API costs.
WS_CONNECT_WEIGHT = 2

#: Order entry refunded on success (REST ``(method, path)`` and WebSocket API methods).
FREE_ON_SUCCESS = frozenset(
    {
        ("POST", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("DELETE", "/api/v3/openOrders"),
        ("POST", "/api/v3/order/cancelReplace"),
        ("WS", "order.place"),
        ("WS", "order.cancel"),
        ("WS", "openOrders.cancelAll"),
        ("WS", "order.cancelReplace"),
    }
)
_AMENDS = frozenset(
    {("PUT", "/api/v3/order/amend/keepPriority"), ("WS", "order.amend.keepPriority")}
)


def free_on_success(method: str, path: str, reply: Any) -> bool:
    """Whether a successful ``reply`` to ``method path`` (``WS`` + method name) costs nothing."""
    if (method, path) in FREE_ON_SUCCESS:
        return True
    if (method, path) in _AMENDS and isinstance(reply, dict):
        return bool(reply.get("amendedOrder", {}).get("status") == "EXPIRED")
    return False


def ws_weight(method: str, params: dict[str, str]) -> int:
    """The weight Binance charges for a WebSocket API request."""
    if method == "openOrders.status":
        return 6 if "symbol" in params else 80
    return WS_WEIGHTS.get(method, 1)


def request_weight(method: str, path: str, params: dict[str, str]) -> int:
    """The weight Binance charges for a request."""
    if path == "/api/v3/depth":
        limit = int(params.get("limit", "100") or 100)
        if limit <= 100:
            return 5
        if limit <= 500:
            return 25
        return 50 if limit <= 1000 else 250
    if path == "/api/v3/ticker/24hr":
        return 2 if "symbol" in params else 80
    if path == "/api/v3/openOrders" and method == "GET":
        return 6 if "symbol" in params else 80
    return WEIGHTS.get((method, path), 1)


@dataclass
class _Window:
    start_ns: int = 0
    used: int = 0
    rejected: int = 0
    #: When the window's first 429 went out, and the 429s that count toward a ban: those to
    #: requests sent after the client could have read one (see :meth:`RateLimiter.charge`).
    first_reject_ns: int | None = None
    strikes: int = 0


@dataclass
class RateLimiter:
    """Weight per IP and order counts per account, with bans for clients that ignore 429s."""

    config: RateLimitConfig
    _ips: dict[str, _Window] = field(default_factory=dict)
    _bans: dict[str, int] = field(default_factory=dict)
    _orders_10s: dict[str, _Window] = field(default_factory=dict)
    _orders_day: dict[str, _Window] = field(default_factory=dict)
    #: Requests received per IP while it was banned (kept across :meth:`reset`: an audit
    #: figure, so a test can assert a client sent nothing during its ban).
    requests_while_banned: dict[str, int] = field(default_factory=dict)
    #: How long each IP's ban had lasted when each of those requests arrived (ns, newest
    #: 1000): one sent before the client could have read its 418 arrives within a round trip.
    banned_request_ages: dict[str, list[int]] = field(default_factory=dict)
    _ban_started: dict[str, int] = field(default_factory=dict)

    def used_weight(self, ip: str, now_ns: int) -> int:
        """Weight used by ``ip`` in the current minute."""
        win = self._ips.get(ip)
        if win is None or win.start_ns != now_ns - now_ns % (NS_PER_MIN):
            return 0
        return win.used

    def charge(self, ip: str, weight: int, now_ns: int) -> int:
        """Charge ``weight`` to ``ip``; returns the minute's total or raises 429/418."""
        if not self.config.enabled:
            return 0
        banned_until = self._bans.get(ip, 0)
        if now_ns < banned_until:
            self.requests_while_banned[ip] = self.requests_while_banned.get(ip, 0) + 1
            ages = self.banned_request_ages.setdefault(ip, [])
            ages.append(now_ns - self._ban_started.get(ip, now_ns))
            del ages[:-1000]
            raise _banned(banned_until, now_ns)
        win = _roll(self._ips, ip, now_ns, NS_PER_MIN)
        if win.used + weight > self.config.weight_per_minute:
            win.rejected += 1
            # Binance bans an IP "for continuing to send requests after receiving 429 codes":
            # requests already on their way when the first 429 went out (a burst sent at
            # once) are refused with it but count as that one 429, not as a failure to back off.
            if win.first_reject_ns is None:
                win.first_reject_ns = now_ns
            if now_ns - win.first_reject_ns >= self.config.ban_reaction_ms * NS_PER_MS:
                win.strikes += 1
            if 1 + win.strikes > self.config.ban_after_429s:
                until = now_ns + self.config.ban_seconds * NS_PER_S
                self._bans[ip] = until
                self._ban_started[ip] = now_ns
                raise _banned(until, now_ns)
            retry = (win.start_ns + NS_PER_MIN - now_ns + NS_PER_S - 1) // NS_PER_S
            raise errors.SimError(
                -1003,
                f"Too much request weight used; current limit is {self.config.weight_per_minute} "
                "request weight per 1 MINUTE. Please use WebSocket Streams for live updates to "
                "avoid polling the API.",
                429,
                {"Retry-After": str(retry)},
                (win.start_ns + NS_PER_MIN) // NS_PER_MS,
            )
        win.used += weight
        return win.used

    def ban(self, ip: str, seconds: int, now_ns: int) -> int:
        """Ban ``ip`` for ``seconds`` as a 429 storm would (fault injection); returns the end."""
        until = now_ns + seconds * NS_PER_S
        if self._bans.get(ip, 0) <= now_ns:
            self._ban_started[ip] = now_ns
        self._bans[ip] = max(self._bans.get(ip, 0), until)
        return self._bans[ip]

    def spend(self, ip: str, leave: int, now_ns: int, rejected: int = 0) -> int:
        """Another client on ``ip`` spent the minute's weight but ``leave`` (fault injection).

        It also got ``rejected`` 429s this minute and kept going: at ``ban_after_429s`` the
        IP's next over-limit request earns the ban.

        Returns:
            The minute's weight used.
        """
        win = _roll(self._ips, ip, now_ns, NS_PER_MIN)
        win.used = max(win.used, self.config.weight_per_minute - leave)
        win.rejected = max(win.rejected, rejected)
        if rejected:
            # The other client's 429s were answered: the next over-limit request is a strike.
            reaction = self.config.ban_reaction_ms * NS_PER_MS
            win.first_reject_ns = min(win.first_reject_ns or now_ns, now_ns - reaction)
            win.strikes = max(win.strikes, rejected - 1)
        return win.used

    def state(self, now_ns: int) -> dict[str, Any]:
        """Bans in force (IP → end in ms), 429s this minute and requests received while banned."""
        return {
            "bans": {ip: until // NS_PER_MS for ip, until in self._bans.items() if until > now_ns},
            "rejected_429": {ip: w.rejected for ip, w in self._ips.items() if w.rejected},
            "requests_while_banned": dict(self.requests_while_banned),
        }

    def refund(self, ip: str, weight: int, now_ns: int) -> int:
        """Give back ``weight`` charged in the current minute; returns the minute's total."""
        win = self._ips.get(ip)
        if win is None or win.start_ns != now_ns - now_ns % NS_PER_MIN:
            return 0
        win.used = max(win.used - weight, 0)
        return win.used

    def order_filled(self, account: str, now_ns: int) -> None:
        """An order of ``account`` filled for the first time: one unfilled order less."""
        for table, width in ((self._orders_10s, 10 * NS_PER_S), (self._orders_day, NS_PER_DAY)):
            win = _roll(table, account, now_ns, width)
            win.used = max(win.used - 1, 0)

    def rate_limits(
        self, ip: str, account: str, now_ns: int, *, orders: bool
    ) -> list[dict[str, Any]]:
        """The WebSocket API's ``rateLimits``: weight, and the order counts when ``orders``."""
        cfg = self.config
        out: list[dict[str, Any]] = []
        if orders:
            ten, day = self.order_counts(account, now_ns)
            out.append(_limit("ORDERS", "SECOND", 10, cfg.orders_per_10s, ten))
            out.append(_limit("ORDERS", "DAY", 1, cfg.orders_per_day, day))
        out.append(
            _limit(
                "REQUEST_WEIGHT", "MINUTE", 1, cfg.weight_per_minute, self.used_weight(ip, now_ns)
            )
        )
        return out

    def unfilled_order_count(self, account: str, now_ns: int) -> list[dict[str, Any]]:
        """``GET /api/v3/rateLimit/order`` / ``account.rateLimits.orders``: every interval."""
        return self.rate_limits("", account, now_ns, orders=True)[:2]

    def count_order(self, account: str, now_ns: int) -> tuple[int, int]:
        """Count one new order; returns the 10 s and day counts or raises 429 (-1015)."""
        if not self.config.enabled:
            return 0, 0
        ten = _roll(self._orders_10s, account, now_ns, 10 * NS_PER_S)
        day = _roll(self._orders_day, account, now_ns, NS_PER_DAY)
        if ten.used + 1 > self.config.orders_per_10s:
            retry = (ten.start_ns + 10 * NS_PER_S - now_ns + NS_PER_S - 1) // NS_PER_S
            raise errors.SimError(
                -1015,
                f"Too many new orders; current limit is {self.config.orders_per_10s} orders "
                "per 10 SECOND.",
                429,
                {"Retry-After": str(retry)},
                (ten.start_ns + 10 * NS_PER_S) // NS_PER_MS,
            )
        if day.used + 1 > self.config.orders_per_day:
            raise errors.SimError(
                -1015,
                f"Too many new orders; current limit is {self.config.orders_per_day} orders "
                "per DAY.",
                429,
                {"Retry-After": str((day.start_ns + NS_PER_DAY - now_ns) // NS_PER_S)},
                (day.start_ns + NS_PER_DAY) // NS_PER_MS,
            )
        ten.used += 1
        day.used += 1
        return ten.used, day.used

    def order_counts(self, account: str, now_ns: int) -> tuple[int, int]:
        """Current 10 s and day order counts of ``account``."""
        ten = _roll(self._orders_10s, account, now_ns, 10 * NS_PER_S)
        day = _roll(self._orders_day, account, now_ns, NS_PER_DAY)
        return ten.used, day.used

    def reset(self) -> None:
        """Forget all counters and bans."""
        self._ips.clear()
        self._bans.clear()
        self._orders_10s.clear()
        self._orders_day.clear()


def _limit(kind: str, interval: str, num: int, limit: int, count: int) -> dict[str, Any]:
    return {
        "rateLimitType": kind,
        "interval": interval,
        "intervalNum": num,
        "limit": limit,
        "count": count,
    }


def _roll(table: dict[str, _Window], key: str, now_ns: int, width: int) -> _Window:
    start = now_ns - now_ns % width
    win = table.get(key)
    if win is None or win.start_ns != start:
        win = table[key] = _Window(start_ns=start)
    return win


def _banned(until_ns: int, now_ns: int) -> errors.SimError:
    return errors.SimError(
        -1003,
        f"Way too much request weight used; IP banned until {until_ns // NS_PER_MS}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
        418,
        {"Retry-After": str((until_ns - now_ns + NS_PER_S - 1) // NS_PER_S)},
        until_ns // NS_PER_MS,
    )
