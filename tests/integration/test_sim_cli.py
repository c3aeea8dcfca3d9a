"""``pegbot sim`` as a process: starts on port 0, says where, serves ccxt, stops on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
from typer.testing import CliRunner

from pegbot.cli import app
from pegbot.sim.client import make_pro_client

ROOT = Path(__file__).parents[2]


async def test_sim_process_serves_ccxt_and_stops_cleanly(tmp_path: Path) -> None:
    cfg = tmp_path / "sim.toml"
    cfg.write_text("depth_interval_ms = 50\n[flow]\nseed = 3\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pegbot.cli import main; main()",
            "sim",
            "--port",
            "0",
            "--api-key",
            "k1",
            "--api-secret",
            "s1",
            "--market",
            "flow",
            "--speed",
            "20",
            "--config",
            str(cfg),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        info = json.loads(line)
        assert info["api_key"] == "k1" and info["symbols"] == ["KGSTUSDT"]
        http = info["rest"].removesuffix("/api/v3")
        ex = make_pro_client(http, http.replace("http", "ws", 1), "k1", "s1")
        try:
            await asyncio.sleep(0.5)  # the crowd fills the book
            book = await ex.fetch_order_book("KGST/USDT")
            assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
            order = await ex.create_order("KGST/USDT", "limit", "buy", 100, 0.0110)
            assert order["status"] == "open"
            async with aiohttp.ClientSession() as hs, hs.get(info["metrics"]) as resp:
                assert resp.status == 200
                assert "pegbot_sim_" in await resp.text()
        finally:
            await ex.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bad_config_is_a_usage_error(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("no_such_key = 1\n")
    res = CliRunner().invoke(app, ["sim", "--config", str(cfg)])
    assert res.exit_code == 2 and "no_such_key" in res.output
    res = CliRunner().invoke(app, ["sim", "--market", "moon"])
    assert res.exit_code == 2


async def test_sim_process_replays_a_tape(tmp_path: Path) -> None:
    from decimal import Decimal

    from pegbot.market import Market
    from pegbot.tape.binance import convert_binance_raw

    nexo = Market(
        symbol="NEXO/USDT",
        base="NEXO",
        quote="USDT",
        tick_size=Decimal("0.001"),
        lot_size=Decimal("0.001"),
    )
    tape = tmp_path / "nexo.parquet"
    convert_binance_raw([ROOT / "tests/data/binance_raw/spot_nexousdt_20240723.dat.gz"], tape, nexo)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from pegbot.cli import main; main()",
            "sim",
            "--port",
            "0",
            "--market",
            f"tape:{tape}",
            "--speed",
            "1000",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
        info = json.loads(line)
        assert info["symbols"] == ["KGSTUSDT", "NEXOUSDT"]
        http = info["rest"].removesuffix("/api/v3")
        ex = make_pro_client(http, http.replace("http", "ws", 1))  # the demo key
        try:
            await asyncio.sleep(0.5)
            book = await ex.fetch_order_book("NEXO/USDT")
            assert book["bids"] and book["asks"] and book["bids"][0][0] < book["asks"][0][0]
            balance = await ex.fetch_balance()
            assert balance["NEXO"]["free"] > 0
        finally:
            await ex.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
