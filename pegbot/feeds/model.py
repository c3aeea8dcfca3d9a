"""What a market-data feed emits, how it is configured, and its reconnect backoff.

Kept apart from the connection logic so consumers (the bot, metrics, the recorder) import the
types without pulling in websockets, and so the feed module stays one concern.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pegbot.book import OrderBook
from pegbot.market import Side

Clock = Callable[[], int]
Levels = list[tuple[int, int]]

BINANCE_WS_URL = "wss://stream.binance.com:9443"
BINANCE_REST_URL = "https://api.binance.com"


# -- the feed as its consumers see it ----------------------------------------------------


class MarketFeed(Protocol):
    """A market-data feed as the live bot uses it (``BinanceFeed``, ``CcxtFeed``).

    ===============  ==============================================================
    member           meaning
    ===============  ==============================================================
    ``config``       what it follows and how it reconnects
    ``counters``     messages, resyncs, connects, probes (staleness timestamps)
    ``book``         the live book (mutated in place; read it, never keep a copy)
    ``synced``       the book follows the venue's sequence right now
    ``run()``        follow the venue until :meth:`stop`, reconnecting as needed
    ``stop()``       end :meth:`run`
    ===============  ==============================================================
    """

    config: FeedConfig
    counters: FeedCounters
    book: OrderBook

    @property
    def synced(self) -> bool:
        """The book follows the venue's sequence right now."""
        ...

    async def run(self) -> None:
        """Follow the venue until :meth:`stop`."""
        ...

    def stop(self) -> None:
        """End :meth:`run`."""
        ...


class RestGate(Protocol):
    """Until when the venue's REST API must be sent nothing (a 429's ``Retry-After``, a ban).

    One per venue, shared by everything that talks to it (the order venue's rate budget): a
    rate limit or an IP ban is the venue's, whoever learns of it.
    """

    @property
    def blocked_until_ns(self) -> int:
        """Nothing may be sent before this time (clock ns)."""
        ...

    def block(self, until_ns: int) -> bool:
        """Send nothing before ``until_ns``; returns whether that extended the block."""
        ...


# -- what the feed emits ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthPayload:
    """The parsed levels of one ``depthUpdate``, the payload BookSync carries for us."""

    bids: Levels
    asks: Levels
    exch_ts: int


@dataclass(frozen=True, slots=True)
class BookUpdate:
    """The book changed. ``book`` is the feed's live book: read it now, copy it to keep it.

    Attributes:
        book: The feed's :class:`OrderBook` (mutated in place by later updates).
        update_id: The venue's update id the book is now at.
        exch_ts: Exchange time (ns) of the last applied message (0 for a snapshot).
        local_ts: Local receive time (ns) of the last applied message.
        snapshot: True when the book was (re)seeded from a REST snapshot since consumers
            last saw it valid (a book held after a silent gap is released this way).
    """

    book: OrderBook
    update_id: int
    exch_ts: int
    local_ts: int
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class BookLost:
    """The book is no longer valid (gap, disconnect, bad message) until the next BookUpdate.

    Attributes:
        local_ts: When it was lost (ns).
        reason: ``gap`` (in the stream, or a silent gap found by a probe), ``disconnect``,
            ``crossed`` or ``bad_message``.
    """

    local_ts: int
    reason: str


@dataclass(frozen=True, slots=True)
class Trade:
    """One public trade.

    Attributes:
        exch_ts: Trade time ``T`` (ns).
        local_ts: Local receive time (ns).
        trade_id: Binance trade id ``t``.
        price: Price in ticks.
        qty: Quantity in qty units.
        side: The aggressor's side (``m`` true means the buyer was the maker: a sell).
    """

    exch_ts: int
    local_ts: int
    trade_id: int
    price: int
    qty: int
    side: Side


FeedEvent = BookUpdate | BookLost | Trade


