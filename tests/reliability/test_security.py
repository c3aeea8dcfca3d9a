"""Security: signatures and recvWindow, loopback listeners, secrets kept out of every output,
the live acknowledgement, secrets refused in config files.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import io
import json
import logging
import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import aiohttp
import ccxt
import pytest
from _rel_bot import free_port, non_loopback_ip, pegbot_cmd, reachable, sides, subprocess_env

from pegbot.config import ConfigError, check_live_ack, load_settings
from pegbot.logging import setup_logging
from pegbot.metrics import Metrics
from pegbot.metrics_http import start_metrics_server
from pegbot.sim.server import SimServer
from pegbot.sim.testing import SimHandle, default_sim_config
from pegbot.testing.bot import bot_toml, key_env, our_open_orders, seed_book, wait_for_async

pytestmark = pytest.mark.timeout(90)


# -- the simulator checks what Binance checks --------------------------------------------------


async def test_bad_signature_and_unknown_key_are_rejected_through_ccxt(
    sim: SimHandle, reliability: Any
) -> None:
    wrong = sim.client(secret="not-the-secret")
    with pytest.raises(ccxt.AuthenticationError):
        await wrong.fetch_balance()
    stranger = sim.client(api_key="nobody", secret="whatever")
    with pytest.raises(ccxt.AuthenticationError):
        await stranger.create_order("KGST/USDT", "limit", "buy", 1000, 0.0114)
    good = sim.client()
    assert "USDT" in (await good.fetch_balance())["total"]
    reliability.check("simulator: bad signature, unknown key (ccxt)", "rejected (-1022 / -2015)")


def _signed(secret: str, query: str) -> str:
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return f"{query}&signature={sig}"


async def test_tampered_and_stale_requests_are_rejected(sim: SimHandle, reliability: Any) -> None:
    url = f"{sim.http_url}/api/v3/order"
    headers = {"X-MBX-APIKEY": sim.api_key}
    now = int(time.time() * 1000)
    base = "symbol=KGSTUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1000&price=0.01140"
    async with aiohttp.ClientSession() as http:
        # Signed for 1000, sent for 900000: the signature no longer matches.
        body = _signed(sim.api_secret, f"{base}&timestamp={now}").replace(
            "quantity=1000", "quantity=900000"
        )
        async with http.post(url, data=body, headers={**headers, "Content-Type":
                             "application/x-www-form-urlencoded"}) as r:  # fmt: skip
            assert r.status in (400, 401)
            assert (await r.json())["code"] == -1022
        # Correctly signed but 6 s old with a 5 s window: -1021.
        stale = _signed(sim.api_secret, f"{base}&timestamp={now - 6000}&recvWindow=5000")
        async with http.post(url, data=stale, headers={**headers, "Content-Type":
                             "application/x-www-form-urlencoded"}) as r:  # fmt: skip
            assert r.status == 400
            assert (await r.json())["code"] == -1021
        # From the future (more than 1 s ahead of the server): -1021.
        ahead = _signed(sim.api_secret, f"{base}&timestamp={now + 5000}")
        async with http.post(url, data=ahead, headers={**headers, "Content-Type":
                             "application/x-www-form-urlencoded"}) as r:  # fmt: skip
            assert (await r.json())["code"] == -1021
    assert await sim.client().fetch_open_orders("KGST/USDT") == []  # none of them executed
    reliability.check(
        "simulator: tampered body, stale and future timestamps", "rejected, nothing executed"
    )


async def test_requests_outside_recv_window_through_ccxt(sim: SimHandle) -> None:
    await sim.admin("faults", {"clock_skew_ms": 90_000})  # the server runs 90 s ahead
    ex = sim.client()
    ex.options["adjustForTimeDifference"] = False
    ex.options["recvWindow"] = 10_000
    with pytest.raises(ccxt.InvalidNonce):
        await ex.fetch_balance()
    await ex.load_time_difference()  # what the venue does on -1021
    ex.options["adjustForTimeDifference"] = True
    assert "USDT" in (await ex.fetch_balance())["total"]


# -- listeners ---------------------------------------------------------------------------------


def _check_loopback_only(port: int) -> str:
    assert reachable("127.0.0.1", port)
    ip = non_loopback_ip()
    if ip is None:
        return "loopback (no other address to test from)"
    assert not reachable(ip, port), f"port {port} answers on {ip}"
    return f"loopback only (refused on {ip})"


async def test_simulator_and_metrics_listen_on_loopback_by_default(reliability: Any) -> None:
    server = SimServer(default_sim_config(), port=0)  # no host given
    await server.start()
    try:
        assert server.host == "127.0.0.1"
        outcome = await asyncio.to_thread(_check_loopback_only, server.port)
    finally:
        await server.stop()
    reliability.check("simulator listener (default host)", outcome)
    metrics = start_metrics_server(Metrics().registry, 0)  # no address given
    try:
        outcome = await asyncio.to_thread(_check_loopback_only, metrics.port)
    finally:
        metrics.close()
    reliability.check("bot metrics listener (default)", outcome)
    assert load_settings(None, environ={}).metrics.host == "127.0.0.1"


async def test_admin_answers_only_loopback_even_on_a_public_bind(reliability: Any) -> None:
    ip = non_loopback_ip()
    if ip is None:
        pytest.skip("this machine has no non-loopback address")
    server = SimServer(default_sim_config(), host="0.0.0.0", port=0)  # configured, not default
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://{ip}:{server.port}/admin/faults", json={}) as r:
                assert r.status == 403
            async with http.get(f"http://{ip}:{server.port}/admin/state") as r:
                assert r.status == 403
            async with http.get(f"http://127.0.0.1:{server.port}/admin/state") as r:
                assert r.status == 200
    finally:
        await server.stop()
    reliability.check("simulator admin endpoint from a non-loopback peer", "403")


def test_recorder_and_sim_cli_metrics_bind_loopback(tmp_path: Path, reliability: Any) -> None:
    sim_port = free_port()
    sim = subprocess.Popen(
        pegbot_cmd("sim", "--port", str(sim_port), "--market", "flow"),
        env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    rec = None
    try:
        _wait_port(sim_port)
        sim_outcome = _check_loopback_only(sim_port)
        rec_port = free_port()
        rec = subprocess.Popen(
            pegbot_cmd("record", "--out", str(tmp_path / "rec"), "--ws-url",
                       f"ws://127.0.0.1:{sim_port}", "--rest-url", f"http://127.0.0.1:{sim_port}",
                       "--metrics-port", str(rec_port), "--duration", "20"),
            env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(rec_port)
        rec_outcome = _check_loopback_only(rec_port)
    finally:
        for p in (rec, sim):
            if p is not None:
                p.send_signal(signal.SIGTERM)
        for p in (rec, sim):
            if p is not None:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
    reliability.check("`pegbot sim` listener (default)", sim_outcome)
    reliability.check("`pegbot record` metrics listener", rec_outcome)


def _wait_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not reachable("127.0.0.1", port):
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listens on {port}")
        time.sleep(0.1)


# -- secrets -----------------------------------------------------------------------------------


async def test_secrets_never_reach_logs_metrics_journal_or_tracebacks(
    sim: SimHandle, tmp_path: Path, reliability: Any
) -> None:
    key = "relkey" + secrets.token_hex(12)
    secret = "relsecret" + secrets.token_hex(16)
    await sim.admin("accounts", {"api_key": key, "api_secret": secret,
                                 "balances": {"USDT": "20000", "KGST": "1000000"}})  # fmt: skip
    await seed_book(sim)
    port = free_port()
    cfg = (
        bot_toml(
            sim,
            tmp_path,
            peg="""[peg]
