"""``pegbot demo``: simulator + bot + metrics in one process; the summary and the endpoint."""

from __future__ import annotations

import asyncio
import json
import sys
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)


async def test_demo_quotes_serves_metrics_and_leaves_no_order() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from pegbot.cli import main; main()",
        "demo", "--duration", "5", "--metrics-port", "0", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stderr is not None
    url = None
    while url is None:
        line = (await asyncio.wait_for(proc.stderr.readline(), 20)).decode()
        assert line, "demo ended before serving metrics"
        if line.startswith("metrics: "):
            url = line.split(" ", 1)[1].strip()
    assert url.startswith("http://127.0.0.1:")
    # Once quoting, the endpoint shows our orders on both sides.
    body = ""
    for _ in range(60):
        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(url, timeout=5).read().decode()
        )
        if 'pegbot_quote_up{side="bid",symbol="KGST/USDT",venue="sim"} 1.0' in body and (
            'pegbot_quote_up{side="ask",symbol="KGST/USDT",venue="sim"} 1.0' in body
        ):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("the demo never showed both sides quoted:\n" + body[-3000:])
    assert "pegbot_build_info{git_sha=" in body and 'mode="testnet"' in body
    assert "pegbot_fair_value_quote" in body
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    assert proc.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert summary["quotes_placed"] >= 6  # three levels a side
    assert summary["fills"] >= 0
    assert summary["final_state"] in ("normal", "defend", "freeze")
    assert summary["open_orders_after_shutdown"] == 0
    # The figure says what it measures: the simulator shares the demo's event loop.
    assert "simulator" in summary["tick_to_quote_includes"]
