"""Generate ``grafana/dashboards/pegbot.json``, the desk's dashboard, from the panel list below.

Run ``python grafana/build_dashboard.py`` after changing a panel and commit both files; a test
checks that the committed JSON equals what this script generates. Plain dicts, no SDK: the
JSON targets Grafana 10.4/11 (``schemaVersion`` 39) and Grafana migrates it forward on load.

Every query carries the template variables: ``job=~"$job"`` always, ``venue``/``symbol`` where
the metric has them. Rates use ``$__rate_interval``. Units are Grafana unit ids; basis points
use the custom unit ``suffix: bps`` (the id ``bps`` would mean bits per second).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "dashboards" / "pegbot.json"
UID = "pegbot-desk"
DS = {"type": "prometheus", "uid": "${datasource}"}

J = 'job=~"$job"'
V = 'job=~"$job", venue=~"$venue"'
S = 'job=~"$job", venue=~"$venue", symbol=~"$symbol"'
SIM = 'job=~"$sim_job"'
RI = "[$__rate_interval]"

BPS = "suffix: bps"
USDT = "suffix: USDT"
# Alert thresholds shown on panels; keep in step with grafana/rules/pegbot_rules.yml.
PEG_ALERT_BPS = 50
INVENTORY_ALERT_RATIO = 0.9


@dataclass
class Panel:
    """One panel: title, description, unit, queries ``(expr, legend)`` and a few options."""

    title: str
    description: str
    unit: str
    targets: list[tuple[str, str]]
    kind: str = "timeseries"
    w: int = 8
    h: int = 8
    thresholds: list[tuple[float | None, str]] = field(default_factory=list)
    mappings: list[dict[str, Any]] = field(default_factory=list)
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    text_mode: str = "value_and_name"
    threshold_lines: bool = False


@dataclass
class Row:
    """A dashboard row and its panels."""

    title: str
    panels: list[Panel]
    collapsed: bool = False


def _thresholds(steps: list[tuple[float | None, str]]) -> dict[str, Any]:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def _panel(p: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": p.unit,
        "thresholds": _thresholds(p.thresholds),
        "mappings": p.mappings,
        "color": {"mode": "thresholds" if p.kind == "stat" else "palette-classic"},
    }
    for key in ("decimals", "min", "max"):
        if getattr(p, key) is not None:
            defaults[key] = getattr(p, key)
    if p.threshold_lines:
        defaults["custom"] = {"thresholdsStyle": {"mode": "line+area"}}
    out: dict[str, Any] = {
        "id": pid,
        "type": p.kind,
        "title": p.title,
        "description": p.description,
        "datasource": DS,
        "gridPos": {"h": p.h, "w": p.w, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": DS,
                "expr": expr,
                "legendFormat": legend,
                **({"format": "heatmap"} if p.kind == "heatmap" else {}),
            }
            for i, (expr, legend) in enumerate(p.targets)
        ],
    }
    if p.kind == "stat":
        out["options"] = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": p.text_mode,
            "justifyMode": "center",
            "orientation": "auto",
        }
    elif p.kind == "heatmap":
        out["options"] = {
            "calculate": False,
            "yAxis": {"unit": p.unit},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges"},
        }
    else:
        out["options"] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "none"},
        }
    return out


def _var_query(name: str, label: str, query: str, *, multi: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "definition": query,
        "query": {"qryType": 1, "query": query, "refId": f"PrometheusVariableQueryEditor-{name}"},
        "refresh": 2,
        "sort": 1,
        "multi": multi,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "hide": 0,
        "regex": "",
        "options": [],
    }


def _ratio_mapping_onoff(off: str, on: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "value",
            "options": {
                "0": {"text": off, "color": "green", "index": 0},
                "1": {"text": on, "color": "red", "index": 1},
            },
        }
    ]


def rows() -> list[Row]:
    """The dashboard's rows, top to bottom."""
    peg_steps = [
        (None, "red"),
        (-PEG_ALERT_BPS, "orange"),
        (-PEG_ALERT_BPS / 2, "green"),
        (PEG_ALERT_BPS / 2, "orange"),
        (PEG_ALERT_BPS, "red"),
    ]
    status = Row(
        "Status",
        [
            Panel(
                "Mode",
                "Trading mode and version of each bot process (pegbot_build_info).",
                "none",
                [(f"pegbot_build_info{{{J}}}", "{{mode}} {{version}} {{git_sha}}")],
                kind="stat",
                w=4,
                h=4,
                text_mode="name",
                thresholds=[(None, "blue")],
            ),
            Panel(
                "Bot up",
                "Whether Prometheus can scrape the bot (up). 0 means the process is down.",
                "none",
                [(f"up{{{J}}}", "{{instance}}")],
                kind="stat",
                w=2,
                h=4,
                thresholds=[(None, "red"), (1, "green")],
                mappings=[
                    {
                        "type": "value",
                        "options": {
                            "0": {"text": "DOWN", "index": 0},
                            "1": {"text": "UP", "index": 1},
                        },
                    }
                ],
            ),
            Panel(
                "Risk level",
                "Current risk level per venue and symbol: normal, defend (wider, smaller), "
                "freeze (quotes pulled) or halt (latched until pegbot resume).",
                "none",
                [(f"pegbot_risk_level{{{S}}} == 1", "{{venue}} {{symbol}}: {{level}}")],
                kind="stat",
                w=4,
                h=4,
                text_mode="name",
                thresholds=[(None, "purple")],
            ),
            Panel(
                "Kill switch",
                "Engaged on any selected venue (latched until an operator resumes).",
                "none",
                [(f"max(pegbot_kill_switch_engaged{{{V}}})", "kill switch")],
                kind="stat",
                w=2,
                h=4,
                thresholds=[(None, "green"), (1, "red")],
                mappings=_ratio_mapping_onoff("OFF", "ENGAGED"),
            ),
            Panel(
                "Quote uptime (1h)",
                "Share of the last hour our quote rested on the book, for the worse side.",
                "percentunit",
                [
                    (
                        f"min by (venue, symbol) (avg_over_time(pegbot_quote_up{{{S}}}[1h]))",
                        "{{venue}} {{symbol}}",
                    )
                ],
                kind="stat",
                w=3,
                h=4,
                decimals=1,
                thresholds=[(None, "red"), (0.9, "orange"), (0.98, "green")],
            ),
            Panel(
                "Peg deviation",
                "(market mid - fair) / fair now. The desk's first question: is the peg held?",
                BPS,
                [(f"pegbot_peg_deviation_bps{{{S}}}", "{{venue}} {{symbol}}")],
                kind="stat",
                w=3,
                h=4,
                decimals=1,
                thresholds=peg_steps,
            ),
            Panel(
                "Inventory of limit",
                "How close inventory is to its nearest hard limit (0 at target, 100% at it).",
                "percentunit",
                [(f"pegbot_inventory_limit_ratio{{{S}}}", "{{venue}} {{symbol}}")],
                kind="stat",
                w=2,
                h=4,
                decimals=0,
                thresholds=[(None, "green"), (0.7, "orange"), (INVENTORY_ALERT_RATIO, "red")],
            ),
            Panel(
                "Net P&L",
                "Realized + unrealized - fees since the bot started, in the quote currency.",
                USDT,
                [
                    (
                        f'sum by (venue, symbol) (pegbot_pnl_quote{{{S}, kind!="fees"}})'
                        f' - sum by (venue, symbol) (pegbot_pnl_quote{{{S}, kind="fees"}})',
                        "{{venue}} {{symbol}}",
                    )
                ],
                kind="stat",
                w=2,
                h=4,
                decimals=2,
                thresholds=[(None, "red"), (0, "green")],
            ),
            Panel(
                "Book age",
                "Seconds since the book was last confirmed live (a message, or a REST probe "
                "finding a quiet book unchanged); the book-stale alert fires above 10 s.",
                "s",
                [
                    (
                        "time() - max by (venue, symbol) "
                        f"(pegbot_book_confirmed_timestamp_seconds{{{S}}})",
                        "{{venue}} {{symbol}}",
                    )
                ],
                kind="stat",
                w=2,
                h=4,
                decimals=1,
                thresholds=[(None, "green"), (5, "orange"), (10, "red")],
            ),
        ],
    )
    peg = Row(
        "Peg and book",
        [
            Panel(
                "Peg deviation over time",
                "Market mid against the som fair value, in bps; shaded beyond the alert band.",
                BPS,
                [(f"pegbot_peg_deviation_bps{{{S}}}", "{{venue}} {{symbol}}")],
                w=12,
                thresholds=peg_steps,
                threshold_lines=True,
            ),
            Panel(
                "Mid vs fair",
                "Market mid and the fair value (KGS peg converted to the quote currency).",
                USDT,
                [
                    (f"pegbot_mid_price_quote{{{S}}}", "mid {{venue}} {{symbol}}"),
                    (f"pegbot_fair_value_quote{{{S}}}", "fair {{venue}} {{symbol}}"),
                ],
                w=12,
                decimals=6,
            ),
            Panel(
                "Spreads",
                "Market best bid/ask spread against our own quoted spread, in bps of the mid.",
                BPS,
                [
                    (f"pegbot_market_spread_bps{{{S}}}", "market {{venue}} {{symbol}}"),
                    (f"pegbot_quoted_spread_bps{{{S}}}", "ours {{venue}} {{symbol}}"),
                ],
            ),
            Panel(
                "Market depth by band",
                "Notional resting in the whole book within ±band bps of fair, by side.",
                USDT,
                [
                    (
                        f'sum by (side, band_bps) (pegbot_depth_quote{{{S}, owner="market"}})',
                        "{{side}} ±{{band_bps}} bps",
                    )
                ],
            ),
            Panel(
                "Our share of depth ±25 bps",
                "Our notional within ±25 bps of fair over the market's (which includes ours).",
                "percentunit",
                [
                    (
                        f'sum by (side) (pegbot_depth_quote{{{S}, owner="self", band_bps="25"}})'
                        " / clamp_min(sum by (side) "
                        f'(pegbot_depth_quote{{{S}, owner="market", band_bps="25"}}), 1e-9)',
                        "{{side}}",
                    )
                ],
                min=0,
            ),
            Panel(
                "Our depth by band",
                "Notional of our own resting orders within ±band bps of fair, by side.",
                USDT,
                [
                    (
                        f'sum by (side, band_bps) (pegbot_depth_quote{{{S}, owner="self"}})',
                        "{{side}} ±{{band_bps}} bps",
                    )
                ],
            ),
            Panel(
                "Quoting per side",
                "1 while our quote rests on that side; and how many orders rest there.",
                "short",
                [
                    (f"pegbot_quote_up{{{S}}}", "up {{side}}"),
                    (f"pegbot_quote_orders{{{S}}}", "orders {{side}}"),
                ],
            ),
            Panel(
                "Reference source age",
                "Seconds since each reference rate source last answered with a valid rate.",
                "s",
                [
                    (
                        f"time() - pegbot_reference_last_update_timestamp_seconds{{{J}}}",
                        "age {{source}}",
                    ),
                ],
            ),
            Panel(
                "Fair value disagreement",
                "(max - min) / median of the fresh rate sources; 'disputed' above policy.",
                BPS,
                [(f"pegbot_fair_value_disagreement_bps{{{S}}}", "{{venue}} {{symbol}}")],
            ),
        ],
    )
    inventory = Row(
        "Inventory and P&L",
        [
            Panel(
                "Inventory",
                "Base asset (KGST) held.",
                "short",
                [(f"pegbot_inventory_base{{{S}}}", "{{venue}} {{symbol}}")],
            ),
            Panel(
                "Inventory of limit over time",
                "0 at target, 1 at the nearest hard limit; the alert fires above 0.9.",
                "percentunit",
                [(f"pegbot_inventory_limit_ratio{{{S}}}", "{{venue}} {{symbol}}")],
                thresholds=[(None, "green"), (INVENTORY_ALERT_RATIO, "red")],
                threshold_lines=True,
                min=0,
            ),
            Panel(
                "P&L by kind",
                "Realized, unrealized (marked to fair) and fees paid, since start.",
                USDT,
                [(f"sum by (kind) (pegbot_pnl_quote{{{S}}})", "{{kind}}")],
            ),
            Panel(
                "Fill notional per minute",
                "Quote-currency value of our fills per minute, by side.",
                "suffix: USDT/min",
                [
                    (
                        f"sum by (side) (rate(pegbot_fill_notional_quote_total{{{S}}}{RI})) * 60",
                        "{{side}}",
                    )
                ],
                w=12,
            ),
            Panel(
                "Arbitrage net edge",
                "Net edge of the last proposed mint/redeem signal, after costs.",
                BPS,
                [(f"pegbot_arb_signal_net_edge_bps{{{J}}}", "{{direction}}")],
                w=12,
            ),
        ],
    )
    execution = Row(
        "Execution",
        [
            Panel(
                "Fills per minute",
                "Our fills per minute by side and liquidity (maker/taker).",
                "cpm",
                [
                    (
                        f"sum by (side, liquidity) (rate(pegbot_fills_total{{{S}}}{RI})) * 60",
                        "{{side}} {{liquidity}}",
                    )
                ],
            ),
            Panel(
                "Orders per minute",
                "Orders and cancels we sent per minute, by side.",
                "cpm",
                [
                    (
                        f"sum by (side) (rate(pegbot_orders_submitted_total{{{S}}}{RI})) * 60",
                        "submit {{side}}",
                    ),
                    (
                        f"sum by (side) (rate(pegbot_orders_cancelled_total{{{S}}}{RI})) * 60",
                        "cancel {{side}}",
                    ),
                ],
            ),
            Panel(
                "Cancels per fill",
                "Cancels over fills (fills floored at one a minute, so a quiet book reads low).",
                "short",
                [
                    (
                        f"sum(rate(pegbot_orders_cancelled_total{{{S}}}{RI}))"
                        f" / clamp_min(sum(rate(pegbot_fills_total{{{S}}}{RI})), 1/60)",
                        "cancels per fill",
                    )
                ],
            ),
            Panel(
                "Rejects per minute",
                "Requests the venue refused or failed, by normalised reason.",
                "cpm",
                [
                    (
                        f"sum by (reason) (rate(pegbot_order_rejects_total{{{S}}}{RI})) * 60",
                        "{{reason}}",
                    )
                ],
            ),
            Panel(
                "Rate limit used",
                "Request weight used in the venue's window over its limit.",
                "percentunit",
                [(f"pegbot_rate_limit_used_ratio{{{V}}}", "{{venue}}")],
                thresholds=[(None, "green"), (0.8, "red")],
                threshold_lines=True,
                min=0,
            ),
            Panel(
                "Risk triggers",
                "Which risk triggers are active (1) per trigger; the level follows the worst.",
                "short",
                [(f"sum by (trigger) (pegbot_risk_trigger_active{{{S}}})", "{{trigger}}")],
            ),
        ],
    )
    latency = Row(
        "Latency and connectivity",
        [
            Panel(
                "Tick to quote",
                "From the book update to the order it caused: p50, p90 and p99.",
                "s",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(pegbot_tick_to_quote_seconds_bucket{{{S}}}{RI})))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.9, 0.99)
                ],
            ),
            Panel(
                "Tick to quote distribution",
                "Tick-to-quote observations per second in each latency bucket.",
                "s",
                [
                    (
                        f"sum by (le) (rate(pegbot_tick_to_quote_seconds_bucket{{{S}}}{RI}))",
                        "{{le}}",
                    )
                ],
                kind="heatmap",
            ),
            Panel(
                "Order ack latency p99",
                "99th percentile round trip of order requests to the venue, by action.",
                "s",
                [
                    (
                        "histogram_quantile(0.99, sum by (le, action) "
                        f"(rate(pegbot_order_ack_latency_seconds_bucket{{{V}}}{RI})))",
                        "{{action}}",
                    )
                ],
            ),
            Panel(
                "WebSocket connected",
                "1 while each stream (depth, trades, user data) is connected.",
                "short",
                [(f"pegbot_ws_connected{{{V}}}", "{{venue}} {{stream}}")],
                min=0,
                max=1,
            ),
            Panel(
                "Reconnects and resyncs per minute",
                "WebSocket reconnects by stream and order-book resyncs by reason.",
                "cpm",
                [
                    (
                        f"sum by (stream) (rate(pegbot_ws_reconnects_total{{{V}}}{RI})) * 60",
                        "reconnect {{stream}}",
                    ),
                    (
                        f"sum by (reason) (rate(pegbot_book_resyncs_total{{{S}}}{RI})) * 60",
                        "resync {{reason}}",
                    ),
                ],
            ),
            Panel(
                "Heartbeat and book age",
                "Seconds since the main loop last ran, since the book was last confirmed live, "
                "and since it last changed (a quiet peg book may not change for minutes).",
                "s",
                [
                    (f"time() - pegbot_loop_last_run_timestamp_seconds{{{J}}}", "loop"),
                    (
                        f"time() - pegbot_book_confirmed_timestamp_seconds{{{S}}}",
                        "confirmed {{venue}} {{symbol}}",
                    ),
                    (
                        f"time() - pegbot_book_last_update_timestamp_seconds{{{S}}}",
                        "changed {{venue}} {{symbol}}",
                    ),
                ],
            ),
        ],
    )
    arb = Row(
        "Arbitrage signals",
        [
            Panel(
                "Signals per hour",
                "Mint/redeem signals entering each state, per hour.",
                "suffix: /h",
                [
                    (
                        "sum by (direction, state) "
                        f"(rate(pegbot_arb_signals_total{{{J}}}{RI})) * 3600",
                        "{{direction}} {{state}}",
                    )
                ],
            ),
            Panel(
                "Suppressed per hour",
                "Evaluations with an edge but no signal, by reason (cooldown, caps, size).",
                "suffix: /h",
                [
                    (
                        "sum by (direction, reason) "
                        f"(rate(pegbot_arb_signals_suppressed_total{{{J}}}{RI})) * 3600",
                        "{{direction}} {{reason}}",
                    )
                ],
            ),
            Panel(
                "Signals enabled and webhook backlog",
                "1 while signals may be raised (fair ok); events waiting for the webhook.",
                "short",
                [
                    (f"pegbot_arb_signals_enabled{{{S}}}", "enabled {{venue}} {{symbol}}"),
                    (f"pegbot_webhook_pending_deliveries{{{J}}}", "webhook pending"),
                ],
            ),
        ],
    )
    process = Row(
        "Process",
        [
            Panel(
                "CPU",
                "CPU time used per second by the bot process.",
                "percentunit",
                [(f"rate(process_cpu_seconds_total{{{J}}}{RI})", "{{instance}}")],
                w=6,
            ),
            Panel(
                "Memory",
                "Resident memory of the bot process.",
                "bytes",
                [(f"process_resident_memory_bytes{{{J}}}", "{{instance}}")],
                w=6,
            ),
            Panel(
                "Open file descriptors",
                "Open fds (sockets included) against the process limit.",
                "short",
                [
                    (f"process_open_fds{{{J}}}", "open {{instance}}"),
                    (f"process_max_fds{{{J}}}", "max {{instance}}"),
                ],
                w=6,
            ),
            Panel(
                "GC and scrape",
                "Python GC collections per second by generation, and scrape duration.",
                "short",
                [
                    (
                        f"sum by (generation) (rate(python_gc_collections_total{{{J}}}{RI}))",
                        "gc gen {{generation}}",
                    ),
                    (f"scrape_duration_seconds{{{J}}}", "scrape s {{instance}}"),
                ],
                w=6,
            ),
        ],
        collapsed=True,
    )
    sim = Row(
        "Simulator (paper and demo)",
        [
            Panel(
                "Simulator requests",
                "HTTP requests per second the exchange simulator served, by endpoint and status.",
                "reqps",
                [
                    (
                        f"sum by (endpoint, status) (rate(pegbot_sim_requests_total{{{SIM}}}{RI}))",
                        "{{endpoint}} {{status}}",
                    )
                ],
            ),
            Panel(
                "Simulator orders and fills",
                "Order events and users' fills per minute on the simulator.",
                "cpm",
                [
                    (
                        f"sum by (event) (rate(pegbot_sim_order_events_total{{{SIM}}}{RI})) * 60",
                        "{{event}}",
                    ),
                    (
                        f"sum by (side) (rate(pegbot_sim_fills_total{{{SIM}}}{RI})) * 60",
                        "fill {{side}}",
                    ),
                ],
            ),
            Panel(
                "Simulator streams and faults",
                "WebSocket clients, messages pushed per second and faults injected per minute.",
                "short",
                [
                    (f"pegbot_sim_ws_clients{{{SIM}}}", "clients {{api}}"),
                    (f"rate(pegbot_sim_messages_pushed_total{{{SIM}}}{RI})", "messages/s"),
                    (
                        f"sum by (fault) (rate(pegbot_sim_faults_injected_total{{{SIM}}}{RI}))"
                        " * 60",
                        "fault {{fault}}/min",
                    ),
                ],
            ),
        ],
        collapsed=True,
    )
    return [status, peg, inventory, execution, latency, arb, process, sim]


