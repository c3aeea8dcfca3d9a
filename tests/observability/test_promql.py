"""Every dashboard panel query and every variable query returns data from a real Prometheus
scraping a running pegbot process; every rule evaluates with health ok.

Two processes are scraped: ``exerciser.py`` (the real parts: simulator, feed, peg, signaler and
ccxt orders, with both metric sets served over HTTP), and ``pegbot demo --metrics-port P``
(skipped if the demo lacks that option).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _prom import DASHBOARD, REPO, PromServer, free_port, needs_prometheus, substitute

pytestmark = [pytest.mark.promql, needs_prometheus, pytest.mark.timeout(120)]

SIM_ROW = "Simulator (paper and demo)"
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")
# Panels gated on a running chain watcher (build_dashboard.chain): empty where none runs.
CHAIN_GATE = "pegbot_chain_watcher_enabled"


def panels_by_row() -> Iterator[tuple[str, dict[str, Any]]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    row = ""
    for p in dash["panels"]:
        if p["type"] == "row":
            row = p["title"]
            for child in p.get("panels", []):
                yield row, child
        else:
            yield row, p


def variable_queries() -> list[tuple[str, str, str]]:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    out = []
    for v in dash["templating"]["list"]:
        if v["type"] == "query":
            m = LABEL_VALUES.match(v["query"]["query"])
            assert m, v["query"]
            out.append((v["name"], m.group(1), m.group(2)))
    return out


def annotation_expr(name: str) -> str:
    dash = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    [ann] = [a for a in dash["annotations"]["list"] if a["name"] == name]
    return str(ann["expr"])


def chain_panel(panel: dict[str, Any]) -> bool:
    return all(CHAIN_GATE in t["expr"] for t in panel["targets"])


def empty_queries(
    prom: PromServer, skip_rows: tuple[str, ...] = (), skip_chain: bool = False
) -> list[str]:
    """Panel targets and variable queries that return no series (or an error)."""
    bad = []
    checked = 0
    for row, panel in panels_by_row():
        if row in skip_rows or (skip_chain and chain_panel(panel)):
            continue
        for t in panel["targets"]:
            expr = substitute(t["expr"])
            checked += 1
            try:
                if not prom.query(expr):
                    bad.append(f"{row} / {panel['title']}: no series: {expr}")
            except Exception as exc:
                bad.append(f"{row} / {panel['title']}: {exc}")
    for name, selector, label in variable_queries():
        if name == "sim_job" and SIM_ROW in skip_rows:
            continue
        series = prom.series(substitute(selector))
        if not [s for s in series if label in s]:
            bad.append(f"variable {name}: no series with {label} for {selector}")
    assert checked > 50
    return bad


def wait_for_data(prom: PromServer, jobs: int, timeout: float = 40.0) -> None:
    """Until every target is up and rates and rules have had a few scrapes to work with."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        targets = prom.targets()
        ups = [t for t in targets if t["health"] == "up"]
        submitted = prom.query("sum(increase(pegbot_orders_submitted_total[1m])) > 0")
        rules = prom.rules()
        rules_ok = rules and all(r["health"] == "ok" and r.get("lastEvaluation") for r in rules)
        if len(ups) == jobs and submitted and rules_ok:
            # A few more scrapes so that rate() over every counter has two samples.
            time.sleep(3)
            return
        time.sleep(0.5)
    raise AssertionError(f"no data in time: targets={prom.targets()}")


def start_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def stop_process(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for_series(prom: PromServer, expr: str, n: int, timeout: float = 30.0) -> list[Any]:
    """At least ``n`` series of ``expr`` (the exerciser's desk needs a few seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        found = prom.query(expr)
        if len(found) >= n or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def test_dashboard_queries_against_the_exerciser(prometheus: Any) -> None:
    started = time.time()
    proc = start_process([sys.executable, str(Path(__file__).with_name("exerciser.py"))])
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "exerciser did not start"
        ports = json.loads(line)
        prom = prometheus(
            {
                "pegbot": [f"127.0.0.1:{ports['metrics_port']}"],
                "pegbot-sim": [f"127.0.0.1:{ports['sim_port']}"],
            }
        )
        wait_for_data(prom, jobs=2)
        # The signal annotation: the exerciser's rebalance proposal and its approval, each
        # at the time the journal has for it, in ms (what "series value as timestamp" reads).
        marks = wait_for_series(prom, substitute(annotation_expr("Signal transitions")), 2)
        assert {(m["metric"]["kind"], m["metric"]["to_state"]) for m in marks} >= {
            ("rebalance_redeem", "proposed"),
            ("rebalance_redeem", "approved"),
        }
        for m in marks:
            assert started * 1000 < float(m["value"][1]) < time.time() * 1000, m
        # The check tells data from no data: a metric nobody exports comes back empty.
        assert prom.query(substitute('pegbot_not_exported{job=~"$job"}')) == []
        assert empty_queries(prom) == []
        # The rules loaded are the ones in the repo, and every one evaluates cleanly.
        rules = prom.rules()
        assert {r["name"] for r in rules} >= {"PegbotPegDeviationHigh", "PegbotDown"}
        assert [r["name"] for r in rules if r["health"] != "ok"] == []
        # A healthy process pages nobody: no alert is firing or pending.
        firing = [a for r in rules if r["type"] == "alerting" for a in r.get("alerts", [])]
        assert [a["labels"]["alertname"] for a in firing] == []
        # The recording rule produced a series for the bot's venue and symbol.
        p99 = prom.query("pegbot:tick_to_quote_seconds:p99_5m")
        assert {(s["metric"]["venue"], s["metric"]["symbol"]) for s in p99} == {
            ("binance", "KGST/USDT")
        }
    finally:
        stop_process(proc)


def _demo_help() -> str:
    out = subprocess.run(
        [sys.executable, "-m", "pegbot.cli", "demo", "--help"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
        timeout=60,
    )
    return out.stdout + out.stderr


def test_dashboard_queries_against_pegbot_demo(prometheus: Any) -> None:
    if "--metrics-port" not in _demo_help():
        pytest.skip("pegbot demo has no --metrics-port")
    port = free_port()
    proc = start_process(
        [sys.executable, "-m", "pegbot.cli", "demo", "--metrics-port", str(port)],
        env={"TERM": "dumb"},
    )
    try:
        prom = prometheus({"pegbot": [f"127.0.0.1:{port}"]})
        wait_for_data(prom, jobs=1, timeout=60)
        # The simulator row needs the demo to serve pegbot_sim_* too; check it when it does.
        has_sim = bool(prom.series("pegbot_sim_ws_clients"))
        # The live runner feeds pegbot.scorecard.LiveScorecard: its row has data too.
        assert prom.series("pegbot_scorecard_observed_seconds_total")
        skip = () if has_sim else (SIM_ROW,)
        # The demo watches no chain: its chain panels are rightly empty.
        watching = bool(prom.query(f"{CHAIN_GATE} == 1"))
        bad = empty_queries(prom, skip_rows=skip, skip_chain=not watching)
        assert bad == []
        assert [r["name"] for r in prom.rules() if r["health"] != "ok"] == []
    finally:
        stop_process(proc)
