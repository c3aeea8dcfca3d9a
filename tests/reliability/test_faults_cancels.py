"""Cancels that fail, and a shutdown under a rate limit, against the simulator through ccxt.

* While every single-order cancel and cancel-replace is refused (the simulator's
  ``cancel_fail_rate`` fault: HTTP/status 503, Binance ``-1001``, REST and WS API), the bot must
  not add orders beside the ones it cannot cancel: the quantity of our open orders a side,
  read from the simulator's engine every 20 ms, never exceeds one ladder across several
  requotes; once cancels work again it converges to exactly one ladder at the new prices.
* Shutdown's cancel-all keeps to ``loop.shutdown_timeout_s``: under a 429 whose Retry-After
  runs past the deadline it returns in time and reports (ERROR log, journal, metric) the
  orders it left; a Retry-After that fits is waited out and everything is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _rel_bot import assert_journal, fast_venue, ours_open, quoting_both

from pegbot.journal import Journal
from pegbot.live.bot import Bot
from pegbot.market import Side
from pegbot.sim.model import GTC, LIMIT, NewOrder
from pegbot.sim.testing import MAKER_KEY, SimHandle
from pegbot.strategy import DesiredQuotes, Quote
from pegbot.testing.bot import bot_settings, run_bot, seed_book, wait_for

pytestmark = pytest.mark.timeout(90)


@contextlib.contextmanager
def cancels_refused(sim: SimHandle) -> Iterator[Callable[[], int]]:
    """Every single-order cancel and cancel-replace, REST or WebSocket API, answers 503 -1001
    (the order stays on the book). Yields the count of cancels refused so far."""
    faults = sim.exchange.faults
    faults.update({"cancel_fail_rate": 1.0})
    try:
        yield lambda: faults.injected.get("cancel_5xx", 0)
    finally:
        faults.update({"cancel_fail_rate": 0.0})


def _open_qty(sim: SimHandle) -> dict[str, int]:
    out = {"buy": 0, "sell": 0}
    for o in ours_open(sim):
        out["buy" if int(o.side) > 0 else "sell"] += o.remaining
    return out


@contextlib.asynccontextmanager
async def _qty_watch(sim: SimHandle) -> AsyncIterator[dict[str, int]]:
    top = {"buy": 0, "sell": 0, "samples": 0}

    async def loop() -> None:
        while True:
            for side, qty in _open_qty(sim).items():
                top[side] = max(top[side], qty)
            top["samples"] += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(loop())
    try:
        yield top
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _full_ladder(sim: SimHandle, bot: Bot) -> bool:
    # Quoting in ``normal`` with the whole ladder out: 2 levels a side of 1000 lots (the
    # bot starts in a wider, smaller ``defend`` until the book and fair agree).
    runner = bot.runners[0]
    rs = runner.risk_state
    unit = runner.market.lots_to_units(1000)
    orders = ours_open(sim)
    return (
        rs is not None
        and rs.level.label == "normal"
        and len(orders) == 4
        and all(o.remaining == unit for o in orders)
        and all(o.status.value == "open" for o in runner.live.values())
    )


def _spy_ladder(runner: Any) -> tuple[dict[Side, int], list[Quote]]:
    """Record the largest ladder (lots a side) the bot asked its reconciler for, and the
    quotes of the last diff (the ladder it wants now)."""
    rec = runner.reconciler
    diff = rec.diff
    seen = {Side.BUY: 0, Side.SELL: 0}
    last: list[Quote] = []

    def recording(desired: DesiredQuotes, live: Any, now_ns: int = 0) -> Any:
        for side in seen:
            lots = sum(q.lots for q in desired.quotes if q.side is side)
            seen[side] = max(seen[side], lots)
        last[:] = desired.quotes
        return diff(desired, live, now_ns)

    rec.diff = recording
    return seen, last


def _file_peg(path: Path) -> str:
    return f"""[peg]