def variables() -> list[dict[str, Any]]:
    """Template variables: datasource, job, venue, symbol, and the simulator's job."""
    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        _var_query("job", "Job", "label_values(pegbot_build_info, job)"),
        _var_query("venue", "Venue", 'label_values(pegbot_quote_up{job=~"$job"}, venue)'),
        _var_query(
            "symbol",
            "Symbol",
            'label_values(pegbot_quote_up{job=~"$job", venue=~"$venue"}, symbol)',
        ),
        _var_query("sim_job", "Simulator job", "label_values(pegbot_sim_ws_clients, job)"),
    ]


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    panels: list[dict[str, Any]] = []
    pid, y = 1, 0
    for row in rows():
        row_panel: dict[str, Any] = {
            "id": pid,
            "type": "row",
            "title": row.title,
            "collapsed": row.collapsed,
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
            "panels": [],
        }
        pid, y = pid + 1, y + 1
        children: list[dict[str, Any]] = []
        x, line_h = 0, 0
        for p in row.panels:
            if x + p.w > 24:
                x, y, line_h = 0, y + line_h, 0
            children.append(_panel(p, pid, x, y))
            pid, x, line_h = pid + 1, x + p.w, max(line_h, p.h)
        y += line_h
        if row.collapsed:
            # Grafana keeps a collapsed row's panels inside the row.
            row_panel["panels"] = children
            panels.append(row_panel)
        else:
            panels.append(row_panel)
            panels.extend(children)
    return {
        "uid": UID,
        "title": "pegbot — KGST peg desk",
        "description": "Is the peg held, at what depth, at what cost, and is the bot healthy.",
        "tags": ["pegbot", "kgst"],
        "timezone": "utc",
        "editable": False,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "timepicker": {},
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "links": [],
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "templating": {"list": variables()},
        "panels": panels,
    }


def render() -> str:
    """The dashboard JSON text, as committed (sorted keys, two-space indent, final newline)."""
    return json.dumps(build(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    """Write :data:`OUT`; with ``--check`` only compare and exit 1 if it differs."""
    text = render()
    if "--check" in sys.argv[1:]:
        same = OUT.exists() and OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs; run python {__file__}")
        return 0 if same else 1
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
