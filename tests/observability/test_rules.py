"""Alert and recording rules: promtool checks them, runs their unit tests, and every alert is
tested both firing and not firing."""

from __future__ import annotations

import re
import runpy
import subprocess
from typing import Any

import pytest
from _prom import GRAFANA, PROMTOOL, RULES, RULES_TEST, needs_promtool

# PyYAML arrives with the dev/peer extras today (through bokeh); it belongs in [dev].
yaml = pytest.importorskip("yaml")


def _alerts() -> list[str]:
    doc = yaml.safe_load(RULES.read_text())
    return [r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r]


@needs_promtool
def test_promtool_check_rules() -> None:
    out = subprocess.run([PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


@needs_promtool
def test_promtool_check_config() -> None:
    cfg = GRAFANA / "prometheus.yml"
    out = subprocess.run([PROMTOOL, "check", "config", str(cfg)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@needs_promtool
def test_promtool_test_rules() -> None:
    out = subprocess.run(
        [PROMTOOL, "test", "rules", RULES_TEST.name],
        capture_output=True,
        text=True,
        cwd=RULES_TEST.parent,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_every_alert_is_tested_firing_and_not_firing() -> None:
    tests = yaml.safe_load(RULES_TEST.read_text())["tests"]
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in tests:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    alerts = set(_alerts())
    assert alerts, "no alerts found"
    assert alerts - firing == set(), "alerts never tested firing"
    assert alerts - quiet == set(), "alerts never tested not firing"
    assert (firing | quiet) - alerts == set(), "tests name alerts that do not exist"


def test_alerts_have_severity_and_text() -> None:
    doc = yaml.safe_load(RULES.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"page", "warning"}, rule["alert"]
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            else:
                assert rule["record"].startswith("pegbot:"), rule


def test_catalogue_alerts_present() -> None:
    # The list: peg deviation, not quoting both sides, fair value stale, book stale,
    # kill switch, reject storm, inventory near limit, bot down.
    required = {
        "PegbotPegDeviationHigh",
        "PegbotNotQuotingBothSides",
        "PegbotFairValueStale",
        "PegbotBookStale",
        "PegbotKillSwitchEngaged",
        "PegbotRejectStorm",
        "PegbotInventoryNearLimit",
        "PegbotDown",
    }
    assert required <= set(_alerts())


def _rule(alert: str) -> dict[str, Any]:
    doc = yaml.safe_load(RULES.read_text())
    rule: dict[str, Any] = next(
        r for g in doc["groups"] for r in g["rules"] if r.get("alert") == alert
    )
    return rule


def _threshold(alert: str, op: str = ">") -> float:
    """The number an alert's expression ends comparing against (``> N``, or ``op N``)."""
    expr = _rule(alert)["expr"]
    m = re.search(rf"{re.escape(op)}\s*([0-9.]+)\s*$", expr.strip())
    assert m, expr
    return float(m.group(1))


def _for_seconds(alert: str) -> float:
    """An alert's ``for`` duration in seconds (``5m``, ``30s``, ``1h``)."""
    m = re.fullmatch(r"(\d+)([smh])", _rule(alert)["for"])
    assert m, alert
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


def test_dashboard_thresholds_are_the_alert_thresholds() -> None:
    # The panels shade where the pager fires; the two files must not drift apart.
    dash = runpy.run_path(str(GRAFANA / "build_dashboard.py"))
    assert dash["PEG_ALERT_BPS"] == _threshold("PegbotPegDeviationHigh")
    assert dash["INVENTORY_ALERT_RATIO"] == _threshold("PegbotInventoryNearLimit")
    assert dash["BOOK_STALE_S"] == _threshold("PegbotBookStale")
    assert dash["ONE_SIDED_ALERT_S"] == _threshold("PegbotOneSidedTooLong")
    assert dash["REQUOTE_ALERT_S"] == _threshold("PegbotJumpRequoteSlow")
    assert dash["VENUE_BAN_ALERT_S"] == _threshold("PegbotVenueBanned")
    assert dash["CAPACITY_ALERT_LEVELS"] == _threshold("PegbotLadderCapacityLow", "<")
    assert dash["CHAIN_STALE_S"] == _threshold("PegbotChainWatcherStale")
    assert dash["FAIR_JUMP_PAGE_S"] == _for_seconds("PegbotFairJumpUnconfirmed")


def test_desk_alerts_present() -> None:
    # The desk's: a side the balance cannot fund, supply moved without the journal, and a
    # chain watcher that stopped polling.
    assert {
        "PegbotLadderCapacityLow",
        "PegbotChainSupplyUnexplained",
        "PegbotChainWatcherStale",
    } <= set(_alerts())
    assert _rule("PegbotChainSupplyUnexplained")["labels"]["severity"] == "page"
    assert _rule("PegbotChainWatcherStale")["labels"]["severity"] == "warning"
