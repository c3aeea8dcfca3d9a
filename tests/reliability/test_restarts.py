"""Restarts, shortened: ``benchmarks/bench_restarts.py`` with a handful of kill -9 restarts.

One restart of each scenario (plain, during start-up, a 429 storm turning into a 418 ban with
the bot killed inside it, every WebSocket dropped, REST replies stalled past ccxt's time-out),
the real ``pegbot run`` with the example configuration, a counterparty filling it alive and
dead. At every restart the audit compares the bot's books with the exchange: every trade
journaled once with every field equal, every earlier order's journaled final state equal to
the exchange's, every PnL snapshot's holdings equal to the exchange's balances net of the
fills not yet delivered, no request sent into a ban, and the time back to quoting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _rel_bot import load_benchmark

pytestmark = pytest.mark.timeout(420)
SCENARIOS = ("plain", "startup", "storm", "ws_drop", "stall", "plain")


async def test_kill_9_restarts_keep_the_books_exact(tmp_path: Path, reliability: Any) -> None:
    bench = load_benchmark("bench_restarts")
    r = await bench.run_campaign(len(SCENARIOS), workdir=tmp_path, scenarios=SCENARIOS)
    reliability.restarts.update({k: v for k, v in r.items() if k != "rows"})
    audit = r["audit"]
    assert r["final_exit_code"] == 0 and r["open_after"] == 0
    assert r["balances_identity"], "the audit's model of the exchange's balances is wrong"
    assert audit["exchange_trades"] >= 5, "too few fills to mean anything"
    assert audit["lost"] == audit["extra"] == audit["field_mismatches"] == 0, audit["examples"]
    assert audit["journal_fills"] == audit["exchange_trades"]
    assert audit["order_state_mismatches"] == 0, audit["examples"]
    assert audit["snapshots_checked"] > 0
    assert audit["snapshot_mismatches"] == 0, audit["examples"]
    assert r["bans"] == 1, "the storm earned no ban: the test proves nothing about bans"
    assert r["requests_while_banned_late"] == 0, r["rows"]
    assert r["no_quote"] == [], r["no_quote"]
    # The targets (p50 <= 3 s, max <= 5 s) are the full benchmark's, on a quiet machine (a
    # busy shared one adds seconds of Python start-up); here the bound only has to break if a
    # start freezes risk and sits out its cooldowns again: 10 s at the least, 12.5 s median,
    # with the example configuration.
    assert r["to_quote_p50_s"] <= 6.0 and r["to_quote_max_s"] <= 9.0, r["rows"]