@dataclass
class FeedCounters:
    """What the feed has seen; each field maps to a ``pegbot_feed_*`` metric.

    ``last_message_ns``, ``last_book_ns`` and ``last_confirmed_ns`` are staleness timestamps
    (0 = never). ``last_confirmed_ns`` is when a liveness probe (``GET /api/v3/depth``) last
    found the venue's book where ours is: a quiet book, not a dead stream. ``silent_gaps``
    counts probes that found the venue ahead of a silent stream (each also counted in
    ``gaps``); ``probe_errors`` probes that got no answer.
    """

    messages: int = 0
    bytes: int = 0
    depth_messages: int = 0
    trades: int = 0
    control_messages: int = 0
    unknown_messages: int = 0
    bad_messages: int = 0
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    snapshots: int = 0
    snapshot_errors: int = 0
    stale_snapshots: int = 0
    resyncs: int = 0
    gaps: int = 0
    crossed: int = 0
    book_updates: int = 0
    queue_dropped: int = 0
    probes: int = 0
    probe_errors: int = 0
    silent_gaps: int = 0
    last_message_ns: int = 0
    last_book_ns: int = 0
    last_confirmed_ns: int = 0

    @property
    def confirmed_ns(self) -> int:
        """When the book was last known current: a message, a book update or a probe."""
        return max(self.last_message_ns, self.last_book_ns, self.last_confirmed_ns)

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class FeedConfig:
    """Where and how to connect.

    Attributes:
        symbol: Unified symbol, ``KGST/USDT``.
        ws_url: WebSocket base URL; the feed appends ``/stream?streams=...``.
        rest_url: REST base URL for ccxt (``None``: ccxt's own Binance URLs).
        depth_limit: Levels asked of ``GET /api/v3/depth`` (Binance: up to 5000).
        depth_stream: Depth stream suffix (``depth@100ms`` or ``depth``).
        trades: Also subscribe to ``<sym>@trade``.
        first_event_wait: Seconds to wait for the first diff before fetching the snapshot
            (Binance's procedure buffers first; a quiet book may send nothing for a while).
        backoff_initial: First reconnect delay (seconds).
        backoff_max: Cap of the reconnect delay.
        backoff_jitter: Each delay is multiplied by a uniform factor in ``[1 - j, 1]``.
        snapshot_attempts: Snapshots tried per resync before the connection is restarted.
        snapshot_retry_delay: Seconds between those attempts.
        idle_timeout: Reconnect when no message arrived for this long (``None``: rely on
            WebSocket pings; a quiet book may legitimately send nothing).
        open_timeout: Seconds allowed for the WebSocket handshake.
        rest_timeout_ms: ccxt's HTTP timeout.
        queue_size: Capacity of :meth:`BinanceFeed.events`; the oldest event goes first.
        quiet_probe_s: When a synced book has heard nothing (no depth message, snapshot or
            probe) for this long, ask ``GET /api/v3/depth?limit=5`` (weight 5) whether the
            venue's ``lastUpdateId`` is still the book's: Binance's diff stream sends nothing
            while the book does not change, so silence alone proves nothing. Keep it well
            under the risk's ``book_stale_s``. ``None``: never probe.
        probe_grace_s: How long a probe answer ahead of the book waits for the stream to
            deliver (Binance batches diffs per 100 ms) before it counts as a silent gap.
    """

    symbol: str = "KGST/USDT"
    ws_url: str = BINANCE_WS_URL
    rest_url: str | None = BINANCE_REST_URL
    depth_limit: int = 1000
    depth_stream: str = "depth@100ms"
    trades: bool = True
    first_event_wait: float = 1.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.5
    snapshot_attempts: int = 5
    snapshot_retry_delay: float = 0.5
    idle_timeout: float | None = None
    open_timeout: float = 10.0
    rest_timeout_ms: int = 10_000
    queue_size: int = 10_000
    quiet_probe_s: float | None = 5.0
    probe_grace_s: float = 0.5

    def __post_init__(self) -> None:
        q = self.quiet_probe_s
        if q is not None and not (math.isfinite(q) and q > 0):
            raise ValueError(
                f"quiet_probe_s must be a positive number of seconds or None, got {q!r}"
            )
        g = self.probe_grace_s
        if not (math.isfinite(g) and g >= 0):
            raise ValueError(f"probe_grace_s must be a finite number of seconds >= 0, got {g!r}")

    @property
    def stream_symbol(self) -> str:
        """The lower-case venue id used in stream names (``kgstusdt``)."""
        return self.symbol.replace("/", "").lower()

    def streams(self) -> list[str]:
        """The combined-stream names subscribed to."""
        names = [f"{self.stream_symbol}@{self.depth_stream}"]
        if self.trades:
            names.append(f"{self.stream_symbol}@trade")
        return names

    def stream_url(self) -> str:
        """The full combined-stream URL."""
        return f"{self.ws_url.rstrip('/')}/stream?streams={'/'.join(self.streams())}"


class ProbeVerdict(enum.Enum):
    """What a liveness probe's ``lastUpdateId`` says about a synced book."""

    #: The venue is where the book is: nothing changed, the book is confirmed live.
    CONFIRMED = "confirmed"
    #: The venue is ahead: the stream has not delivered updates (a gap, unless they arrive).
    MISSED = "missed"
    #: No answer, or the venue's REST behind the stream (a lagging cache): no conclusion.
    UNKNOWN = "unknown"


def probe_verdict(book_id: int, rest_id: int | None) -> ProbeVerdict:
    """Compare the book's last applied update id with a REST snapshot's ``lastUpdateId``.

    Args:
        book_id: The update id the book is at.
        rest_id: The probe's ``lastUpdateId``; ``None`` when the probe failed.
    """
    if rest_id is None or rest_id < book_id:
        return ProbeVerdict.UNKNOWN
    return ProbeVerdict.CONFIRMED if rest_id == book_id else ProbeVerdict.MISSED


def backoff_delay(attempt: int, config: FeedConfig, rng: random.Random) -> float:
    """Delay before reconnect number ``attempt`` (0-based): capped exponential, jittered down."""
    base = min(config.backoff_max, config.backoff_initial * (2.0 ** min(attempt, 30)))
    return base * (1.0 - config.backoff_jitter * rng.random())


def make_rest_client(config: FeedConfig) -> Any:
    """A ccxt async Binance client for public spot endpoints, pointed at ``config.rest_url``.

    The options keep ``load_markets`` to ``GET /api/v3/exchangeInfo`` alone (no keys needed,
    nothing a local server must fake beyond it).
    """
    import ccxt.async_support as ccxt_async  # heavy import: only when a feed starts

    from pegbot.execution.quirks import BINANCE, deep_copy, point_client_at

    client = ccxt_async.binance(
        {
            "enableRateLimit": True,
            "timeout": config.rest_timeout_ms,
            "options": deep_copy(BINANCE.options),
        }
    )
    if config.rest_url:
        # Only REST is used here: the feed opens its own WebSocket.
        point_client_at(client, BINANCE, config.rest_url)
    return client
