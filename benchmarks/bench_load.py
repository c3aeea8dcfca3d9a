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
* a queue that grows shows as a growing delay: feed delay (local receive time minus the
  exchange's event time of the newest book) and event-loop lag, first half against second
  half; and the simulator's slow-consumer drops (a client that falls behind is cut off);
* resident memory (RSS) of the bot's process (the simulator runs in its own), its slope over
  the second half;
* tick-to-quote: book message received -> order request sent, p50 and p99.

Run: ``.venv/bin/python benchmarks/bench_load.py [--duration 180] [--speed 60] [--json OUT]``.
The reliability suite runs a shortened version (``tests/reliability/test_load.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pegbot.bot import Bot  # noqa: E402
from pegbot.bot_wiring import make_venue  # noqa: E402
from pegbot.config import load_settings  # noqa: E402
from pegbot.journal import Journal  # noqa: E402
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET  # noqa: E402

BUSIEST_MSGS_PER_S = 15.0  # see the module docstring


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


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


async def run_load(duration_s: float = 180.0, speed: float = 60.0) -> dict[str, Any]:
    """Run the bot against a busy simulator for ``duration_s``; return the figures."""
    samples: list[dict[str, float]] = []
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
        bot = Bot(settings, make_venue, journal=journal)
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
            t0 = time.monotonic()
            m0, p0 = feed.counters.messages, await _pushed(http)
            q0 = runner.status.quotes_placed
            runner.status.tick_to_quote_s.clear()
            while (now := time.monotonic()) - t0 < duration_s and not task.done():
                before = time.monotonic()
                await asyncio.sleep(1.0)
                lag = time.monotonic() - before - 1.0  # how late the loop woke us
                book = feed.book
                delay = (book.local_ts - book.exch_ts) / 1e9 if book.exch_ts else 0.0
                samples.append(
                    {
                        "t": now - t0,
                        "rss_mb": _rss_mb(),
                        "messages": feed.counters.messages - m0,
                        "pushed": await _pushed(http) - p0,
                        "feed_delay_s": delay,
                        "loop_lag_s": max(0.0, lag),
                        "resyncs": feed.counters.resyncs,
                        "queue_dropped": feed.counters.queue_dropped,
                        "quotes": runner.status.quotes_placed - q0,
                        "level": float(runner.risk_state.level) if runner.risk_state else -1.0,
                    }
                )
            elapsed = time.monotonic() - t0
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
    half = [s for s in samples if s["t"] >= elapsed / 2]
    first = [s for s in samples if s["t"] < elapsed / 2]
    last = samples[-1]
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
        "loop_lag_p99_ms": 1e3 * _pct([s["loop_lag_s"] for s in samples], 0.99),
        "rss_start_mb": samples[0]["rss_mb"],
        "rss_end_mb": last["rss_mb"],
        "rss_slope_mb_per_min": _slope_per_min([s["t"] for s in half], [s["rss_mb"] for s in half]),
        "quotes": quotes,
        "p50_ms": 1e3 * _pct(ttq, 0.5),
        "p99_ms": 1e3 * _pct(ttq, 0.99),
        "bot_error": error,
        "died_at_s": elapsed if died else None,
        "risk_level_at_end": level,
        "risk_reasons_at_end": reasons,
        "risk_transitions": transitions,
        "timeline_quotes_level": [(int(x["quotes"]), int(x["level"])) for x in samples[::5]],
        "open_orders_after_shutdown": summary.get("open_orders_after_shutdown"),
    }


def main(argv: list[str] | None = None) -> int:
    """Run the load benchmark and print (or write) its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load")
    ap.add_argument("--speed", type=float, default=60.0, help="crowd speed (market s per s)")
    ap.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = ap.parse_args(argv)
    result = asyncio.run(run_load(args.duration, args.speed))
    for key, value in result.items():
        print(f"{key:>28}: {value:.3f}" if isinstance(value, float) else f"{key:>28}: {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
