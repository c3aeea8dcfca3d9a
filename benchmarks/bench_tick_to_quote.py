"""Tick-to-quote: book message received → order request sent, against the simulator.

The bot runs in this process exactly as ``pegbot run`` would (feed, decision loop, CcxtVenue
over unmodified ccxt), quoting 5 levels a side; the simulator runs as its own process
(``pegbot sim --market none``) so the two do not share a core. A maker account moves its
quote by one tick every ``--period`` seconds; each move reaches the bot as a depth message,
and the ladder (``benchmarks/strategies/touch_ladder.py``, which follows the market's touch)
must move with it. The latency of a decision is measured from the feed's receive timestamp
of the book message that woke it to the moment its first request is handed to the venue
(the same quantity as ``pegbot_tick_to_quote_seconds``).

Run: ``.venv/bin/python benchmarks/bench_tick_to_quote.py [--moves 300] [--json]``.
Target: p99 < 2 ms (a loop that ticks once a second would be up to 1 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pegbot.config import load_settings  # noqa: E402
from pegbot.live.bot import Bot  # noqa: E402
from pegbot.live.wiring import make_venue  # noqa: E402
from pegbot.sim.client import make_pro_client  # noqa: E402
from pegbot.sim.config import DEMO_API_KEY, DEMO_API_SECRET  # noqa: E402

MAKER_KEY = "bench-maker-key"
MAKER_SECRET = "bench-maker-secret"


def _start_sim(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    cfg = tmp / "sim.toml"
    cfg.write_text(
        "depth_interval_ms = 0\n"
        # Latency, not Binance's order-count limits, is measured here.
        "[rate_limits]\nenabled = false\n"
        f'[[accounts]]\napi_key = "{DEMO_API_KEY}"\napi_secret = "{DEMO_API_SECRET}"\n'
        f'[[accounts]]\napi_key = "{MAKER_KEY}"\napi_secret = "{MAKER_SECRET}"\n'
        '[accounts.balances]\nKGST = "100000000"\nUSDT = "1000000"\n'
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", "from pegbot.cli import main; main()", "sim", "--port", "0",
         "--market", "none", "--config", str(cfg)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


async def _run(moves: int, period: float, order_entry: str = "ws") -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        proc, info = _start_sim(tmp)
        http = info["rest"].removesuffix("/api/v3")
        ws = info["ws"].removesuffix("/ws")
        try:
            maker = make_pro_client(http, ws, MAKER_KEY, MAKER_SECRET, enableRateLimit=False)
            await maker.load_markets()
            bid, ask = 1130, 1158
            await maker.create_order("KGST/USDT", "limit", "sell", 50_000, ask / 1e5)
            o = await maker.create_order("KGST/USDT", "limit", "buy", 50_000, bid / 1e5)
            settings = load_settings(
                None,
                environ={},
                mode="testnet",
                venues={"sim": {"rest_url": http, "ws_url": ws, "api_key": DEMO_API_KEY,
                                "api_secret": DEMO_API_SECRET, "target_base": 1_000_000,
                                "order_entry": order_entry}},
                strategy={"name": str(ROOT / "benchmarks/strategies/touch_ladder.py"),
                          "params": {"levels": 5, "size_lots": 1000}},
                risk={"cooldown_s": 0.1, "book_stale_s": 60, "band_bps": 500,
                      "deviation_defend_bps": 400, "deviation_freeze_bps": 450},
                peg={"sources": [{"name": "static", "kind": "static", "rate": "87.45"}],
                     "signals_enabled": False},
                loop={"interval_s": 5.0, "control_dir": str(tmp), "balance_refresh_s": 60},
                metrics={"enabled": False},
                journal={"path": str(tmp / "journal.sqlite")},  # not the checkout's default
            )  # fmt: skip
            bot = Bot(settings, make_venue)
            task = asyncio.create_task(bot.run())
            await bot.started.wait()
            runner = bot.runners[0]
            while len(runner.live) < 10 or any(
                x.status.value != "open" for x in runner.live.values()
            ):
                await asyncio.sleep(0.05)
            runner.status.tick_to_quote_s.clear()
            for i in range(moves):
                # The maker's bid steps one tick up or down (new order first, then the old one
                # goes): one depth message moves the touch, the ladder must follow.
                bid = bid + (1 if i % 2 == 0 else -1)
                new = await maker.create_order("KGST/USDT", "limit", "buy", 50_000, bid / 1e5)
                await maker.cancel_order(o["id"], "KGST/USDT")
                o = new
                await asyncio.sleep(period)
            samples = list(runner.status.tick_to_quote_s)
            bot.stop()
            summary = await task
            await maker.close()
        finally:
            proc.terminate()
            proc.wait(10)
    samples.sort()
    ms = [s * 1e3 for s in samples]

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, int(q * len(ms)))]

    return {
        "benchmark": "tick_to_quote",
        "levels_per_side": 5,
        "book_moves": moves,
        "samples": len(ms),
        "p50_ms": round(pct(0.50), 3),
        "p90_ms": round(pct(0.90), 3),
        "p99_ms": round(pct(0.99), 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "target_p99_ms": 2.0,
        "quotes_placed": summary["quotes_placed"],
        "open_orders_after_shutdown": summary["open_orders_after_shutdown"],
        "cpu_count": os.cpu_count(),
    }


def main() -> None:
    """Parse arguments, run, print."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--moves", type=int, default=150)
    # One order a move: 0.15 s keeps under the venue's 100 orders per 10 s (ORDERS budget).
    ap.add_argument("--period", type=float, default=0.15, help="Seconds between book moves.")
    ap.add_argument(
        "--order-entry",
        choices=("ws", "rest"),
        default="ws",
        help="Orders over the WebSocket API (the bot's default) or REST.",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    t0 = time.perf_counter()
    result = asyncio.run(_run(args.moves, args.period, args.order_entry))
    result["order_entry"] = args.order_entry
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v}")


if __name__ == "__main__":
    main()