sources = [{ name = "static", kind = "static", rate = "87.45", interval_s = 30, max_age_s = 60 }]
""",
        )
        .read_text()
        .replace("[metrics]\nenabled = false", f"[metrics]\nenabled = true\nport = {port}")
    )
    path = tmp_path / "bot.toml"
    path.write_text(cfg)
    env = subprocess_env({**key_env("sim", key, secret), "PEGBOT_LOGGING__LEVEL": "DEBUG",
                          "PEGBOT_LOGGING__FORMAT": "json"})  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *pegbot_cmd("run", "--config", str(path), "--duration", "6", "--json"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    scraped = []
    try:
        await wait_for_async(lambda: _both_sides(sim.client(key, secret)), 20)
        maker = sim.maker()
        await maker.load_markets()
        await maker.create_order("KGST/USDT", "market", "buy", 3000)  # fills against our asks
        # Make it fail a bit: rejected and failing requests are logged with their errors.
        await sim.admin("faults", {"rest_fail_rate": 0.5})
        async with aiohttp.ClientSession() as http:
            for _ in range(3):
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
                        scraped.append(await r.text())
                await asyncio.sleep(0.5)
        await sim.admin("faults", {"rest_fail_rate": 0.0})
        out, err = await asyncio.wait_for(proc.communicate(), 40)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert scraped and "pegbot_" in scraped[0]
    # A failing start: a traceback with the venue's error in it.
    bad = (
        path.read_text()
        .replace(sim.http_url, f"http://127.0.0.1:{free_port()}")
        .replace("[loop]\n", "[loop]\nshutdown_timeout_s = 1\n")
    )
    bad_path = tmp_path / "bad.toml"
    bad_path.write_text(bad)
    fail = await asyncio.create_subprocess_exec(
        *pegbot_cmd("run", "--config", str(bad_path), "--duration", "2"),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    fout, ferr = await asyncio.wait_for(fail.communicate(), 60)
    assert fail.returncode != 0
    journal = b"".join(p.read_bytes() for p in tmp_path.glob("journal.sqlite*"))
    outputs = {
        "stdout": out, "stderr (JSON logs, DEBUG)": err, "metrics": "".join(scraped).encode(),
        "journal": journal, "failed start (traceback)": fout + ferr,
    }  # fmt: skip
    assert b"Traceback" in ferr or b"exc_info" in ferr
    assert json.loads(out.decode().strip().splitlines()[-1])["fills"] >= 1
    for name, blob in outputs.items():
        assert secret.encode() not in blob, f"the API secret appears in {name}"
        assert key.encode() not in blob, f"the API key appears in {name}"
    reliability.check(
        "known key and secret scanned in stdout, DEBUG logs, /metrics, journal, a traceback",
        f"absent ({sum(len(b) for b in outputs.values()):,} bytes scanned)",
    )


async def _both_sides(client: Any) -> bool:
    return bool(sides(await our_open_orders(client)) == {"buy", "sell"})


def test_logged_exceptions_do_not_carry_signatures(reliability: Any) -> None:
    # ccxt puts the signed URL into its exception messages; the traceback text goes through
    # the same redaction as the message.
    stream = io.StringIO()
    handler = setup_logging("json", "INFO", stream=stream)
    try:
        try:
            raise RuntimeError(
                "binance GET http://127.0.0.1:1/api/v3/openOrders?timestamp=1&"
                "signature=0123456789abcdef0123456789abcdef 400 Bad Request"
            )
        except RuntimeError:
            logging.getLogger("pegbot.test").exception("request failed")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue()
    assert "request failed" in line
    assert "0123456789abcdef0123456789abcdef" not in line
    reliability.check("signature inside a logged traceback", "redacted")


# -- live acknowledgement and secrets in files ---------------------------------------------------


def test_live_refuses_to_start_without_the_acknowledgement(
    tmp_path: Path, reliability: Any
) -> None:
    path = tmp_path / "live.toml"
    path.write_text('mode = "live"\n[metrics]\nenabled = false\n')
    env = subprocess_env(
        {"PEGBOT_VENUES__BINANCE__API_KEY": "k", "PEGBOT_VENUES__BINANCE__API_SECRET": "s"}
    )
    r = subprocess.run(pegbot_cmd("run", "--config", str(path)), env=env, capture_output=True,
                       timeout=60)  # fmt: skip
    assert r.returncode == 2
    assert b"--i-understand-this-is-live" in r.stderr
    testnet = tmp_path / "testnet.toml"
    testnet.write_text('mode = "testnet"\n[metrics]\nenabled = false\n')
    r = subprocess.run(pegbot_cmd("run", "--config", str(testnet), "--mode", "live"),
                       env=env, capture_output=True, timeout=60)  # fmt: skip
    assert r.returncode == 2
    # The file cannot acknowledge it; the flag or PEGBOT_LIVE_ACK=1 can.
    s = load_settings(path, environ={})
    with pytest.raises(ConfigError):
        check_live_ack(s, False, environ={"PEGBOT_LIVE_ACK": "yes"})
    check_live_ack(s, True, environ={})
    check_live_ack(s, False, environ={"PEGBOT_LIVE_ACK": "1"})
    reliability.check("`pegbot run` in live mode without the acknowledgement", "exit 2, refused")


def test_secrets_in_the_config_file_are_refused(tmp_path: Path, reliability: Any) -> None:
    path = tmp_path / "bot.toml"
    path.write_text('[venues.binance]\napi_secret = "abc"\n')
    with pytest.raises(ConfigError, match="secrets are not read from the TOML file"):
        load_settings(path, environ={})
    reliability.check("an API secret written in the TOML file", "refused (ConfigError)")


def test_world_readable_secret_files_get_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, reliability: Any
) -> None:
    secrets_dir = tmp_path / "secrets"
    secrets_dir.mkdir()
    f = secrets_dir / "pegbot_venues__binance__api_secret"
    f.write_text("s3cret")
    os.chmod(f, 0o644)
    with caplog.at_level(logging.WARNING):
        load_settings(None, secrets_dir=secrets_dir, environ={})
    assert any("readable" in r.getMessage() for r in caplog.records)
    caplog.clear()
    os.chmod(f, 0o600)
    with caplog.at_level(logging.WARNING):
        load_settings(None, secrets_dir=secrets_dir, environ={})
    assert not any("readable" in r.getMessage() for r in caplog.records)
    reliability.check("a secret file readable by group/others (0644)", "warning; none at 0600")
