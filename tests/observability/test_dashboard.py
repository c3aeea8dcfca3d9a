"""The desk's dashboard JSON: generated equals committed, and a port of the dashboard-linter
rules plus pegbot's own (no ``bps`` unit, every panel described and with a unit)."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
from collections import Counter
from typing import Any

import pytest
from _prom import DASHBOARD, GRAFANA

RATE_FUNCS = re.compile(r"\b(rate|irate|increase)\s*\(")
RANGE = re.compile(r"\[([^\]]+)\]")
# Grafana unit ids the dashboard may use (a subset of Grafana's categories) plus custom units.
KNOWN_UNITS = {"none", "short", "percentunit", "s", "bytes", "cpm", "reqps"}


def _dashboard() -> dict[str, Any]:
    dash: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return dash


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel, rows included, with a collapsed row's children flattened."""
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def _queries(dash: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (p["title"], t["expr"])
        for p in _panels(dash)
        if p["type"] != "row"
        for t in p.get("targets", [])
    ]


def test_committed_json_equals_generated() -> None:
    module = runpy.run_path(str(GRAFANA / "build_dashboard.py"))
    assert DASHBOARD.read_text(encoding="utf-8") == module["render"](), (
        "grafana/dashboards/pegbot.json is stale: run python grafana/build_dashboard.py"
    )