sources = [{{ name = "desk", kind = "file", path = "{path}", interval_s = 0.1, max_age_s = 60 }}]
"""


@contextlib.asynccontextmanager
async def _ladder_bot(
    sim: SimHandle, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[Bot, Path]]:
    """A bot whose fair comes from a rate file, with its full normal ladder out.

    Yields the bot and the rate file (write it, then ``os.utime``, to move fair). On exit
    the bot is stopped (cancel-all confirmed); its summary is left in ``bot.final_summary``.
    ``overrides`` are settings (``loop={...}``).
    """
    await seed_book(sim)
    rate = tmp_path / "usd_kgs.txt"
    rate.write_text("87.45\n")
    settings = bot_settings(sim, tmp_path, peg=_file_peg(rate), **overrides)
    async with run_bot(settings, venue_factory=fast_venue) as bot:
        await wait_for(lambda: _full_ladder(sim, bot), 15)
        yield bot, rate


async def test_refused_cancels_never_make_a_second_ladder(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    async with _ladder_bot(sim, tmp_path) as (bot, rate):
        runner = bot.runners[0]
        ladder, last = _spy_ladder(runner)
        await asyncio.sleep(0.3)
        ladder_units = runner.market.lots_to_units(max(ladder.values()))
        assert _open_qty(sim) == {"buy": ladder_units, "sell": ladder_units}
        before = {o.client_order_id for o in ours_open(sim)}
        async with _qty_watch(sim) as top:
            with cancels_refused(sim) as refused:
                # Four requotes: fair moves ~0.5 % each way, every level wants a new price.
                for usd_kgs in ("87.00", "87.90", "87.20", "87.60"):
                    rate.write_text(f"{usd_kgs}\n")
                    os.utime(rate)
                    await asyncio.sleep(1.0)
                during = {o.client_order_id for o in ours_open(sim)}
                assert refused() > 0, "the bot never tried to cancel"
            # Cancels work again: exactly one ladder, at the prices now wanted.
            rate.write_text("87.30\n")
            os.utime(rate)

            def settled() -> bool:
                # The exchange holds exactly the ladder last asked for, and the bot agrees.
                live = runner.live
                ids = {o.client_order_id for o in ours_open(sim)}
                got = sorted((int(o.side), o.price, o.remaining) for o in ours_open(sim))
                units = runner.market.lots_to_units
                want = sorted((int(q.side), q.price_ticks, units(q.lots)) for q in last)
                return (
                    got == want
                    and ids == set(live)
                    and all(o.status.value == "open" for o in live.values())
                )

            await wait_for(settled, 15)
            await asyncio.sleep(0.3)
            await wait_for(settled, 5)  # still (or again, after a requote) one ladder
            after = _open_qty(sim)
    summary = bot.final_summary  # type: ignore[attr-defined]
    # Nothing was added while the old ladder could not be cancelled.
    assert during == before
    # The largest ladder the bot ever wanted is the one it started with (never more).
    assert runner.market.lots_to_units(max(ladder.values())) == ladder_units
    assert top["buy"] <= ladder_units and top["sell"] <= ladder_units, top
    assert after["buy"] <= ladder_units and after["sell"] <= ladder_units
    assert summary["open_orders_after_shutdown"] == 0 and summary["shutdown_complete"]
    assert ours_open(sim) == []
    assert_journal(bot.settings, sim)

    def qty(units: int) -> str:
        return f"{runner.market.units_to_qty(units).normalize():f}"

    reliability.fault(
        "every single-order cancel refused (503) over 4 requotes",
        f"{refused()} cancels refused, {top['samples']} samples of the exchange",
        f"open qty a side never above one ladder (max {qty(top['buy'])}/{qty(top['sell'])} "
        f"KGST bid/ask, ladder {qty(ladder_units)}); no order added while the old ones stood; "
        "one ladder at the new prices once cancels worked",
    )  # fmt: skip


# -- shutdown within its deadline -----------------------------------------------------------


def _spend_all_weight(sim: SimHandle) -> None:
    lim = sim.exchange.limiter
    now = time.time_ns() + sim.exchange.faults.clock_skew_ms * 1_000_000
    used = lim.used_weight("127.0.0.1", now)
    lim.charge("127.0.0.1", lim.config.weight_per_minute - used, now)


async def _seconds_into_minute_at_most(limit: float) -> None:
    # The simulator's 429 lasts to the end of the minute: start early enough in one that
    # its Retry-After surely outlasts the shutdown deadline.
    into = time.time() % 60.0
    if into > limit:
        await asyncio.sleep(60.0 - into + 0.2)


async def test_shutdown_under_429_returns_by_its_deadline_and_reports_what_it_left(
    sim: SimHandle, tmp_path: Path, reliability: Any, caplog: pytest.LogCaptureFixture
) -> None:
    await seed_book(sim)
    timeout_s = 3.0
    settings = bot_settings(sim, tmp_path, extra="")
    settings = settings.model_copy(
        update={"loop": settings.loop.model_copy(update={"shutdown_timeout_s": timeout_s})}
    )
    bot = Bot(settings, fast_venue, journal=Journal(settings.journal.path))
    task = asyncio.create_task(bot.run())
    await wait_for(lambda: bot.started.is_set() or task.done(), 15)
    await wait_for(lambda: quoting_both(sim) and len(ours_open(sim)) == 4, 10)
    await _seconds_into_minute_at_most(45.0)
    await wait_for(lambda: len(ours_open(sim)) == 4, 10)
    _spend_all_weight(sim)
    rejected_before = sum(w.rejected for w in sim.exchange.limiter._ips.values())
    with caplog.at_level(logging.ERROR, logger="pegbot"):
        t0 = time.monotonic()
        bot.stop()
        summary = await asyncio.wait_for(task, timeout_s + 5)
        took = time.monotonic() - t0
    assert bot.journal is not None
    left_open = sorted(o.client_order_id for o in ours_open(sim))
    try:
        transitions = bot.journal.risk_transitions("sim")
    finally:
        bot.journal.close()
    rejected = sum(w.rejected for w in sim.exchange.limiter._ips.values()) - rejected_before
    assert took < timeout_s, f"shutdown took {took:.2f} s, the deadline is {timeout_s} s"
    assert len(sim.exchange.limiter._bans) == 0, "a 418 ban"
    # It says what it left, and that is what the exchange shows.
    assert len(left_open) == 4
    assert summary["open_orders_after_shutdown"] == 4 and not summary["shutdown_complete"]
    records = [r for r in caplog.records if getattr(r, "event", None) == "shutdown_incomplete"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    assert sorted(records[0].open_order_ids) == left_open  # type: ignore[attr-defined]
    assert all(cid in records[0].getMessage() for cid in left_open)
    notes = [t for t in transitions if "shutdown_incomplete" in t.reasons]
    assert len(notes) == 1 and sorted(notes[0].details) == left_open
    value = bot.metrics.registry.get_sample_value(
        "pegbot_order_rejects_total", {"venue": "sim", "symbol": "KGST/USDT", "reason": "deadline"}
    )
    assert value == 1.0
    reliability.fault(
        "shutdown while rate-limited (429 past the deadline)",
        f"the IP's minute of weight spent; shutdown_timeout_s = {timeout_s}",
        f"returned in {took:.2f} s with {len(left_open)} orders reported left (ERROR log with "
        f"the ids, journal, metric); {rejected} x 429, 0 x 418",
    )  # fmt: skip


async def test_shutdown_waits_out_a_retry_after_that_fits(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    await seed_book(sim)
    timeout_s = 4.0
    settings = bot_settings(sim, tmp_path)
    settings = settings.model_copy(
        update={"loop": settings.loop.model_copy(update={"shutdown_timeout_s": timeout_s})}
    )
    bot = Bot(settings, fast_venue, journal=Journal(settings.journal.path))
    task = asyncio.create_task(bot.run())
    await wait_for(lambda: bot.started.is_set() or task.done(), 15)
    await wait_for(lambda: len(ours_open(sim)) == 4, 10)
    # The venue just answered a 429 with Retry-After: 1 (fed to its guard as the reply's
    # headers would be): nothing may be sent for a second, which fits in the deadline.
    venue: Any = bot.runners[0].venue
    venue.guard.on_rate_limited({"Retry-After": "1"}, "Too much request weight used")
    t0 = time.monotonic()
    bot.stop()
    summary = await asyncio.wait_for(task, timeout_s + 5)
    took = time.monotonic() - t0
    assert bot.journal is not None
    bot.journal.close()
    assert 0.9 <= took < timeout_s, took
    assert summary["open_orders_after_shutdown"] == 0 and summary["shutdown_complete"]
    assert ours_open(sim) == []
    assert_journal(settings, sim)
    reliability.fault(
        "shutdown while rate-limited (Retry-After 1 s, deadline 4 s)",
        "a 429's Retry-After that ends before the shutdown deadline",
        f"waited it out, cancelled and confirmed everything in {took:.2f} s",
    )  # fmt: skip


async def test_tick_to_quote_counts_the_wait_for_a_refused_cancel(
    sim: SimHandle, tmp_path: Path
) -> None:
    """A requote a book message asked for, held back while its cancel is refused, is timed
    from that message to the order going out (not dropped from tick-to-quote).

    Cancel and place as two requests (no cancel-replace, which the venue may not offer): with
    the side's exposure capped the place waits for the old order's cancel.
    """
    async with _ladder_bot(sim, tmp_path, loop={"replace": False}) as (bot, rate):
        runner = bot.runners[0]
        with cancels_refused(sim) as refused:
            rate.write_text("87.10\n")
            os.utime(rate)
            await wait_for(lambda: refused() > 0, 5)  # the requote is under way
            timed = len(runner.status.tick_to_quote_s)
            feed = runner.feed
            assert feed is not None
            seen = feed.counters.book_updates
            _maker_bid_direct(sim, 1110, 500)  # a book message wakes the loop
            await wait_for(lambda: feed.counters.book_updates > seen, 5)
            t_book = time.monotonic()
            await asyncio.sleep(1.0)
            assert len(runner.status.tick_to_quote_s) == timed  # nothing went out yet
        await wait_for(lambda: len(runner.status.tick_to_quote_s) > timed, 10)
        waited = time.monotonic() - t_book
        latency = runner.status.tick_to_quote_s[timed]
    assert 1.0 <= latency <= waited + 0.1, (latency, waited)


def _maker_bid_direct(sim: SimHandle, price_ticks: int, lots: int) -> None:
    # The counterparty's order straight into the engine (no REST round trip to wait for).
    ex = sim.exchange
    market = ex.engine.books["KGSTUSDT"].market
    req = NewOrder("KGSTUSDT", Side.BUY, LIMIT, market.lots_to_units(lots), price_ticks, GTC)
    ex.engine.place(MAKER_KEY, req, ex.now_ns())
    ex.publish()
