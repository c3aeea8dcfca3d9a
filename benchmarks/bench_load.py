"""Load: the bot against the simulator pushing market data at 10x KGST's busiest rate.

**The rate.** Binance sends ``depth@100ms`` at most ten times a second per symbol, so the
busiest KGST/USDT can be is about 10 depth messages/s plus its trades; we take 15 messages/s
(10 depth + 5 trades, far above KGST's ~$0.5 M a day) as the busiest and push 10x that:
the simulator sends depth every 10 ms instead of 100 ms, and its order-flow crowd runs
``--speed`` times faster than the calibrated day (with market orders at 1/s of market time),
so the book changes in almost every 10 ms window and trades stream alongside.

**What is measured**, sampled every second while the bot (in this process; ``pegbot sim`` in
another) quotes:

* messages/s the bot's feed received, against what the simulator pushed;
* queues: what waits anywhere between the socket and an order request (WebSocket frames
  received and not read, feed and venue event queues, requests in flight, the event loop's
  ready callbacks), max and last-minute trend; a queue that grows also shows as a growing
  feed delay (local receive time minus the exchange's event time of the newest book) and
  event-loop lag; and the simulator's slow-consumer drops;
* memory of the bot's process: RSS and its slope over the second half, the Python heap
  (allocated blocks, ``gc`` objects), malloc in use and SQLite's own memory; every
  list/dict/set/deque reachable from the bot's objects at half time and at the end (those
  that grew, with the bytes they hold); ``--heap`` adds ``tracemalloc`` growth by traceback;
  the simulator's RSS (its own process);
* tick-to-quote: book message received -> order request sent, p50 and p99.

**Verdict** (printed last): rate held (>= 90 % of the target, nothing dropped), no growing
queue (at most :data:`QUEUE_MAX` queued, feed delay not growing), RSS flat (slope under
:data:`RSS_FLAT_MB_PER_MIN`), and no container growing without a bound (:data:`BOUNDED`
lists the bounded ones, :data:`KNOWN_UNBOUNDED` the ones reported and not yet fixed). The
bounded caches fill for a long time at this rate (ccxt's 1000 orders and trades in ~4 min,
the venue's 20,000-entry memories in ~40 min): ``--cache-limit 200`` shrinks them so they
are full before the measured half, which separates caches filling from a leak.

Run: ``.venv/bin/python benchmarks/bench_load.py [--duration 180] [--speed 60]
[--cache-limit N] [--heap] [--json OUT]``. The reliability suite runs a shortened version
(``tests/reliability/test_load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import sys
import tempfile
import time
import tracemalloc
from array import array
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pegbot.config import load_settings  # noqa: E402
from pegbot.journal import Journal  # noqa: E402
from pegbot.live.bot import Bot  # noqa: E402
from pegbot.live.wiring import make_venue  # noqa: E402
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load_probes import (  # noqa: E402
    containers,
    deep_bytes,
    growth,
    heap_growth,
    native_mb,
    queue_depths,
    rss_mb,
    size,
)

BUSIEST_MSGS_PER_S = 15.0  # see the module docstring

#: "Flat" memory: the RSS slope over the second half stays below this. At the ~245 msg/s
#: pushed, 0.5 MB/min is ~34 bytes a message: anything kept per message (one small object
#: is 50+ bytes) crosses it, while the allocator's and caches' settling stays under it once
#: the bounded caches are full (``--cache-limit``). Slower leaks, per order (~8/s here), are
#: caught by the container check instead: no container without a bound may grow.
RSS_FLAT_MB_PER_MIN = 0.5
#: Entries queued anywhere between the socket and an order request (``queue_depths``):
#: the WebSocket reader pauses at 16 frames, so more than this means the bot fell behind.
QUEUE_MAX = 50

#: Containers that grow with orders or fills but have a bound (path -> the bound, and where).
BOUNDED: dict[str, str] = {
    "runner.venue.client.orders": "ccxt ordersLimit (1000 by default)",
    "runner.venue.client.myTrades": "ccxt tradesLimit (1000 by default)",
    "runner.venue._latest": "CcxtVenue dedup_memory (20,000)",
    "runner.venue._seen_orders": "CcxtVenue dedup_memory (20,000)",
    "runner.venue._seen_fills": "CcxtVenue dedup_memory (20,000)",
    "runner.orders._done": "OrderTracker memory (20,000)",
    "runner.orders._seen_trades": "OrderTracker memory (20,000)",
    "runner.venue._client_ids": "CcxtVenue dedup_memory (20,000)",
    "runner.risk.transitions": "drained as each transition is journaled",
    "runner.status.tick_to_quote_s": "VenueRunner: trimmed above 10,000",
    "runner.risk._rejects": "Risk: samples of the last reject_window_s (60 s)",
    "ledger._seen": "Ledger DEDUP_MEMORY (20,000) per venue",
    "ledger._accounts": "Ledger DEDUP_MEMORY (20,000) fills' moves per venue (the balance check)",
    "runner.holdings._after": "VenueHoldings MEMORY (20,000); emptied at each balance refresh",
    "runner.reconciler._wanted": "Reconciler _WANTED_MEMORY (256 desired ladders, then cleared)",
    "runner.scorecard._pieces": "LiveScorecard window_s (300 s; a piece per change of state)",
    "runner.scorecard._samples": "LiveScorecard window_s (300 s)",
    "runner.scorecard._placed": "LiveScorecard window_s (300 s)",
    "runner.scorecard._fills": "LiveScorecard window_s (300 s)",
}
#: Containers known to grow per order/fill without a bound, not yet fixed (a new one fails
#: the verdict). The three found by the first runs are now bounded (see BOUNDED).
KNOWN_UNBOUNDED: dict[str, str] = {}


def _bound_of(path: str) -> str | None:
    for prefix, bound in BOUNDED.items():
        if path == prefix or path.startswith(prefix + "["):
            return bound
    return None


def verdict(r: dict[str, Any]) -> dict[str, Any]:
    """Pass/fail of each promise ("held", "no growing queue", "flat memory") with the why."""
    grown = r["containers_grown_second_half"]
    unbounded = {
        p: v for p, v in grown.items() if _bound_of(p) is None and p not in KNOWN_UNBOUNDED
    }
    known = {p: v for p, v in grown.items() if p in KNOWN_UNBOUNDED}
    rate_ok = r["msgs_per_s"] >= 0.9 * r["target_msgs_per_s"] and r["queue_dropped"] == 0
    queue_ok = (
        r["queue_total_max"] <= QUEUE_MAX
        and r["resyncs"] == 0
        and r["feed_delay_p50_second_ms"] < max(20.0, 3 * r["feed_delay_p50_first_ms"])
    )
    rss_ok = r["rss_slope_mb_per_min"] < RSS_FLAT_MB_PER_MIN
    return {
        "rate_held": rate_ok,
        "no_growing_queue": queue_ok,
        "rss_flat": rss_ok,
        "rss_threshold_mb_per_min": RSS_FLAT_MB_PER_MIN,
        "new_unbounded_containers": sorted(unbounded),
        "known_unbounded_grew": {p: v[2] for p, v in known.items()},
        "bounded_still_filling": sorted(p for p in grown if _bound_of(p) is not None),
        "memory_flat": rss_ok and not unbounded and not known,
    }


def render_verdict(r: dict[str, Any]) -> str:
    """The verdict as a few lines of text."""
    v = r["verdict"]
    ok = {True: "PASS", False: "FAIL"}
    q = ", ".join(f"{k} {int(n)}" for k, n in r["queue_max"].items())
    lines = [
        f"rate            {ok[v['rate_held']]}: {r['msgs_per_s']:.0f} msg/s received, target "
        f"{r['target_msgs_per_s']:.0f} (10 x {r['busiest_msgs_per_s']:.0f}); "
        f"dropped {r['queue_dropped']}, resyncs {r['resyncs']}",
        f"growing queue   {ok[v['no_growing_queue']]}: max queued {r['queue_total_max']:.0f} "
        f"(<= {QUEUE_MAX}; {q}), last-minute trend {r['queue_total_slope_last_min_per_min']:+.2f}"
        f"/min; feed delay p50 {r['feed_delay_p50_first_ms']:.2f} -> "
        f"{r['feed_delay_p50_second_ms']:.2f} ms, max {r['feed_delay_max_ms']:.1f} ms, "
        f"last-minute trend {r['feed_delay_slope_last_min_ms_per_min']:+.2f} ms/min",
        f"RSS slope       {ok[v['rss_flat']]}: {r['rss_slope_mb_per_min']:+.2f} MB/min over the "
        f"second half (flat: < {RSS_FLAT_MB_PER_MIN} MB/min); RSS {r['rss_start_mb']:.1f} -> "
        f"{r['rss_half_mb']:.1f} -> {r['rss_end_mb']:.1f} MB; Python heap "
        f"{r['py_blocks_slope_per_min'] / 1e3:+.1f} k blocks/min",
        f"containers      {ok[not v['new_unbounded_containers']]}: no bound and growing: "
        f"{v['new_unbounded_containers'] or 'none'}; known (reported): "
        + (", ".join(f"{p} +{n:.0f}/min" for p, n in v["known_unbounded_grew"].items()) or "none")
        + f"; bounded, still filling: {', '.join(v['bounded_still_filling']) or 'none'}",
        f"memory flat     {ok[v['memory_flat']]}",
        f"tick-to-quote   p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms over "
        f"{r['quotes']:,} orders ({r['quotes_per_s']:.1f}/s)",
    ]
    return "\n".join(lines)


def _slope_per_min(xs: list[float], ys: list[float]) -> float:
    if len(xs) < 3:
        return 0.0
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return 60 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den if den else 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def _root_cause(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def _bot_toml(http: str, ws: str, tmp: Path) -> Path:
    path = tmp / "bot.toml"
    path.write_text(
        f'''mode = "testnet"
[venues.sim]
rest_url = "{http}"
ws_url = "{ws}"
target_base = 1000000
[strategy]
name = "peg_ladder"
[strategy.params]
levels = 3
first_bps = 1
step_bps = 2
size_lots = 1000
inventory_range_lots = 200000
[risk]
book_stale_s = 30
deviation_freeze_bps = 1000
cooldown_s = 1.0
[loop]
interval_s = 0.2
balance_refresh_s = 5.0
control_dir = "{tmp / "control"}"
[journal]
path = "{tmp / "journal.sqlite"}"
[metrics]
enabled = false
[peg]
sources = [{{ name = "static", kind = "static", rate = "87.45" }}]
'''
    )
    return path


_SIM_TOML = """depth_interval_ms = 10
[flow.rates]
market_per_s = 1.0
[flow.sizes]
limit_median_lots = 2000
market_median_lots = 4000
"""


async def _start_sim(speed: float, tmp: Path) -> tuple[asyncio.subprocess.Process, str, str]:
    # Its own process: the bot's RSS is then the bot's alone, and each gets a core. A thinner
    # crowd than the calibrated day, so market orders reach our quotes: fills make the bot
    # replace orders while the data pours in (a static fair alone never requotes).
    cfg = tmp / "sim.toml"
    cfg.write_text(_SIM_TOML)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from pegbot.cli import app; app()", "sim", "--port", str(port),
        "--market", "flow", "--speed", str(speed), "--config", str(cfg),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert proc.stdout is not None
    await asyncio.wait_for(proc.stdout.readline(), 30)  # the URLs line: it is listening
    return proc, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"


async def _pushed(http: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{http}/admin/state") as r:
        return int((await r.json())["messages_pushed"])


def _small_caches(limit: int) -> Any:
    def factory(name: str, vs: Any, settings: Any) -> Any:
        venue = make_venue(name, vs, settings)
        client = getattr(venue, "client", None)
        if client is not None:  # ccxt.pro's caches of watched orders and trades
            client.options["ordersLimit"] = client.options["tradesLimit"] = limit
        if hasattr(venue, "_dedup_memory"):
            venue._dedup_memory = limit
        return venue

    return factory


async def run_load(
    duration_s: float = 180.0,
    speed: float = 60.0,
    *,
    heap: bool = False,
    cache_limit: int | None = None,
) -> dict[str, Any]:
    """Run the bot against a busy simulator for ``duration_s``; return the figures.

    Args:
        duration_s: Seconds of load after the bot is synced and quoting.
        speed: Crowd speed of the simulator (market seconds per second).
        heap: Trace Python allocations (``tracemalloc``, 8 frames) and report the top growth
            by traceback between the end of the first half and the end. For attribution
            only: tracing slows the bot about twice, its RSS, queue and latency figures then
            mean nothing.
        cache_limit: Shrink the caches that have a bound (ccxt's order and trade caches,
            1000 each by default, and the venue's de-duplication memory, 20,000) to this many
            entries, so they are full before the measured half: what still grows then has
            no bound. None: the bot as configured.
    """
    samples: list[dict[str, float]] = []
    sizes: list[tuple[float, dict[str, int]]] = []
    objects: list[tuple[float, int]] = []
    snap_half: Any = None
    traced: list[dict[str, Any]] = []
    if heap:
        tracemalloc.start(8)
    with tempfile.TemporaryDirectory(prefix="pegbot-load-") as tmpdir:
        tmp = Path(tmpdir)
        sim, http, ws = await _start_sim(speed, tmp)
        settings = load_settings(
            _bot_toml(http, ws, tmp),
            environ={
                "PEGBOT_VENUES__SIM__API_KEY": DEMO_API_KEY,
                "PEGBOT_VENUES__SIM__API_SECRET": DEMO_API_SECRET,
            },
        )
        journal = Journal(settings.journal.path)
        factory = make_venue if cache_limit is None else _small_caches(cache_limit)
        bot = Bot(settings, factory, journal=journal)
        task = asyncio.create_task(bot.run())
        try:
            deadline = time.monotonic() + 30
            while not (bot.started.is_set() and bot.runners[0].feed and bot.runners[0].feed.synced):
                if task.done():
                    task.result()
                if time.monotonic() > deadline:
                    raise RuntimeError("the bot did not start")
                await asyncio.sleep(0.05)
            runner = bot.runners[0]
            feed = runner.feed
            assert feed is not None
            if cache_limit is not None:
                runner.orders.memory = cache_limit  # the tracker's id memories, like the venue's
                # The scorecard's rolling window, shrunk alike so it is seen to hold its bound.
                runner.scorecard.window_ns = 5_000_000_000

            def roots() -> dict[str, object]:
                # The runner and ledger first: a container is named by the first path that
                # reaches it (the runner also reaches the ledger through its context).
                return {
                    "ledger": bot.ledger, "runner": runner, "bot": bot, "venue": runner.venue,
                    "feed": feed,
                    "ccxt": getattr(runner.venue, "client", None), "metrics": bot.metrics,
                    "journal": journal,
                }  # fmt: skip

            t0 = time.monotonic()
            m0, p0 = feed.counters.messages, await _pushed(http)
            q0 = runner.status.quotes_placed
            runner.status.tick_to_quote_s.clear()
            # The sampling must not grow the process it measures: one row of floats a second in
            # arrays, container sizes only at half time and at the end.
            cols: dict[str, array[float]] = {}
            next_objects = 0.0
            while (now := time.monotonic()) - t0 < duration_s and not task.done():
                before = time.monotonic()
                await asyncio.sleep(1.0)
                lag = time.monotonic() - before - 1.0  # how late the loop woke us
                t = now - t0
                book = feed.book
                delay = (book.local_ts - book.exch_ts) / 1e9 if book.exch_ts else 0.0
                row = {
                    "t": t,
                    "rss_mb": rss_mb(),
                    "sim_rss_mb": rss_mb(sim.pid),
                    "malloc_mb": native_mb()[0],
                    "sqlite_mb": native_mb()[1],
                    "py_blocks": float(sys.getallocatedblocks()),
                    "messages": feed.counters.messages - m0,
                    "pushed": await _pushed(http) - p0,
                    "feed_delay_s": delay,
                    "loop_lag_s": max(0.0, lag),
                    "resyncs": feed.counters.resyncs,
                    "queue_dropped": feed.counters.queue_dropped,
                    "quotes": runner.status.quotes_placed - q0,
                    "live": len(runner.live),
                    "level": float(runner.risk_state.level) if runner.risk_state else -1.0,
                    **{f"q_{k}": float(v) for k, v in queue_depths(runner).items()},
                }
                for key, value in row.items():
                    cols.setdefault(key, array("d")).append(value)
                if not sizes and t >= duration_s / 2:
                    sizes.append((t, {k: size(v) for k, v in containers(roots()).items()}))
                if t >= next_objects:
                    next_objects += 10.0
                    objects.append((t, len(gc.get_objects())))
                if heap and snap_half is None and t >= duration_s / 2:
                    snap_half = tracemalloc.take_snapshot()
            if heap and snap_half is not None:
                traced = heap_growth(snap_half, tracemalloc.take_snapshot())
            held = containers(roots())
            sizes.append((time.monotonic() - t0, {k: size(v) for k, v in held.items()}))
            objects.append((time.monotonic() - t0, len(gc.get_objects())))
            elapsed = time.monotonic() - t0
            columns = list(cols.values())
            samples = [
                dict(zip(cols, values, strict=True)) for values in zip(*columns, strict=True)
            ]
            grown = growth(sizes[0], sizes[-1])
            watched = {*grown, *KNOWN_UNBOUNDED}
            end_sizes = {
                k: n for k, n in sizes[-1][1].items() if k in watched or _bound_of(k) is not None
            }
            for path, growth_row in grown.items():
                growth_row.append(deep_bytes(held[path]) / 1024)  # KiB held now
            ttq = list(runner.status.tick_to_quote_s)
            quotes = runner.status.quotes_placed - q0
            rs = runner.risk_state
            level = rs.level.label if rs else "unknown"
            reasons = sorted({t.name for t in rs.triggers}) if rs else []
        finally:
            bot.stop()
            died = task.done()  # before the stop: it ended on its own
            try:
                summary = await asyncio.wait_for(task, 60)
                error = None
            except Exception as exc:  # report it with the figures so far
                summary, error = {}, _root_cause(exc)
            transitions = [
                f"{t.from_state}->{t.to_state}:{t.reasons}" for t in journal.risk_transitions()
            ]
            journal.close()
            sim.terminate()
            await sim.wait()
            if heap:
                tracemalloc.stop()
    return _figures(
        samples, grown, end_sizes, objects, traced, elapsed, speed, ttq, quotes,
        {
            "cache_limit": cache_limit,
            "bot_error": error,
            "died_at_s": elapsed if died else None,
            "risk_level_at_end": level,
            "risk_reasons_at_end": reasons,
            "risk_transitions": transitions,
            "open_orders_after_shutdown": summary.get("open_orders_after_shutdown"),
        },
    )  # fmt: skip


def _figures(
    samples: list[dict[str, float]],
    grown: dict[str, list[float]],
    end_sizes: dict[str, int],
    objects: list[tuple[float, int]],
    heap_growth: list[dict[str, Any]],
    elapsed: float,
    speed: float,
    ttq: list[float],
    quotes: int,
    end_state: dict[str, Any],
) -> dict[str, Any]:
    half = [s for s in samples if s["t"] >= elapsed / 2]
    first = [s for s in samples if s["t"] < elapsed / 2]
    last_min = [s for s in samples if s["t"] >= elapsed - 60]
    last = samples[-1]
    ts = [s["t"] for s in half]
    qkeys = [k for k in last if k.startswith("q_")]
    depth = {k[2:]: max(s[k] for s in samples) for k in qkeys}
    obj_half = [(t, n) for t, n in objects if t >= elapsed / 2]
    return {
        "duration_s": elapsed,
        "speed": speed,
        "busiest_msgs_per_s": BUSIEST_MSGS_PER_S,
        "target_msgs_per_s": 10 * BUSIEST_MSGS_PER_S,
        "messages": int(last["messages"]),
        "msgs_per_s": last["messages"] / elapsed,
        "pushed_per_s": last["pushed"] / elapsed,
        "resyncs": int(last["resyncs"]),
        "queue_dropped": int(last["queue_dropped"]),
        "feed_delay_p50_first_ms": 1e3 * _pct([s["feed_delay_s"] for s in first], 0.5),
        "feed_delay_p50_second_ms": 1e3 * _pct([s["feed_delay_s"] for s in half], 0.5),
        "feed_delay_max_ms": 1e3 * max(s["feed_delay_s"] for s in samples),
        "feed_delay_slope_last_min_ms_per_min": 1e3
        * _slope_per_min([s["t"] for s in last_min], [s["feed_delay_s"] for s in last_min]),
        "queue_max": depth,
        "queue_total_max": max(sum(s[k] for k in qkeys) for s in samples),
        "queue_total_slope_last_min_per_min": _slope_per_min(
            [s["t"] for s in last_min], [sum(s[k] for k in qkeys) for s in last_min]
        ),
        "live_orders_max": int(max(s["live"] for s in samples)),
        "loop_lag_p99_ms": 1e3 * _pct([s["loop_lag_s"] for s in samples], 0.99),
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_half_mb": half[0]["rss_mb"] if half else samples[0]["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_slope_mb_per_min": _slope_per_min(ts, [s["rss_mb"] for s in half]),
        "malloc_mb_start_half_end": [
            samples[0]["malloc_mb"],
            half[0]["malloc_mb"],
            last["malloc_mb"],
        ],
        "malloc_slope_mb_per_min": _slope_per_min(ts, [s["malloc_mb"] for s in half]),
        "sqlite_mb_start_half_end": [
            samples[0]["sqlite_mb"],
            half[0]["sqlite_mb"],
            last["sqlite_mb"],
        ],
        "sim_rss_start_mb": samples[0]["sim_rss_mb"],
        "sim_rss_end_mb": last["sim_rss_mb"],
        "sim_rss_slope_mb_per_min": _slope_per_min(ts, [s["sim_rss_mb"] for s in half]),
        "py_blocks_end": int(last["py_blocks"]),
        "py_blocks_slope_per_min": _slope_per_min(ts, [s["py_blocks"] for s in half]),
        "gc_objects": [n for _, n in objects],
        "gc_objects_slope_per_min": _slope_per_min(
            [float(t) for t, _ in obj_half], [float(n) for _, n in obj_half]
        ),
        "containers_grown_second_half": grown,
        "container_sizes_end": end_sizes,
        "heap_growth_second_half": heap_growth,
        "quotes": quotes,
        "quotes_per_s": quotes / elapsed,
        "p50_ms": 1e3 * _pct(ttq, 0.5),
        "p99_ms": 1e3 * _pct(ttq, 0.99),
        "timeline_quotes_level": [(int(x["quotes"]), int(x["level"])) for x in samples[::5]],
        "timeline_rss_mb": [round(x["rss_mb"], 1) for x in samples[::10]],
        "timeline_py_kblocks": [round(x["py_blocks"] / 1e3, 1) for x in samples[::10]],
        **end_state,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load benchmark and print (or write) its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    ap.add_argument("--speed", type=float, default=60.0, help="crowd speed (market s per s)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    ap.add_argument("--heap", action="store_true", help="trace allocations (tracemalloc; slower)")
    ap.add_argument(
        "--cache-limit", type=int, help="shrink the bounded caches to N entries (see run_load)"
    )
    args = ap.parse_args(argv)
    load = run_load(args.duration, args.speed, heap=args.heap, cache_limit=args.cache_limit)
    result = asyncio.run(load)
    result["verdict"] = verdict(result)
    for key, value in result.items():
        print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")
    print("\nVERDICT\n" + render_verdict(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
