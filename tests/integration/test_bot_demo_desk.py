"""The demo shows the desk's loop: a depeg push raises a signal, an operator approves it.

``pegbot demo`` prints where its journal is; ``pegbot signals list`` and ``approve`` — the
real commands, on that journal, from outside the demo's process — see the signal the push
raised and move it on while the demo runs. A signal whose edge is gone expires (the bot's
own quotes pull the market back to the peg), so the operator approves the next one that
lives.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from pegbot.cli import app

pytestmark = pytest.mark.timeout(150)


def _signals(journal: str, *args: str) -> tuple[int, dict[str, Any], str]:
    res = CliRunner().invoke(app, ["signals", *args, "--journal", journal, "--json"])
    body = json.loads(res.stdout.strip().splitlines()[-1]) if res.stdout.strip() else {}
    return res.exit_code, body, res.stderr


async def test_a_depeg_push_raises_a_signal_the_operator_approves() -> None:
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from pegbot.cli import main; main()",
        "demo", "--duration", "45", "--json",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert demo.stderr is not None
    journal = None
    while journal is None:
        line = (await asyncio.wait_for(demo.stderr.readline(), 30)).decode()
        assert line, "the demo ended before naming its journal"
        if line.startswith("signals: "):
            journal = line.split("--journal ", 1)[1].split()[0]
    drain = asyncio.create_task(demo.stderr.read())  # keep the pipe from filling
    approved: dict[str, Any] | None = None
    seen: set[str] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    while approved is None and loop.time() < deadline:
        code, body, _ = await asyncio.to_thread(_signals, journal, "list")
        for row in body.get("signals", []) if code == 0 else []:
            seen.add(str(row["id"]))
            if row["state"] != "proposed":
                continue
            code, out, err = await asyncio.to_thread(
                _signals, journal, "approve", str(row["id"]), "--by", "desk"
            )
            if code == 0:
                approved = out
                break
            assert "is expired" in err, err  # the only acceptable refusal: its edge went
        await asyncio.sleep(0.2)
    assert seen, "the depeg push raised no signal"
    assert approved is not None and approved["state"] == "approved"
    assert demo.stdout is not None
    out = await asyncio.wait_for(demo.stdout.read(), 60)
    await asyncio.wait_for(demo.wait(), 30)
    await drain
    summary = json.loads(out.decode().strip().splitlines()[-1])
    assert demo.returncode == 0 and summary["signals"] >= 1
    assert summary["open_orders_after_shutdown"] == 0