def test_build_script_check_passes_in_a_fresh_process() -> None:
    # What a contributor runs: the script builds with the pinned SDK and finds the JSON current.
    out = subprocess.run(
        [sys.executable, str(GRAFANA / "build_dashboard.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.strip() == "up to date", out.stdout + out.stderr


def test_built_by_the_grafana_11_6_flavour_of_the_sdk() -> None:
    # An unpinned install picks the 10.1 flavour (schemaVersion 36): the pin must hold.
    assert _dashboard()["schemaVersion"] == 41


def test_one_datasource_variable_and_panels_use_it() -> None:
    dash = _dashboard()
    variables = dash["templating"]["list"]
    ds = [v for v in variables if v["type"] == "datasource"]
    assert len(ds) == 1 and ds[0]["query"] == "prometheus"
    name = ds[0]["name"]
    for p in _panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": f"${{{name}}}"}, p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == f"${{{name}}}", p["title"]
    for v in variables:
        if v["type"] == "query":
            assert v["datasource"]["uid"] == f"${{{name}}}", v["name"]


def test_required_variables() -> None:
    names = {v["name"] for v in _dashboard()["templating"]["list"]}
    assert {"datasource", "job", "venue", "symbol"} <= names


def _rate_ranges(expr: str) -> list[str | None]:
    """The range of every rate/irate/increase call (the first [...] after its name)."""
    out: list[str | None] = []
    for m in RATE_FUNCS.finditer(expr):
        rng = RANGE.search(expr, m.end())
        out.append(rng.group(1) if rng else None)
    return out


def test_rate_interval_in_every_rate() -> None:
    checked = 0
    for title, expr in _queries(_dashboard()):
        for rng in _rate_ranges(expr):
            assert rng == "$__rate_interval", f"{title}: {expr}"
            checked += 1
    assert checked > 10


@pytest.mark.parametrize(
    ("expr", "ok"),
    [
        ("sum(rate(x_total[5m]))", False),
        ("increase(x_total[$__interval])", False),
        ("rate(x_total[$__rate_interval]) / irate(y_total[1m])", False),
        ('sum by (a) (rate(x_total{a=~"$a"}[$__rate_interval])) * 60', True),
    ],
)
def test_rate_lint_itself(expr: str, ok: bool) -> None:
    assert all(r == "$__rate_interval" for r in _rate_ranges(expr)) is ok


def test_counters_only_inside_rates() -> None:
    for title, expr in _queries(_dashboard()):
        for m in re.finditer(r"\b(\w+_total)\b", expr):
            before = expr[: m.start()]
            assert RATE_FUNCS.search(before), f"{title}: {m.group(1)} outside rate/increase"


def test_job_matcher_in_every_query() -> None:
    for title, expr in _queries(_dashboard()):
        for m in re.finditer(r"\b((?:pegbot|process|python|up|scrape)\w*)\{([^}]*)\}", expr):
            assert "$job" in m.group(2) or "$sim_job" in m.group(2), f"{title}: {expr}"


def test_every_panel_titled_described_with_a_unit_and_a_query() -> None:
    dash = _dashboard()
    titles: Counter[str] = Counter()
    for p in _panels(dash):
        assert p.get("title"), p
        if p["type"] == "row":
            continue
        titles[p["title"]] += 1
        assert p.get("description"), p["title"]
        unit = p["fieldConfig"]["defaults"].get("unit")
        assert unit, f"{p['title']}: no unit"
        assert unit in KNOWN_UNITS or re.fullmatch(r"(suffix|prefix):.+", unit), unit
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["expr"].strip() and t["refId"], p["title"]
    assert [t for t, n in titles.items() if n > 1] == []


def test_no_bits_per_second_unit() -> None:
    # Grafana's unit id "bps" is bits per second; basis points are "suffix: bps".
    for p in _panels(_dashboard()):
        if p["type"] == "row":
            continue
        units = [p["fieldConfig"]["defaults"].get("unit")]
        units += [
            prop["value"]
            for o in p["fieldConfig"]["overrides"]
            for prop in o.get("properties", [])
            if prop["id"] == "unit"
        ]
        assert "bps" not in units, p["title"]
    bps_panels = [
        p for p in _panels(_dashboard()) if any("_bps{" in t["expr"] for t in p.get("targets", []))
    ]
    assert len(bps_panels) >= 4
    for p in bps_panels:
        assert p["fieldConfig"]["defaults"]["unit"] == "suffix: bps", p["title"]


def test_unique_ids_and_uid() -> None:
    dash = _dashboard()
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids))
    assert dash["uid"] == "pegbot-desk"
    for p in _panels(dash):
        refs = [t["refId"] for t in p.get("targets", [])]
        assert len(refs) == len(set(refs)), p["title"]


def test_grid_within_24_columns_and_no_overlap() -> None:
    dash = _dashboard()
    cells: dict[tuple[int, int], str] = {}
    for p in _panels(dash):
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["y"] >= 0, p["title"]
        assert g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = p["title"]


def test_rows_the_desk_asked_for() -> None:
    rows = [p["title"] for p in _dashboard()["panels"] if p["type"] == "row"]
    for wanted in (
        "Status",
        "Peg and book",
        "Inventory and P&L",
        "Execution",
        "Latency and connectivity",
        "Arbitrage signals",
        "Desk: signals, inventory, chain",
    ):
        assert wanted in rows


def _desk_titles() -> set[str]:
    dash = _dashboard()
    out: set[str] = set()
    row = ""
    for p in dash["panels"]:
        if p["type"] == "row":
            row = p["title"]
        elif row.startswith("Desk"):
            out.add(p["title"])
    return out


def test_the_desk_row_has_the_panels_the_issue_asked_for() -> None:
    assert {
        "Signals by state",
        "Open signals",
        "Realised round-trip P&L",
        "Ladder capacity (levels)",
        "Ladder capacity (lots)",
        "Desk balances in their bands",
        "Chain total supply",
        "Desk wallet balances",
        "Unexplained supply changes",
        "Chain poll age",
        "Chain transfers and poll errors",
    } <= _desk_titles()


def test_chain_panels_show_only_processes_that_run_the_watcher() -> None:
    # The table creates the unlabelled pegbot_chain_* gauges everywhere: read without the
    # watcher's flag they would show a supply of 0 for a bot that watches no chain.
    for title, expr in _queries(_dashboard()):
        if "pegbot_chain_" in expr.replace("pegbot_chain_watcher_enabled", ""):
            assert expr.endswith(
                'on (job, instance) (pegbot_chain_watcher_enabled{job=~"$job"} == 1)'
            ), title


def _annotation() -> dict[str, Any]:
    [ann] = [a for a in _dashboard()["annotations"]["list"] if a["name"] == "Signal transitions"]
    return ann


def test_signal_transition_annotation() -> None:
    ann = _annotation()
    # The Prometheus data source of the dashboard's variable, its options at the top level
    # where Grafana's Prometheus annotation support reads them.
    assert ann["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
    assert ann["enable"] is True and ann["hide"] is False
    assert ann["useValueForTime"] is True
    # Grafana takes the value as the event time in milliseconds; the gauge is in seconds.
    assert ann["expr"].startswith("1000 * (pegbot_signal_last_transition_timestamp_seconds{")
    assert '{job=~"$job"}' in ann["expr"]
    assert set(ann["tagKeys"].split(",")) == {"kind", "to_state"}
    assert "{{kind}}" in ann["titleFormat"] and "{{to_state}}" in ann["titleFormat"]


@pytest.mark.parametrize("bad", ["bps", "", None])
def test_lint_catches_a_bad_unit(bad: str | None) -> None:
    # The lint must fail on the mistakes it exists for: a bits-per-second or missing unit.
    dash = _dashboard()
    panel = next(p for p in _panels(dash) if p["type"] == "timeseries")
    panel["fieldConfig"]["defaults"]["unit"] = bad
    unit = panel["fieldConfig"]["defaults"].get("unit")
    ok = bool(unit) and (unit in KNOWN_UNITS or re.fullmatch(r"(suffix|prefix):.+", unit or ""))
    assert not ok
