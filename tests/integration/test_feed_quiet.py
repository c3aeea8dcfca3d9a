"""A quiet book is not a dead stream: the feed's REST liveness probe, against the simulator.

Binance's diff-depth stream sends nothing while the book does not change, and KGST/USDT is
thin. The feed (and the bot through it) asks ``GET /api/v3/depth?limit=5`` after
``quiet_probe_s`` of silence: the same ``lastUpdateId`` confirms the book, a greater one is a
silent gap. Everything runs for real on loopback: the simulator, its REST and WebSocket
servers, the feed, the bot with its risk layer.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from pegbot.execution.risk import RiskLevel, Transition
from pegbot.feeds.binance import BinanceFeed, BookLost, BookUpdate, FeedConfig
from pegbot.feeds.model import ProbeVerdict, probe_verdict
from pegbot.live.bot import Bot
from pegbot.sim.config import DEMO_API_KEY
from pegbot.sim.testing import SimHandle
from pegbot.testing.bot import bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(60)

SYM = "KGSTUSDT"
NS = 1_000_000_000


def feed_config(sim: SimHandle, **kw: object) -> FeedConfig:
    base: dict[str, object] = {
        "ws_url": sim.ws_url,
        "rest_url": sim.http_url,
        "depth_limit": 100,
        "first_event_wait": 0.2,
        "backoff_initial": 0.05,
        "backoff_max": 0.2,
        "snapshot_retry_delay": 0.05,
        "quiet_probe_s": 0.3,
        "probe_grace_s": 0.2,
    }
    base.update(kw)
    return FeedConfig(**base)  # type: ignore[arg-type]


def matches_exchange(feed: BinanceFeed, sim: SimHandle) -> bool:
    uid, bids, asks = sim.exchange.engine.depth(SYM, 100)
    return (
        feed.synced
        and feed.book.update_id == uid
        and feed.book.bids == dict(bids)
        and feed.book.asks == dict(asks)
    )


def confirmed_ns(feed: BinanceFeed) -> int:
    """What the bot's FeedHealth takes as the book's time: a message or a confirmation."""
    c = feed.counters
    return max(c.last_book_ns, c.last_message_ns, c.last_confirmed_ns)


# -- the decision -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("book_id", "rest_id", "verdict"),
    [
        (1000, 1000, ProbeVerdict.CONFIRMED),  # nothing changed
        (1000, 1001, ProbeVerdict.MISSED),  # the venue moved on, the stream said nothing
        (1000, 5000, ProbeVerdict.MISSED),
        (1000, None, ProbeVerdict.UNKNOWN),  # REST failed or 429: never a guess
        (1000, 999, ProbeVerdict.UNKNOWN),  # REST behind the stream (a lagging cache)
    ],
)
def test_probe_verdict(book_id: int, rest_id: int | None, verdict: ProbeVerdict) -> None:
    assert probe_verdict(book_id, rest_id) is verdict


@pytest.mark.parametrize(
    "kw",
    [
        {"quiet_probe_s": 0},
        {"quiet_probe_s": -1.0},
        {"quiet_probe_s": float("nan")},
        {"quiet_probe_s": float("inf")},
        {"probe_grace_s": -0.1},
        {"probe_grace_s": float("nan")},
    ],
)
def test_probe_settings_are_validated(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="probe"):
        FeedConfig(**kw)  # type: ignore[arg-type]
    assert FeedConfig(quiet_probe_s=None).quiet_probe_s is None


# -- the feed on the simulator ------------------------------------------------------------


async def test_quiet_book_stays_confirmed(sim: SimHandle) -> None:
    await seed_book(sim)
    feed = BinanceFeed(feed_config(sim), None)
    task = asyncio.create_task(feed.run())
    try:
        await wait_for(lambda: matches_exchange(feed, sim), 10)
        await asyncio.sleep(0.2)  # the seeding orders' diffs are in
        c = feed.counters
        depth0, probes0 = c.depth_messages, c.probes
        window, stale_s = 3.0, 1.0  # 3x a 1 s book_stale_s
        worst_age = 0.0
        t_end = time.monotonic() + window
        while time.monotonic() < t_end:
            assert feed.synced
            worst_age = max(worst_age, (time.time_ns() - confirmed_ns(feed)) / NS)
            await asyncio.sleep(0.05)
        # The stream really was silent: without the probe this book would look dead.
        assert c.depth_messages == depth0
        assert (time.time_ns() - max(c.last_book_ns, c.last_message_ns)) / NS > window
        assert worst_age < stale_s, worst_age
        probes = c.probes - probes0
        assert window / 0.3 - 3 <= probes <= window / 0.3 + 1, probes  # about one per 0.3 s
        assert c.silent_gaps == 0 and c.probe_errors == 0 and c.gaps == 0
        assert c.snapshots == 1 and c.connects == 1 and c.resyncs == 0
        assert matches_exchange(feed, sim)
    finally:
        feed.stop()
        await asyncio.wait_for(task, 5)
    assert task.exception() is None


async def test_silent_stream_with_a_moving_book_is_a_gap(sim: SimHandle) -> None:
    await seed_book(sim)
    events: list[BookUpdate | BookLost] = []
    feed = BinanceFeed(feed_config(sim), None, on_book=events.append)
    task = asyncio.create_task(feed.run())
    maker = sim.maker()
    stop = asyncio.Event()

    async def mover() -> None:  # the venue's book keeps changing
        while not stop.is_set():
            o = await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01100)
            await maker.cancel_order(o["id"], "KGST/USDT")
            await asyncio.sleep(0.1)

    moving: asyncio.Task[None] | None = None
    try:
        await wait_for(lambda: matches_exchange(feed, sim), 10)
        c = feed.counters
        await sim.admin("faults", {"ws_delay_ms": 60_000})  # connected, nothing arrives
        moving = asyncio.create_task(mover())
        await wait_for(lambda: c.silent_gaps >= 1, 3)
        assert any(isinstance(e, BookLost) and e.reason == "gap" for e in events)
        n_events = len(events)
        # While the stream stays silent the book is never handed out again: the resynced
        # book is held, the next probe finds the venue ahead again, the connection restarts.
        connects = c.connects
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            assert not feed.synced
            await asyncio.sleep(0.02)
        assert c.silent_gaps >= 2 and c.connects > connects
        assert not any(isinstance(e, BookUpdate) for e in events[n_events:])
        assert c.snapshots >= 2  # each silent gap resynced from REST
        # The stream comes back: a new connection syncs and the book equals the venue's.
        stop.set()
        await moving
        await sim.admin("faults", {"ws_delay_ms": 0})
        await sim.admin("drop_ws")
        await wait_for(lambda: matches_exchange(feed, sim), 10)
    finally:
        stop.set()
        if moving is not None:
            await moving
        await sim.admin("faults", {"ws_delay_ms": 0})
        feed.stop()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None


async def test_held_book_released_when_a_probe_finds_nothing_changed(sim: SimHandle) -> None:
    # A one-off lost diff on a quiet book: silent gap, resync, then the next probe confirms
    # the resynced book (nothing changed since) and hands it out again.
    await seed_book(sim)
    events: list[BookUpdate | BookLost] = []
    feed = BinanceFeed(feed_config(sim), None, on_book=events.append)
    task = asyncio.create_task(feed.run())
    try:
        await wait_for(lambda: matches_exchange(feed, sim), 10)
        c = feed.counters
        await sim.admin("faults", {"ws_delay_ms": 60_000})
        maker = sim.maker()
        await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01100)  # one change
        await wait_for(lambda: c.silent_gaps == 1, 3)
        await wait_for(lambda: matches_exchange(feed, sim), 3)
        assert isinstance(events[-1], BookUpdate) and events[-1].snapshot
        assert c.silent_gaps == 1 and c.connects == 1 and c.last_confirmed_ns > 0
    finally:
        await sim.admin("faults", {"ws_delay_ms": 0})
        feed.stop()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None


async def test_probe_failures_confirm_nothing_and_429_is_waited_out(sim: SimHandle) -> None:
    await seed_book(sim)
    feed = BinanceFeed(feed_config(sim), None)
    task = asyncio.create_task(feed.run())
    try:
        await wait_for(lambda: matches_exchange(feed, sim), 10)
        c = feed.counters
        await wait_for(lambda: c.last_confirmed_ns > 0, 3)
        # 1. Every REST call answers 503: no confirmation, and no guess either way.
        await sim.admin("faults", {"rest_fail_rate": 1.0, "rest_fail_mode": "5xx"})
        confirmed, errors = c.last_confirmed_ns, c.probe_errors
        await asyncio.sleep(1.2)
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        assert c.probe_errors - errors >= 3
        assert c.last_confirmed_ns == confirmed  # the staleness clock ran on
        assert (time.time_ns() - confirmed_ns(feed)) / NS > 1.0  # a 1 s book_stale_s trips
        assert c.silent_gaps == 0 and c.resyncs == 0 and feed.synced
        await wait_for(lambda: c.last_confirmed_ns > confirmed, 3)  # answers again: confirmed
        # 2. The minute's weight is spent (another client on our IP): one 429, then the probe
        # waits out Retry-After (the rest of the minute) instead of asking again.
        into = time.time() % 60.0
        if into > 56.0:
            await asyncio.sleep(60.0 - into + 0.2)
        lim, now = sim.exchange.limiter, sim.exchange.now_ns()
        lim.charge(
            "127.0.0.1", lim.config.weight_per_minute - lim.used_weight("127.0.0.1", now), now
        )
        errors = c.probe_errors
        await wait_for(lambda: c.probe_errors == errors + 1, 3)
        probes, confirmed = c.probes, c.last_confirmed_ns
        await asyncio.sleep(1.5)  # five probe periods
        assert c.probes == probes and c.probe_errors == errors + 1
        assert c.last_confirmed_ns == confirmed
        assert not lim._bans  # never earned a 418
    finally:
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        feed.stop()
        await asyncio.wait_for(task, 10)
    assert task.exception() is None


# -- the bot: risk on a quiet market ------------------------------------------------------


def ours(sim: SimHandle) -> set[str]:
    eng = sim.exchange.engine
    return {
        o.client_order_id
        for o in eng.open_orders(DEMO_API_KEY, SYM)
        if o.client_order_id.startswith("pegbot-")
    }


def level(bot: Bot) -> str:
    rs = bot.runners[0].risk_state
    return rs.level.label if rs is not None else "unknown"


def quoting_both(bot: Bot, sim: SimHandle) -> bool:
    sides = {o.side for o in bot.runners[0].live.values()}
    return len(sides) == 2 and len(ours(sim)) >= 2


@pytest.mark.parametrize("probe_s", [0.5, None], ids=["probing", "no-probe"])
async def test_bot_keeps_quoting_on_a_quiet_book(
    sim: SimHandle, tmp_path: Path, probe_s: float | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale_s = 1.5
    await seed_book(sim)
    settings = bot_settings(
        sim, tmp_path, risk={"book_stale_s": stale_s}, venues={"sim": {"quiet_probe_s": probe_s}}
    )
    async with run_bot(settings) as bot:
        await wait_for(lambda: quoting_both(bot, sim) and level(bot) == "normal", 10)
        feed = bot.runners[0].feed
        assert isinstance(feed, BinanceFeed)
        c = feed.counters
        # Settle (start-up goes freeze -> defend -> normal, requoting): the same quotes and
        # no depth message for a second. From here on the book is quiet.
        quotes, since = ours(sim), time.monotonic()
        started = since
        while time.monotonic() - since < 1.0:
            if ours(sim) != quotes or level(bot) != "normal":
                quotes, since = ours(sim), time.monotonic()
            assert time.monotonic() - started < 10, "the bot did not settle"
            await asyncio.sleep(0.05)
        assert time.time_ns() - c.last_message_ns > 0.5 * NS
        depth0, probes0 = c.depth_messages, c.probes
        window = 3 * stale_s
        t_end = time.monotonic() + window
        if probe_s is None:
            # The control: without the probe the silence alone freezes the bot. (Read from
            # the transition: the freeze pulls our quotes, whose cancels are depth messages
            # that end the silence at once, so the trigger may be gone by the next look.)
            changes: list[Transition] = []
            risk_changed = bot.risk_changed

            def spy(venue: str, symbol: str, t: Transition) -> None:
                changes.append(t)
                risk_changed(venue, symbol, t)

            monkeypatch.setattr(bot, "risk_changed", spy)
            await wait_for(lambda: level(bot) == "freeze", window)
            freeze = [t for t in changes if t.to_level is RiskLevel.FREEZE]
            assert freeze and "book_stale" in freeze[0].reasons, changes
            return
        while time.monotonic() < t_end:
            assert level(bot) == "normal", bot.runners[0].risk_state
            assert feed.synced and ours(sim) == quotes  # quotes up, not even replaced
            await asyncio.sleep(0.05)
        assert c.depth_messages == depth0, "the market was not quiet"
        probes = c.probes - probes0
        assert window / probe_s - 3 <= probes <= window / probe_s + 1, probes
        # What ops see: the book is confirmed (the book-stale alert's metric) but unchanged.
        reg, labels = bot.metrics.registry, {"venue": "sim", "symbol": "KGST/USDT"}
        confirmed = reg.get_sample_value("pegbot_book_confirmed_timestamp_seconds", labels)
        changed = reg.get_sample_value("pegbot_book_last_update_timestamp_seconds", labels)
        assert confirmed is not None and changed is not None
        assert time.time() - confirmed < stale_s < time.time() - changed
        assert c.silent_gaps == 0 and c.probe_errors == 0 and c.resyncs == 0


async def test_bot_freezes_on_a_silent_gap_and_stays_frozen(sim: SimHandle, tmp_path: Path) -> None:
    # The production shape (probe well under book_stale_s): a connected stream that stops
    # pushing while the venue's book moves is caught by the probe before book_stale, and the
    # bot stays frozen for as long as the stream is silent (the resynced book is held).
    await seed_book(sim)
    settings = bot_settings(
        sim, tmp_path, risk={"book_stale_s": 4.0}, venues={"sim": {"quiet_probe_s": 0.5}}
    )
    maker = sim.maker()
    stop = asyncio.Event()

    async def mover() -> None:
        while not stop.is_set():
            o = await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01100)
            await maker.cancel_order(o["id"], "KGST/USDT")
            await asyncio.sleep(0.1)

    moving = asyncio.create_task(mover())
    try:
        async with run_bot(settings) as bot:
            await wait_for(lambda: quoting_both(bot, sim) and level(bot) == "normal", 10)
            feed = bot.runners[0].feed
            assert isinstance(feed, BinanceFeed)
            t0 = time.monotonic()
            await sim.admin("faults", {"ws_delay_ms": 60_000})  # connected, nothing arrives
            await wait_for(lambda: level(bot) == "freeze", 3)
            assert time.monotonic() - t0 < 4.0  # before book_stale could have said it
            rs = bot.runners[0].risk_state
            assert rs is not None and "book_unsynced" in {t.name for t in rs.triggers}
            assert feed.counters.silent_gaps >= 1
            await wait_for(lambda: not ours(sim), 5)  # quotes pulled on the exchange
            t_end = time.monotonic() + 2.0
            while time.monotonic() < t_end:
                assert level(bot) == "freeze" and not ours(sim) and not feed.synced
                await asyncio.sleep(0.05)
            await sim.admin("faults", {"ws_delay_ms": 0})
            await sim.admin("drop_ws")
            await wait_for(lambda: quoting_both(bot, sim) and level(bot) == "normal", 15)
    finally:
        stop.set()
        await moving
        await sim.admin("faults", {"ws_delay_ms": 0})
