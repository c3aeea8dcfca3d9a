"""The running bot against the simulator (through unmodified ccxt) while faults are injected.

Each scenario asserts the three things the desk looks at: the bot's risk state, the orders
open on the exchange (read from the simulator's engine, so the check itself never suffers
the injected REST faults), and the journal (risk transitions, fills once each). A sampler
watches the exchange during every fault: our open orders never exceed the ladder (two
levels a side), and no client order id is ever used twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import pytest
from _rel_bot import (
    SYM,
    assert_exchange_clean,
    assert_journal,
    fast_venue,
    level,
    open_sides,
    ours_open,
    quoting_both,
    reasons_of,
    watching,
)

from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.live.wiring import make_venue
from pegbot.market import Side
from pegbot.sim.model import GTC, LIMIT, NewOrder
from pegbot.sim.testing import MAKER_KEY, SimHandle
from pegbot.testing.bot import LEVELS, bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(90)


# -- scenarios --------------------------------------------------------------------------------


async def test_ws_drop_then_reconnect_and_requote(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        feed = bot.runners[0].feed
        assert feed is not None
        for _ in range(2):
            connects = feed.counters.connects
            await sim.admin("drop_ws")
            await wait_for(lambda c=connects: feed.counters.connects > c, 10)  # type: ignore[misc]
            await wait_for(lambda: feed.synced and quoting_both(sim) and level(bot) == "normal", 10)
    assert bot.final_summary["open_orders_after_shutdown"] == 0  # type: ignore[attr-defined]
    assert ours_open(sim) == []
    placed = assert_exchange_clean(sim, w)
    _, transitions = assert_journal(settings, sim)
    reliability.fault(
        "WebSocket drop (x2)", "admin drop_ws: streams and WS API closed",
        f"reconnected, resynced, quoting both sides again; {placed} orders, no duplicate; "
        f"{len(transitions)} risk transitions journaled",
    )  # fmt: skip


async def test_update_id_gap_forces_a_resync(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    async with run_bot(settings) as bot, watching(sim) as w:
        await wait_for(lambda: quoting_both(sim), 10)
        feed = bot.runners[0].feed
        assert feed is not None
        before = feed.counters.snapshots
        await sim.admin("skip_update_ids", {"symbol": SYM, "count": 3})
        maker = sim.maker()
        await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01120)  # a diff after it
        await wait_for(lambda: feed.counters.gaps >= 1, 10)
        await wait_for(lambda: feed.counters.snapshots > before and feed.synced, 10)
        await wait_for(lambda: quoting_both(sim) and level(bot) == "normal", 10)
        # The resynced book equals the exchange's.
        book = sim.exchange.engine.book(SYM)
        assert feed.book.update_id <= book.update_id
    assert_exchange_clean(sim, w)
    assert_journal(settings, sim)
    reliability.fault(
        "update-id gap", "admin skip_update_ids (3 ids)",
        f"gap seen ({feed.counters.gaps}), new snapshot, book synced, quoting again",
    )  # fmt: skip


async def test_connected_but_silent_stream_freezes(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(
        sim, tmp_path, extra="", peg=_STATIC.replace("max_age_s = 60", "max_age_s = 600")
    )
    # The staleness path on its own: probing off (with it, the REST probe catches the silent
    # stream first, as book_unsynced: tests/integration/test_feed_quiet.py).
    venues = {n: v.model_copy(update={"quiet_probe_s": None}) for n, v in settings.venues.items()}
    settings = settings.model_copy(
        update={"risk": settings.risk.model_copy(update={"book_stale_s": 1.5}), "venues": venues}
    )
    maker = sim.maker()
    await maker.load_markets()
    stop = asyncio.Event()

    async def traffic() -> None:  # a market that keeps moving, so silence means a fault
        while not stop.is_set():
            o = await maker.create_order("KGST/USDT", "limit", "buy", 1000, 0.01100)
            await maker.cancel_order(o["id"], "KGST/USDT")
            await asyncio.sleep(0.2)

    mover = asyncio.create_task(traffic())
    try:
        async with run_bot(settings) as bot, watching(sim) as w:
            await wait_for(lambda: quoting_both(sim) and level(bot) == "normal", 10)
            await sim.admin("faults", {"ws_delay_ms": 120_000})  # connected, nothing arrives
            await wait_for(lambda: level(bot) == "freeze", 8)
            await wait_for(lambda: ours_open(sim) == [], 5)  # quotes pulled on the exchange
            rs = bot.runners[0].risk_state
            assert rs is not None and "book_stale" in {t.name for t in rs.triggers}
            await sim.admin("faults", {"ws_delay_ms": 0})
            await sim.admin("drop_ws")  # the delayed messages are dropped with the connection
            await wait_for(lambda: quoting_both(sim) and level(bot) == "normal", 15)
    finally:
        stop.set()
        await mover
    assert_exchange_clean(sim, w)
    _, transitions = assert_journal(settings, sim)
    assert "book_stale" in reasons_of(transitions)
    reliability.fault(
        "connected but silent stream", "ws_delay_ms=120000 (socket open, no messages)",
        "freeze on book_stale within 1.5 s + a tick, quotes cancelled on the exchange, "
        "journaled; back to normal after reconnect",
    )  # fmt: skip


_STATIC = """[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }]
"""


async def test_rest_5xx_and_timeout_bursts_never_duplicate(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    maker = sim.maker()
    await maker.load_markets()
    bot = Bot(settings, fast_venue, journal=Journal(settings.journal.path))
    task = asyncio.create_task(bot.run())
    try:
        async with watching(sim) as w:
            await wait_for(lambda: quoting_both(sim), 10)
            injected = {}
            for mode in ("5xx", "timeout"):
                await sim.admin(
                    "faults",
                    {"rest_fail_rate": 0.4, "rest_fail_mode": mode, "rest_timeout_s": 2.0},
                )
                # Move fair-relevant state so the bot must requote during the burst.
                for _ in range(10):
                    bot.runners[0].book_changed.set()
                    with contextlib.suppress(Exception):
                        await maker.create_order("KGST/USDT", "market", "sell", 1500)
                    await asyncio.sleep(0.3)
                await sim.admin("faults", {"rest_fail_rate": 0.0})
                injected[mode] = sim.exchange.faults.injected.get(f"rest_{mode}", 0)
            await wait_for(lambda: quoting_both(sim), 15)
            # Settled: our open orders equal the bot's live set, level by level.
            await asyncio.sleep(1.5)
            assert all(n <= LEVELS for n in open_sides(sim).values())  # settled: the ladder
            live = {cid for cid, o in bot.runners[0].live.items() if o.status.value == "open"}
            assert {o.client_order_id for o in ours_open(sim)} <= set(bot.runners[0].live)
            assert live <= {o.client_order_id for o in ours_open(sim)}
    finally:
        bot.stop()
        summary = await asyncio.wait_for(task, 30)
        bot.journal.close()
    assert summary["open_orders_after_shutdown"] == 0
    # While cancels fail, no replacement goes out beside an order not confirmed gone
    # (loop.cap_side_exposure): never more than the ladder a side, even during the bursts.
    placed = assert_exchange_clean(sim, w)
    fills, _ = assert_journal(settings, sim)
    assert injected["5xx"] > 0 and injected["timeout"] > 0
    reliability.fault(
        "REST 5xx burst, then time-out burst",
        f"40% of REST calls: {injected['5xx']} x 503, {injected['timeout']} x stalled 2 s",
        f"retried/looked up; {placed} orders, no client id twice, never one order open twice, "
        f"at most {max(w.max_open_per_side.values())} a side while cancels failed (ladder "
        f"{LEVELS}); {len(fills)} fills journaled once; none left open",
    )  # fmt: skip


def _limiter(sim: SimHandle) -> tuple[int, int]:
    lim = sim.exchange.limiter
    return sum(w.rejected for w in lim._ips.values()), len(lim._bans)


def _spend_weight(sim: SimHandle, leave: int) -> None:
    # Another tool of the desk on the same IP spent the minute's weight (all but ``leave``).
    lim = sim.exchange.limiter
    now = time.time_ns() + sim.exchange.faults.clock_skew_ms * 1_000_000
    used = lim.used_weight("127.0.0.1", now)
    lim.charge("127.0.0.1", max(0, lim.config.weight_per_minute - used - leave), now)


def _maker_bid_direct(sim: SimHandle, price_ticks: int, lots: int) -> None:
    # The counterparty's order goes straight into the engine: a REST order would share the
    # spent IP weight and be refused itself. Publishing sends the depth diff out.
    ex = sim.exchange
    market = ex.engine.books[SYM].market
    req = NewOrder(SYM, Side.BUY, LIMIT, market.lots_to_units(lots), price_ticks, GTC)
    ex.engine.place(MAKER_KEY, req, ex.now_ns())
    ex.publish()


async def _early_in_a_minute(latest_s: float) -> None:
    # The simulator's 429 lasts to the end of its minute: start early enough in one that the
    # Retry-After surely outlasts what the test watches.
    into = time.time() % 60.0
    if into > latest_s:
        await asyncio.sleep(60.0 - into + 0.2)


@pytest.mark.parametrize("during", ["quoting", "resync"], ids=["venue", "feed-resync"])
async def test_429_backs_off_before_any_418(
    sim: SimHandle, during: str, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    settings = bot_settings(sim, tmp_path)
    shutdown_s = 2.0
    settings = settings.model_copy(
        update={"loop": settings.loop.model_copy(update={"shutdown_timeout_s": shutdown_s})}
    )
    journal = Journal(settings.journal.path)
    bot = Bot(settings, make_venue, journal=journal)
    task = asyncio.create_task(bot.run())
    feed_note = ""
    try:
        async with watching(sim) as w:
            await wait_for(lambda: quoting_both(sim), 15)
            await _early_in_a_minute(45.0)
            feed = bot.runners[0].feed
            assert feed is not None
            gaps, snap_errors = feed.counters.gaps, feed.counters.snapshot_errors
            _spend_weight(sim, leave=0)
            if during == "resync":
                await sim.admin("skip_update_ids", {"symbol": SYM, "count": 2})
                _maker_bid_direct(sim, 1120, 1000)
                # The gap is seen, the snapshot that would resync is refused (429)...
                await wait_for(lambda: feed.counters.snapshot_errors > snap_errors, 10)
                assert feed.counters.gaps > gaps
                errors_at_429 = feed.counters.snapshot_errors
            for _ in range(30):  # keep asking it to decide while it is blocked
                bot.runners[0].book_changed.set()
                await asyncio.sleep(0.1)
            await wait_for(lambda: _limiter(sim)[0] > 0, 10)
            await asyncio.sleep(1)
            rejected, bans = _limiter(sim)
            alive = not task.done()
            if during == "resync":
                # ...and the feed waits out its Retry-After (tens of seconds here) instead
                # of asking again: 4 s later still no second snapshot request, no book.
                assert feed.counters.snapshot_errors == errors_at_429
                assert not feed.synced
                assert level(bot) != "normal", "quoting on a book it could not resync"
                feed_note = (
                    f"; the feed saw the gap, its snapshot got one 429 and it asked no more "
                    f"(Retry-After), risk {level(bot)} meanwhile"
                )
    finally:
        bot.stop()
        # The final cancel-all is rate-limited too: it keeps to shutdown_timeout_s.
        t0 = time.monotonic()
        summary = await asyncio.wait_for(task, shutdown_s + 5)
        took = time.monotonic() - t0
        journal.close()
    assert alive, "the bot died on a 429"
    assert bans == 0, "the bot earned a 418 ban"
    assert took < shutdown_s + 0.5, took
    assert summary["open_orders_after_shutdown"] == len(ours_open(sim))
    assert_exchange_clean(sim, w)
    assert_journal(settings, sim)
    reliability.fault(
        f"request weight limit (429) while {during}",
        "the minute's weight spent by another client on the same IP",
        f"{rejected} x 429, Retry-After honoured, 0 x 418 (bans after 3), bot alive"
        f"{feed_note}; shutdown returned in {took:.1f} s (limit {shutdown_s} s) reporting "
        f"{summary['open_orders_after_shutdown']} orders left",
    )  # fmt: skip
