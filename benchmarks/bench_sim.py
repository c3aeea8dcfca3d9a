"""Simulator throughput: signed orders/s through unmodified ccxt, ack latency, stream messages/s.

The simulator runs as its own process (``pegbot sim``), as in paper trading, so the client and
the server each get a core. Three measurements:

1. **Sequential orders**: one ccxt.pro client sends signed ``create_order`` (LIMIT GTC, never
   crossing) then ``cancel_order``, one request at a time; ack latency = time from the call to
   ccxt returning the parsed order.
2. **Pipelined orders**: the same client keeps ``--inflight`` create requests in flight.
3. **Market data**: the order-flow crowd at ``--flow-speed``× with depth pushed per change;
   ``--subscribers`` raw WebSocket clients on ``@depth``, ``@trade`` and ``@bookTicker``;
   messages/s pushed by the server (its counter) and received by the clients.

Run: ``.venv/bin/python benchmarks/bench_sim.py [--orders 2000] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pegbot.sim.client import make_pro_client  # noqa: E402

SYMBOL = "KGST/USDT"


def start_sim(config_text: str, *args: str) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as cfg:
        cfg.write(config_text)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pegbot.cli import main; main()",
            "sim",
            "--port",
            "0",
            "--config",
            cfg.name,
            *args,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "NO_PROXY": "127.0.0.1,localhost"},
    )
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def stop_sim(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_orders(info: dict[str, Any], n: int, inflight: int) -> dict[str, Any]:
    http = info["rest"].removesuffix("/api/v3")
    ex = make_pro_client(http, http.replace("http", "ws", 1), enableRateLimit=False)
    try:
        await ex.load_markets()
        for _ in range(50):  # warm up connections and code paths
            o = await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0100)
            await ex.cancel_order(o["id"], SYMBOL)
        lat: list[float] = []
        t0 = time.perf_counter()
        for i in range(n):
            s = time.perf_counter()
            await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0100 + (i % 50) * 0.00001)
            lat.append(time.perf_counter() - s)
        seq_s = time.perf_counter() - t0
        await ex.cancel_all_orders(SYMBOL)
        # Place-and-cancel pairs: what a requoting bot does.
        t2 = time.perf_counter()
        pairs = n // 2
        for i in range(pairs):
            o = await ex.create_order(SYMBOL, "limit", "buy", 100, 0.0100 + (i % 50) * 0.00001)
            await ex.cancel_order(o["id"], SYMBOL)
        pair_s = time.perf_counter() - t2

        ids: list[str] = []
        plat: list[float] = []
        sem = asyncio.Semaphore(inflight)

        async def one(i: int) -> None:
            async with sem:
                s = time.perf_counter()
                o = await ex.create_order(SYMBOL, "limit", "sell", 100, 0.0130 + (i % 50) * 1e-5)
                plat.append(time.perf_counter() - s)
                ids.append(o["id"])

        t1 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        pipe_s = time.perf_counter() - t1
        await ex.cancel_all_orders(SYMBOL)
        return {
            "sequential": {
                "orders": n,
                "orders_per_s": n / seq_s,
                "place_cancel_requests_per_s": 2 * pairs / pair_s,
                "ack_p50_ms": statistics.median(lat) * 1e3,
                "ack_p99_ms": pct(lat, 0.99) * 1e3,
                "ack_max_ms": max(lat) * 1e3,
            },
            "pipelined": {
                "orders": n,
                "inflight": inflight,
                "orders_per_s": n / pipe_s,
                "ack_p50_ms": statistics.median(plat) * 1e3,
                "ack_p99_ms": pct(plat, 0.99) * 1e3,
            },
        }
    finally:
        await ex.close()


async def bench_market_data(
    info: dict[str, Any], subscribers: int, seconds: float
) -> dict[str, Any]:
    ws_base = info["ws"]
    streams = "kgstusdt@depth@100ms/kgstusdt@trade/kgstusdt@bookTicker"
    received = 0
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal received
        async with session.ws_connect(f"{ws_base}/{streams}") as ws:
            while not stop.is_set():
                try:
                    msg = await asyncio.wait_for(ws.receive(), 0.5)
                except TimeoutError:
                    continue
                if msg.type == aiohttp.WSMsgType.TEXT:
                    received += 1
                else:
                    return

    async with aiohttp.ClientSession() as session:
        state_url = info["admin"] + "/state"
        tasks = [asyncio.create_task(client(session)) for _ in range(subscribers)]
        await asyncio.sleep(1.0)
        async with session.get(state_url) as r:
            pushed0 = (await r.json())["messages_pushed"]
        got0, t0 = received, time.perf_counter()
        await asyncio.sleep(seconds)
        async with session.get(state_url) as r:
            pushed1 = (await r.json())["messages_pushed"]
        got1, dt = received, time.perf_counter() - t0
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "subscribers": subscribers,
        "pushed_per_s": (pushed1 - pushed0) / dt,
        "received_per_s": (got1 - got0) / dt,
    }


async def in_process_orders(n: int, inflight: int) -> dict[str, Any]:
    from pegbot.sim.config import RateLimitConfig, SimConfig, SymbolConfig
    from pegbot.sim.server import SimServer

    config = SimConfig(
        rate_limits=RateLimitConfig(enabled=False),
        symbols=(SymbolConfig(max_num_orders=1_000_000),),
    )
    server = SimServer(config)
    await server.start()
    try:
        info = {"rest": server.http_url + "/api/v3"}
        return await bench_orders(info, n, inflight)
    finally:
        await server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2000)
    ap.add_argument("--inflight", type=int, default=8)
    ap.add_argument("--subscribers", type=int, default=10)
    ap.add_argument("--flow-speed", type=float, default=300.0)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument(
        "--in-process",
        action="store_true",
        help="orders against a simulator in this process (one loop for both sides)",
    )
    args = ap.parse_args()

    # Thousands of resting orders: lift MAX_NUM_ORDERS (200) and the rate limits.
    no_limits = "[rate_limits]\nenabled = false\n[[symbols]]\nmax_num_orders = 1000000\n"
    if args.in_process:
        orders = asyncio.run(in_process_orders(args.orders, args.inflight))
    else:
        proc, info = start_sim(no_limits, "--market", "none")
        try:
            orders = asyncio.run(bench_orders(info, args.orders, args.inflight))
        finally:
            stop_sim(proc)
    proc, info = start_sim(
        "depth_interval_ms = 0\n" + no_limits, "--market", "flow", "--speed", str(args.flow_speed)
    )
    try:
        md = asyncio.run(bench_market_data(info, args.subscribers, args.seconds))
    finally:
        stop_sim(proc)
    result = {"orders": orders, "market_data": md}
    if args.json:
        print(json.dumps(result))
        return
    s, p = orders["sequential"], orders["pipelined"]
    print(
        f"sequential: {s['orders_per_s']:.0f} orders/s, ack p50 {s['ack_p50_ms']:.2f} ms, "
        f"p99 {s['ack_p99_ms']:.2f} ms, max {s['ack_max_ms']:.1f} ms; place+cancel: "
        f"{s['place_cancel_requests_per_s']:.0f} signed requests/s"
    )
    print(
        f"pipelined x{p['inflight']}: {p['orders_per_s']:.0f} orders/s, ack p50 "
        f"{p['ack_p50_ms']:.2f} ms, p99 {p['ack_p99_ms']:.2f} ms"
    )
    print(
        f"market data: {md['pushed_per_s']:.0f} msgs/s pushed, {md['received_per_s']:.0f} "
        f"received by {md['subscribers']} subscribers"
    )


if __name__ == "__main__":
    main()
