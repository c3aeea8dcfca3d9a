"""Generate ``grafana/dashboards/pegbot.json``, the desk's dashboard, with Grafana's own SDK.

Run ``python grafana/build_dashboard.py`` after changing a panel and commit both files; a test
checks that the committed JSON equals what this script generates (``--check`` does the same
from the shell), so nobody edits the JSON by hand.

Built with ``grafana-foundation-sdk`` (the Grafana 11.6 flavour, ``schemaVersion`` 41, pinned
in ``pyproject.toml``): its typed builders and JSON encoder write what Grafana reads, so a
misspelt option fails here rather than being ignored by Grafana. The dashboard is a table:
:func:`rows` lists each row's panels as :class:`Panel` entries (title, description, unit,
queries, kind, size, thresholds), and :func:`sdk_panel` turns one entry into the SDK's
builder. The SDK lays rows and panels out on the 24-column grid but leaves panel ids unset,
so :func:`build` numbers them in order.

The dashboard-level annotation of signal transitions comes from :func:`annotations`; the
SDK's annotation model types only the Grafana data source's fields, so :class:`PromAnnotation`
adds the Prometheus data source's (value as timestamp, title, tags).

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

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import heatmap as heatmap_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import timeseries as timeseries_b
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_m
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import heatmap as heatmap_m
from grafana_foundation_sdk.models import prometheus as prom_m

OUT = Path(__file__).resolve().parent / "dashboards" / "pegbot.json"
UID = "pegbot-desk"
DS = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")

J = 'job=~"$job"'
V = 'job=~"$job", venue=~"$venue"'
S = 'job=~"$job", venue=~"$venue", symbol=~"$symbol"'
SIM = 'job=~"$sim_job"'
RI = "[$__rate_interval]"

BPS = "suffix: bps"
USDT = "suffix: USDT"
# Alert thresholds shown on panels; a test checks them against grafana/rules/pegbot_rules.yml.
PEG_ALERT_BPS = 50
INVENTORY_ALERT_RATIO = 0.9
BOOK_STALE_S = 10
ONE_SIDED_ALERT_S = 30
REQUOTE_ALERT_S = 60
VENUE_BAN_ALERT_S = 60
CAPACITY_ALERT_LEVELS = 1
CHAIN_STALE_S = 300
FAIR_JUMP_PAGE_S = 300  # the `for` of PegbotFairJumpUnconfirmed
KGST = "suffix: KGST"
# Chain panels show a process's figures only where it runs the watcher: elsewhere the
# unlabelled pegbot_chain_* gauges read 0 (the table creates every row), not "no chain".
CHAIN_ON = f"on (job, instance) (pegbot_chain_watcher_enabled{{{J}}} == 1)"

Target = tuple[str, str]  # (PromQL, legend)
Steps = list[tuple[float | None, str]]  # threshold steps (from value, colour)


@dataclass
class Panel:
    """One panel: title, description, unit, queries ``(expr, legend)`` and a few options."""

    title: str
    description: str
    unit: str
    targets: list[Target]
    kind: str = "timeseries"
    w: int = 8
    h: int = 8
    thresholds: Steps = field(default_factory=list)
    mappings: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    decimals: int | None = None
    min: float | None = None
    max: float | None = None
    text_mode: common_m.BigValueTextMode = common_m.BigValueTextMode.VALUE_AND_NAME
    threshold_lines: bool = False


@dataclass
class Row:
    """A dashboard row and its panels."""

    title: str
    panels: list[Panel]
    collapsed: bool = False


# -- the queries that repeat ----------------------------------------------------------------


def per_market(metric: str, prefix: str = "", matchers: str = S) -> Target:
    """A gauge per venue and symbol, legend ``[prefix ]venue symbol``."""
    legend = "{{venue}} {{symbol}}"
    return f"{metric}{{{matchers}}}", f"{prefix} {legend}" if prefix else legend


def rate_by(counter: str, by: str, matchers: str = S, per: int = 60) -> str:
    """``sum by (by) (rate(counter[$__rate_interval])) * per``: events per minute (or hour)."""
    return f"sum by ({by}) (rate({counter}{{{matchers}}}{RI})) * {per}"


def age(timestamp: str, matchers: str) -> str:
    """Seconds since a ``..._timestamp_seconds`` gauge was set."""
    return f"time() - {timestamp}{{{matchers}}}"


def chain(expr: str) -> str:
    """``expr`` (which keeps its job and instance labels) where the chain watcher runs."""
    return f"({expr}) and {CHAIN_ON}"


def band(bound: str) -> str:
    """A bound (min, target, max) of the desk's rebalance bands."""
    return f'pegbot_desk_balance_band_base{{{J}, bound="{bound}"}}'


BALANCE = f"pegbot_desk_balance_base{{{J}}}"
BAND_WIDTH = f"{band('max')} - ignoring (bound) {band('min')}"
# Seconds a pending fair-price jump has waited (0 while none is pending).
JUMP_WAITING = (
    f"(time() - pegbot_fair_jump_started_timestamp_seconds{{{S}}})"
    f" * pegbot_fair_jump_pending{{{S}}}"
)


def stat(
    title: str, description: str, unit: str, targets: list[Target], w: int, **kw: Any
) -> Panel:
    """A status tile (4 high)."""
    return Panel(title, description, unit, targets, kind="stat", w=w, h=4, **kw)


# -- the table ------------------------------------------------------------------------------


def rows() -> list[Row]:
    """The dashboard's rows, top to bottom."""
    peg_steps: Steps = [
        (None, "red"),
        (-PEG_ALERT_BPS, "orange"),
        (-PEG_ALERT_BPS / 2, "green"),
        (PEG_ALERT_BPS / 2, "orange"),
        (PEG_ALERT_BPS, "red"),
    ]
    name_only = common_m.BigValueTextMode.NAME
    status = Row("Status", [
        stat("Mode", "Trading mode and version of each bot process (pegbot_build_info).",
             "none", [(f"pegbot_build_info{{{J}}}", "{{mode}} {{version}} {{git_sha}}")], 4,
             text_mode=name_only, thresholds=[(None, "blue")]),
        stat("Bot up", "Whether Prometheus can scrape the bot (up). 0 means the process is down.",
             "none", [(f"up{{{J}}}", "{{instance}}")], 2,
             thresholds=[(None, "red"), (1, "green")],
             mappings={"0": ("DOWN", None), "1": ("UP", None)}),
        stat("Risk level", "Current risk level per venue and symbol: normal, defend (wider, "
             "smaller), freeze (quotes pulled) or halt (latched until pegbot resume).", "none",
             [(f"pegbot_risk_level{{{S}}} == 1", "{{venue}} {{symbol}}: {{level}}")], 4,
             text_mode=name_only, thresholds=[(None, "purple")]),
        stat("Kill switch", "Engaged on any selected venue (latched until an operator resumes).",
             "none", [(f"max(pegbot_kill_switch_engaged{{{V}}})", "kill switch")], 2,
             thresholds=[(None, "green"), (1, "red")],
             mappings={"0": ("OFF", "green"), "1": ("ENGAGED", "red")}),
        stat("Quote uptime (1h)",
             "Share of the last hour our quote rested on the book, for the worse side.",
             "percentunit",
             [(f"min by (venue, symbol) (avg_over_time(pegbot_quote_up{{{S}}}[1h]))",
               "{{venue}} {{symbol}}")], 3,
             decimals=1, thresholds=[(None, "red"), (0.9, "orange"), (0.98, "green")]),
        stat("Peg deviation",
             "(market mid - fair) / fair now. The desk's first question: is the peg held?",
             BPS, [per_market("pegbot_peg_deviation_bps")], 3,
             decimals=1, thresholds=peg_steps),
        stat("Inventory of limit",
             "How close inventory is to its nearest hard limit (0 at target, 100% at it).",
             "percentunit", [per_market("pegbot_inventory_limit_ratio")], 2, decimals=0,
             thresholds=[(None, "green"), (0.7, "orange"), (INVENTORY_ALERT_RATIO, "red")]),
        stat("Net P&L", "Realized + unrealized - fees since the bot started, in the quote "
             "currency.", USDT,
             [(f'sum by (venue, symbol) (pegbot_pnl_quote{{{S}, kind!="fees"}})'
               f' - sum by (venue, symbol) (pegbot_pnl_quote{{{S}, kind="fees"}})',
               "{{venue}} {{symbol}}")], 2,
             decimals=2, thresholds=[(None, "red"), (0, "green")]),
        stat("Book age", "Seconds since the book was last confirmed live (a message, or a REST "
             f"probe finding a quiet book unchanged); the book-stale alert fires above "
             f"{BOOK_STALE_S} s.", "s",
             [("time() - max by (venue, symbol) "
               f"(pegbot_book_confirmed_timestamp_seconds{{{S}}})", "{{venue}} {{symbol}}")], 2,
             decimals=1, thresholds=[(None, "green"), (5, "orange"), (BOOK_STALE_S, "red")]),
        stat("Venue ban left",
             "Seconds until the venue's rate-limit block or ban ends (a 429's or 418's "
             "Retry-After; 0: none). Nothing, not even a cancel, is sent before then; the ban "
             f"alert fires above {VENUE_BAN_ALERT_S} s.", "s",
             [(f"clamp_min(pegbot_venue_blocked_until_timestamp_seconds{{{V}}} - time(), 0)",
               "{{venue}}")], 12,
             decimals=0, thresholds=[(None, "green"), (1, "orange"), (VENUE_BAN_ALERT_S, "red")]),
        stat("Fair jump waiting",
             "Seconds a jump of the fair price has waited for confirmation with quotes pulled "
             f"(0: none pending). It pages after {FAIR_JUMP_PAGE_S} s: check the rate, then "
             "pegbot fair ack or pegbot fair reject.", "s",
             [(JUMP_WAITING, "{{venue}} {{symbol}}")], 12,
             decimals=0, thresholds=[(None, "green"), (1, "orange"), (FAIR_JUMP_PAGE_S, "red")]),
    ])  # fmt: skip
    peg = Row("Peg and book", [
        Panel("Peg deviation over time",
              "Market mid against the som fair value, in bps; shaded beyond the alert band.",
              BPS, [per_market("pegbot_peg_deviation_bps")], w=12,
              thresholds=peg_steps, threshold_lines=True),
        Panel("Mid vs fair",
              "Market mid and the fair value (KGS peg converted to the quote currency).", USDT,
              [per_market("pegbot_mid_price_quote", "mid"),
               per_market("pegbot_fair_value_quote", "fair")], w=12, decimals=6),
        Panel("Spreads",
              "Market best bid/ask spread against our own quoted spread, in bps of the mid.",
              BPS, [per_market("pegbot_market_spread_bps", "market"),
                    per_market("pegbot_quoted_spread_bps", "ours")]),
        Panel("Market depth by band",
              "Notional resting in the whole book within ±band bps of fair, by side.", USDT,
              [(f'sum by (side, band_bps) (pegbot_depth_quote{{{S}, owner="market"}})',
                "{{side}} ±{{band_bps}} bps")]),
        Panel("Our share of depth ±25 bps",
              "Our notional within ±25 bps of fair over the market's (which includes ours).",
              "percentunit",
              [(f'sum by (side) (pegbot_depth_quote{{{S}, owner="self", band_bps="25"}})'
                " / clamp_min(sum by (side) "
                f'(pegbot_depth_quote{{{S}, owner="market", band_bps="25"}}), 1e-9)',
                "{{side}}")], min=0),
        Panel("Our depth by band",
              "Notional of our own resting orders within ±band bps of fair, by side.", USDT,
              [(f'sum by (side, band_bps) (pegbot_depth_quote{{{S}, owner="self"}})',
                "{{side}} ±{{band_bps}} bps")]),
        Panel("Quoting per side",
              "1 while our quote rests on that side; and how many orders rest there.", "short",
              [(f"pegbot_quote_up{{{S}}}", "up {{side}}"),
               (f"pegbot_quote_orders{{{S}}}", "orders {{side}}")]),
        Panel("Reference source age",
              "Seconds since each reference rate source last answered with a valid rate.", "s",
              [(age("pegbot_reference_last_update_timestamp_seconds", J), "age {{source}}")]),
        Panel("Fair value disagreement",
              "(max - min) / median of the fresh rate sources; 'disputed' above policy.", BPS,
              [per_market("pegbot_fair_value_disagreement_bps")]),
        Panel("Fair jumps: waiting and confirmed",
              "A jump of the fair price holds quotes pulled until a second source or reading "
              "confirms it: seconds the pending one has waited (0: none), and how long the "
              "last one took to confirm (-1 while pending or if set aside). It pages after "
              f"{FAIR_JUMP_PAGE_S} s.", "s",
              [(JUMP_WAITING, "waiting {{venue}} {{symbol}}"),
               per_market("pegbot_fair_jump_confirm_seconds", "confirmed after")],
              thresholds=[(None, "green"), (FAIR_JUMP_PAGE_S, "red")], threshold_lines=True),
    ])  # fmt: skip
    scorecard = Row("Peg scorecard", [
        Panel("Two-sided uptime",
              "Share of time an order of ours rested on each side: over the scorecard's rolling "
              "window, and exactly over each rate interval from the seconds counters.",
              "percentunit",
              [per_market("pegbot_scorecard_two_sided_ratio", "window"),
               (f"sum by (venue, symbol) "
                f"(rate(pegbot_scorecard_two_sided_seconds_total{{{S}}}{RI})) / clamp_min("
                f"sum by (venue, symbol) "
                f"(rate(pegbot_scorecard_observed_seconds_total{{{S}}}{RI})), 1e-9)",
                "interval {{venue}} {{symbol}}")], min=0, max=1),
        Panel("One-sided now",
              "The current run with a side empty, and per side with no order of ours; the "
              f"one-sided alert fires above {ONE_SIDED_ALERT_S} s.", "s",
              [per_market("pegbot_scorecard_one_sided_seconds", "one-sided"),
               (f"pegbot_scorecard_side_empty_seconds{{{S}}}", "empty {{side}}")],
              thresholds=[(None, "green"), (ONE_SIDED_ALERT_S, "red")], threshold_lines=True,
              min=0),
        Panel("Obligations met",
              "Share of the rolling window's snapshots meeting each market-making obligation "
              "(two-sided, max spread, min depth per side) and all of them.", "percentunit",
              [(f"pegbot_scorecard_obligation_ratio{{{S}}}", "{{obligation}}")], min=0, max=1),
        Panel("FX jump: pull and requote",
              "Last FX jump of the fair value: seconds until no order rested on the wrong side, "
              "until both sides quoted around the new fair, and how long a requote has been "
              f"waiting (alert above {REQUOTE_ALERT_S} s).", "s",
              [per_market("pegbot_scorecard_jump_pull_seconds", "pull"),
               per_market("pegbot_scorecard_jump_requote_seconds", "requote"),
               per_market("pegbot_scorecard_jump_waiting_seconds", "waiting")],
              thresholds=[(None, "green"), (REQUOTE_ALERT_S, "red")], threshold_lines=True,
              min=0),
        Panel("Orders per fill and wrong-side fills",
              "Orders placed per fill over the scorecard's window; fills on the wrong side of "
              "a jump's new fair per hour, by side.", "short",
              [per_market("pegbot_scorecard_orders_per_fill", "orders per fill"),
               (rate_by("pegbot_scorecard_wrong_side_fills_total", "side", per=3600),
                "wrong-side fills/h {{side}}")]),
        stat("Obligations (window)",
             "Whether the market-making obligations hold over the scorecard's window (share of "
             "snapshots meeting all of them at least min_uptime).", "none",
             [(f'min by (venue, symbol) (pegbot_scorecard_obligation_met{{{S}, obligation="all"}})',
               "{{venue}} {{symbol}}")], 8,
             thresholds=[(None, "red"), (1, "green")],
             mappings={"0": ("FAILING", "red"), "1": ("MET", "green")}),
    ])  # fmt: skip
    inventory = Row("Inventory and P&L", [
        Panel("Inventory", "Base asset (KGST) held.", "short",
              [per_market("pegbot_inventory_base")]),
        Panel("Inventory of limit over time",
              f"0 at target, 1 at the nearest hard limit; the alert fires above "
              f"{INVENTORY_ALERT_RATIO}.", "percentunit",
              [per_market("pegbot_inventory_limit_ratio")],
              thresholds=[(None, "green"), (INVENTORY_ALERT_RATIO, "red")],
              threshold_lines=True, min=0),
        Panel("P&L by kind", "Realized, unrealized (marked to fair) and fees paid, since start.",
              USDT, [(f"sum by (kind) (pegbot_pnl_quote{{{S}}})", "{{kind}}")]),
        Panel("Fill notional per minute",
              "Quote-currency value of our fills per minute, by side.", "suffix: USDT/min",
              [(rate_by("pegbot_fill_notional_quote_total", "side"), "{{side}}")], w=12),
        Panel("Arbitrage net edge",
              "Net edge of the last proposed mint/redeem signal, after costs.", BPS,
              [(f"pegbot_arb_signal_net_edge_bps{{{J}}}", "{{direction}}")], w=12),
    ])  # fmt: skip
    execution = Row("Execution", [
        Panel("Fills per minute", "Our fills per minute by side and liquidity (maker/taker).",
              "cpm", [(rate_by("pegbot_fills_total", "side, liquidity"),
                       "{{side}} {{liquidity}}")]),
        Panel("Orders per minute", "Orders and cancels we sent per minute, by side.", "cpm",
              [(rate_by("pegbot_orders_submitted_total", "side"), "submit {{side}}"),
               (rate_by("pegbot_orders_cancelled_total", "side"), "cancel {{side}}")]),
        Panel("Cancels per fill",
              "Cancels over fills (fills floored at one a minute, so a quiet book reads low).",
              "short",
              [(f"sum(rate(pegbot_orders_cancelled_total{{{S}}}{RI}))"
                f" / clamp_min(sum(rate(pegbot_fills_total{{{S}}}{RI})), 1/60)",
                "cancels per fill")]),
        Panel("Rejects per minute", "Requests the venue refused or failed, by normalised reason.",
              "cpm", [(rate_by("pegbot_order_rejects_total", "reason"), "{{reason}}")]),
        Panel("Rate limit used", "Request weight used in the venue's window over its limit.",
              "percentunit", [(f"pegbot_rate_limit_used_ratio{{{V}}}", "{{venue}}")],
              thresholds=[(None, "green"), (0.8, "red")], threshold_lines=True, min=0),
        Panel("Risk triggers",
              "Which risk triggers are active (1) per trigger; the level follows the worst.",
              "short",
              [(f"sum by (trigger) (pegbot_risk_trigger_active{{{S}}})", "{{trigger}}")]),
    ])  # fmt: skip
    latency = Row("Latency and connectivity", [
        Panel("Tick to quote", "From the book update to the order it caused: p50, p90 and p99.",
              "s",
              [(f"histogram_quantile({q}, sum by (le) "
                f"(rate(pegbot_tick_to_quote_seconds_bucket{{{S}}}{RI})))", f"p{round(q * 100)}")
               for q in (0.5, 0.9, 0.99)]),
        Panel("Tick to quote distribution",
              "Tick-to-quote observations per second in each latency bucket.", "s",
              [(f"sum by (le) (rate(pegbot_tick_to_quote_seconds_bucket{{{S}}}{RI}))", "{{le}}")],
              kind="heatmap"),
        Panel("Order ack latency p99",
              "99th percentile round trip of order requests to the venue, by action.", "s",
              [("histogram_quantile(0.99, sum by (le, action) "
                f"(rate(pegbot_order_ack_latency_seconds_bucket{{{V}}}{RI})))", "{{action}}")]),
        Panel("WebSocket connected",
              "1 while each stream (depth, trades, user data) is connected.", "short",
              [(f"pegbot_ws_connected{{{V}}}", "{{venue}} {{stream}}")], min=0, max=1),
        Panel("Reconnects and resyncs per minute",
              "WebSocket reconnects by stream and order-book resyncs by reason.", "cpm",
              [(rate_by("pegbot_ws_reconnects_total", "stream", V), "reconnect {{stream}}"),
               (rate_by("pegbot_book_resyncs_total", "reason"), "resync {{reason}}")]),
        Panel("Heartbeat and book age",
              "Seconds since the main loop last ran, since the book was last confirmed live, "
              "and since it last changed (a quiet peg book may not change for minutes).", "s",
              [(age("pegbot_loop_last_run_timestamp_seconds", J), "loop"),
               (age("pegbot_book_confirmed_timestamp_seconds", S),
                "confirmed {{venue}} {{symbol}}"),
               (age("pegbot_book_last_update_timestamp_seconds", S),
                "changed {{venue}} {{symbol}}")]),
    ])  # fmt: skip
    arb = Row("Arbitrage signals", [
        Panel("Signals per hour", "Mint/redeem signals entering each state, per hour.",
              "suffix: /h",
              [(rate_by("pegbot_arb_signals_total", "direction, state", J, per=3600),
                "{{direction}} {{state}}")]),
        Panel("Suppressed per hour",
              "Evaluations with an edge but no signal, by reason (cooldown, caps, size).",
              "suffix: /h",
              [(rate_by("pegbot_arb_signals_suppressed_total", "direction, reason", J, per=3600),
                "{{direction}} {{reason}}")]),
        Panel("Signals enabled and webhook backlog",
              "1 while signals may be raised (fair ok); events waiting for the webhook.",
              "short",
              [per_market("pegbot_arb_signals_enabled", "enabled"),
               (f"pegbot_webhook_pending_deliveries{{{J}}}", "webhook pending")]),
    ])  # fmt: skip
    desk = Row("Desk: signals, inventory, chain", [
        Panel("Signals by state",
              "Signals entering each state per hour, whoever moved them (the signaler, an "
              "operator, the issuer, auto-execution), read from the journal. Every transition "
              "is also an annotation (Signal transitions).", "suffix: /h",
              [(rate_by("pegbot_signal_transitions_total", "to_state", J, per=3600),
                "{{to_state}}")]),
        Panel("Open signals",
              "Signals in the journal now in a state they can still leave: waiting for a "
              "decision (proposed; approved until executed) or for their issuer leg "
              "(executed … settled). A proposal past its expiry no longer counts.", "short",
              [(f"sum by (state) (pegbot_signals_open{{{J}}})", "{{state}}")], min=0),
        Panel("Realised round-trip P&L",
              "Realised P&L of the round trips closed in the journal (deposited with every "
              "figure known), by kind, in the quote currency.", USDT,
              [(f"sum by (kind) (pegbot_round_trip_realised_pnl_quote{{{J}}})", "{{kind}}")],
              decimals=2),
        Panel("Ladder capacity (levels)",
              "Levels of the strategy's ladder each side's balance funds in full, from the top "
              "(bids from USDT, asks from KGST), now and the least over the scorecard's window. "
              f"Below {CAPACITY_ALERT_LEVELS} for 5 minutes pages: the peg is undefended there.",
              "short",
              [(f"pegbot_ladder_capacity_levels{{{V}}}", "{{venue}} {{side}}"),
               (f"pegbot_scorecard_capacity_min_levels{{{S}}}", "window min {{venue}} {{side}}")],
              thresholds=[(None, "red"), (CAPACITY_ALERT_LEVELS, "green")],
              threshold_lines=True, min=0, decimals=0),
        Panel("Ladder capacity (lots)",
              "Lots of each side the balance funds at the ladder's prices (levels past the "
              "ladder repeat its last price), now and the least over the scorecard's window.",
              "short",
              [(f"pegbot_ladder_capacity_lots{{{V}}}", "{{venue}} {{side}}"),
               (f"pegbot_scorecard_capacity_min_lots{{{S}}}", "window min {{venue}} {{side}}")],
              min=0, decimals=0),
        Panel("Desk balances in their bands",
              "Where each banded balance sits in its rebalance band: 0 at min, 100% at max "
              "(the target line between). Outside it a rebalance (mint or redemption) is "
              "proposed. Empty without [desk.rebalance].", "percentunit",
              [(f"({BALANCE} - on (job, instance, asset) {band('min')})"
                f" / on (job, instance, asset) ({BAND_WIDTH})", "{{asset}}"),
               (f"({band('target')} - ignoring (bound) {band('min')})"
                f" / ignoring (bound) ({BAND_WIDTH})", "target {{asset}}")],
              thresholds=[(None, "red"), (0, "green"), (1, "red")], threshold_lines=True),
        Panel("Chain total supply",
              "KGST totalSupply at the last block the chain watcher processed.", KGST,
              [(chain(f"pegbot_chain_total_supply_base{{{J}}}"), "{{instance}}")]),
        Panel("Desk wallet balances",
              "KGST held by each watched desk wallet on chain.", KGST,
              [(chain(f"pegbot_chain_wallet_balance_base{{{J}}}"), "{{wallet}}")]),
        Panel("Unexplained supply changes",
              "Supply changes no journaled mint or redemption explains (the log event "
              "chain_unexplained_supply has the amount and blocks). Any one pages.", "short",
              [(chain(f"increase(pegbot_chain_unexplained_supply_change_total{{{J}}}{RI})"),
                "{{instance}}")],
              thresholds=[(None, "green"), (1, "red")], min=0),
        Panel("Chain poll age",
              "Seconds since the chain watcher last completed a poll; the stale-watcher "
              f"warning fires above {CHAIN_STALE_S} s.", "s",
              [(chain(age("pegbot_chain_last_poll_timestamp_seconds", J)), "{{instance}}")],
              thresholds=[(None, "green"), (CHAIN_STALE_S, "red")], threshold_lines=True,
              min=0),
        Panel("Chain transfers and poll errors",
              "Per minute: KGST transfers touching the desk or the supply by type, those "
              "matched to a journaled issuer leg, and failed polls (RPC errors, time-outs).",
              "cpm",
              [(chain(f"rate(pegbot_chain_transfers_total{{{J}}}{RI}) * 60"), "{{what}}"),
               (chain(f"rate(pegbot_chain_confirmations_total{{{J}}}{RI}) * 60"),
                "matched {{what}}"),
               (chain(f"rate(pegbot_chain_poll_errors_total{{{J}}}{RI}) * 60"),
                "poll errors")]),
        Panel("Desk decisions and rebalances",
              "Per hour: operator decisions the running bot applied or refused, rebalance "
              "proposals raised, and balance checks no mint or redemption can fix.",
              "suffix: /h",
              [(rate_by("pegbot_desk_actions_total", "action, result", J, per=3600),
                "{{action}} {{result}}"),
               (rate_by("pegbot_desk_rebalance_proposals_total", "kind", J, per=3600),
                "proposed {{kind}}"),
               (f"sum(rate(pegbot_desk_rebalance_infeasible_total{{{J}}}{RI})) * 3600",
                "infeasible")]),
    ])  # fmt: skip
    process = Row("Process", [
        Panel("CPU", "CPU time used per second by the bot process.", "percentunit",
              [(f"rate(process_cpu_seconds_total{{{J}}}{RI})", "{{instance}}")], w=6),
        Panel("Memory", "Resident memory of the bot process.", "bytes",
              [(f"process_resident_memory_bytes{{{J}}}", "{{instance}}")], w=6),
        Panel("Open file descriptors", "Open fds (sockets included) against the process limit.",
              "short", [(f"process_open_fds{{{J}}}", "open {{instance}}"),
                        (f"process_max_fds{{{J}}}", "max {{instance}}")], w=6),
        Panel("GC and scrape",
              "Python GC collections per second by generation, and scrape duration.", "short",
              [(f"sum by (generation) (rate(python_gc_collections_total{{{J}}}{RI}))",
                "gc gen {{generation}}"),
               (f"scrape_duration_seconds{{{J}}}", "scrape s {{instance}}")], w=6),
    ], collapsed=True)  # fmt: skip
    sim = Row("Simulator (paper and demo)", [
        Panel("Simulator requests",
              "HTTP requests per second the exchange simulator served, by endpoint and status.",
              "reqps",
              [(f"sum by (endpoint, status) (rate(pegbot_sim_requests_total{{{SIM}}}{RI}))",
                "{{endpoint}} {{status}}")]),
        Panel("Simulator orders and fills",
              "Order events and users' fills per minute on the simulator.", "cpm",
              [(rate_by("pegbot_sim_order_events_total", "event", SIM), "{{event}}"),
               (rate_by("pegbot_sim_fills_total", "side", SIM), "fill {{side}}")]),
        Panel("Simulator streams and faults",
              "WebSocket clients, messages pushed per second and faults injected per minute.",
              "short",
              [(f"pegbot_sim_ws_clients{{{SIM}}}", "clients {{api}}"),
               (f"rate(pegbot_sim_messages_pushed_total{{{SIM}}}{RI})", "messages/s"),
               (rate_by("pegbot_sim_faults_injected_total", "fault", SIM), "fault {{fault}}/min")]),
    ], collapsed=True)  # fmt: skip
    return [status, peg, scorecard, inventory, execution, latency, arb, desk, process, sim]


# -- one table entry as the SDK's builder ---------------------------------------------------


def _thresholds(steps: Steps) -> dash_b.ThresholdsConfig:
    return (
        dash_b.ThresholdsConfig()
        .mode(dash_m.ThresholdsMode.ABSOLUTE)
        .steps([dash_m.Threshold(color=c, value=v) for v, c in steps or [(None, "green")]])
    )


def _query(expr: str, legend: str, ref: str, heatmap: bool) -> prom_b.Dataquery:
    q = prom_b.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(DS)
    return q.format(prom_m.PromQueryFormat.HEATMAP) if heatmap else q


def sdk_panel(p: Panel, pid: int) -> Builder[dash_m.Panel]:
    """The SDK builder of one panel of the table, with id ``pid``."""
    b: stat_b.Panel | timeseries_b.Panel | heatmap_b.Panel
    if p.kind == "stat":
        b = (
            stat_b.Panel()
            .color_mode(common_m.BigValueColorMode.BACKGROUND)
            .graph_mode(common_m.BigValueGraphMode.NONE)
            .text_mode(p.text_mode)
            .justify_mode(common_m.BigValueJustifyMode.CENTER)
            .orientation(common_m.VizOrientation.AUTO)
            .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).fields("")
                            .values(False))
            .color_scheme(dash_b.FieldColor().mode(dash_m.FieldColorModeId.THRESHOLDS))
        )  # fmt: skip
    elif p.kind == "heatmap":
        b = (
            heatmap_b.Panel()
            .calculate(False)
            .y_axis(heatmap_b.YAxisConfig().unit(p.unit))
            .cell_gap(1)
            .color(heatmap_b.HeatmapColorOptions().mode(heatmap_m.HeatmapColorMode.SCHEME)
                   .scheme("Oranges"))
        )  # fmt: skip
    else:
        b = (
            timeseries_b.Panel()
            .legend(common_b.VizLegendOptions().display_mode(common_m.LegendDisplayMode.LIST)
                    .placement(common_m.LegendPlacement.BOTTOM).show_legend(True))
            .tooltip(common_b.VizTooltipOptions().mode(common_m.TooltipDisplayMode.MULTI)
                     .sort(common_m.SortOrder.NONE))
            .color_scheme(dash_b.FieldColor().mode(dash_m.FieldColorModeId.PALETTE_CLASSIC))
        )  # fmt: skip
        if p.threshold_lines:
            b = b.thresholds_style(
                common_b.GraphThresholdsStyleConfig().mode(
                    common_m.GraphThresholdsStyleMode.LINE_AND_AREA
                )
            )
    b = (
        b.id(pid)
        .title(p.title)
        .description(p.description)
        .datasource(DS)
        .unit(p.unit)
        .span(p.w)
        .height(p.h)
        .thresholds(_thresholds(p.thresholds))
        .targets([_query(e, lg, chr(ord("A") + i), p.kind == "heatmap")
                  for i, (e, lg) in enumerate(p.targets)])
    )  # fmt: skip
    if p.mappings:
        options = {
            value: dash_m.ValueMappingResult(text=text, color=color, index=i)
            for i, (value, (text, color)) in enumerate(p.mappings.items())
        }
        b = b.mappings([dash_m.ValueMap(options=options)])
    if p.decimals is not None:
        b = b.decimals(p.decimals)
    if p.min is not None:
        b = b.min(p.min)
    if p.max is not None:
        b = b.max(p.max)
    return b


class _PromAnnotationQuery(dash_m.AnnotationQuery):
    """The SDK's annotation model plus the Prometheus data source's own options.

    The 11.6 schema types only the Grafana data source's annotation fields (and ``expr``);
    Grafana's Prometheus annotation support reads ``step``, ``useValueForTime``,
    ``titleFormat``, ``textFormat`` and ``tagKeys`` from the same object.
    """

    def __init__(self, base: dash_m.AnnotationQuery, options: dict[str, object]) -> None:
        super().__init__(**vars(base))
        self.options = options

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), **self.options}


class PromAnnotation(dash_b.AnnotationQuery):
    """:class:`dash_b.AnnotationQuery` with the Prometheus options (see the model above)."""

    def __init__(self) -> None:
        super().__init__()
        self._options: dict[str, object] = {}

    def step(self, step: str) -> PromAnnotation:
        """Resolution of the annotation's range query (Grafana's default: 60s)."""
        self._options["step"] = step
        return self

    def series_value_as_timestamp(self, on: bool) -> PromAnnotation:
        """Take each sample's value as the event's time, in milliseconds."""
        self._options["useValueForTime"] = on
        return self

    def title_format(self, fmt: str) -> PromAnnotation:
        """The event's title, with ``{{label}}`` placeholders."""
        self._options["titleFormat"] = fmt
        return self

    def text_format(self, fmt: str) -> PromAnnotation:
        """The event's text, with ``{{label}}`` placeholders."""
        self._options["textFormat"] = fmt
        return self

    def tag_keys(self, keys: list[str]) -> PromAnnotation:
        """Labels whose values become the event's tags."""
        self._options["tagKeys"] = ",".join(keys)
        return self

    def build(self) -> dash_m.AnnotationQuery:
        """The model, with the Prometheus options serialised beside the schema's fields."""
        return _PromAnnotationQuery(super().build(), dict(self._options))


#: The signal-transition marks: one per (kind, state) entered, placed at the journaled time.
#: The gauge's value is the time of the last transition; "series value as timestamp" puts the
#: mark there (ms, hence * 1000), exact to the millisecond and the same after a restart (the
#: watcher reloads it from the journal). ``changes(...) > 0`` would instead mark the
#: evaluation step after the change (up to a step late) and mark every restart, when the
#: gauge jumps from 0 to the journal's value. Two transitions of one kind into one state
#: within a step show as one mark (the later).
SIGNAL_ANNOTATION = f"1000 * (pegbot_signal_last_transition_timestamp_seconds{{{J}}} > 0)"


def annotations() -> list[Builder[dash_m.AnnotationQuery]]:
    """Grafana's built-in annotations and alerts, and the desk's signal transitions."""
    return [
        dash_b.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(dash_m.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .built_in(1)
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard"),
        PromAnnotation()
        .name("Signal transitions")
        .datasource(DS)
        .enable(True)
        .hide(False)
        .icon_color("purple")
        .expr(SIGNAL_ANNOTATION)
        .step("1m")
        .series_value_as_timestamp(True)
        .title_format("signal {{kind}} → {{to_state}}")
        .text_format("{{job}} {{instance}}")
        .tag_keys(["kind", "to_state"]),
    ]


def _query_variable(name: str, label: str, query: str) -> dash_b.QueryVariable:
    # The Prometheus variable editor's query object, so Grafana opens it in "label values".
    editor = {"qryType": 1, "query": query, "refId": f"PrometheusVariableQueryEditor-{name}"}
    return (
        dash_b.QueryVariable(name)
        .label(label)
        .datasource(DS)
        .query(editor)
        .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(dash_m.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(dash_m.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def variables() -> list[Builder[dash_m.VariableModel]]:
    """Template variables: datasource, job, venue, symbol, and the simulator's job."""
    return [
        dash_b.DatasourceVariable("datasource").label("Data source").type("prometheus"),
        _query_variable("job", "Job", "label_values(pegbot_build_info, job)"),
        _query_variable("venue", "Venue", 'label_values(pegbot_quote_up{job=~"$job"}, venue)'),
        _query_variable("symbol", "Symbol", f"label_values(pegbot_quote_up{{{V}}}, symbol)"),
        _query_variable("sim_job", "Simulator job", "label_values(pegbot_sim_ws_clients, job)"),
    ]


def dashboard() -> dash_b.Dashboard:
    """The dashboard's builder: settings, variables, then the rows of :func:`rows`."""
    d = (
        dash_b.Dashboard("pegbot — KGST peg desk")
        .uid(UID)
        .description("Is the peg held, at what depth, at what cost, and is the bot healthy.")
        .tags(["pegbot", "kgst"])
        .timezone("utc")
        .readonly()  # provisioned: change it here, not in Grafana
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .refresh("10s")
        .time("now-6h", "now")
        .version(1)
        .annotations(annotations())
    )
    for v in variables():
        d = d.with_variable(v)
    pid = 1
    for row in rows():
        r = dash_b.Row(row.title).id(pid).collapsed(row.collapsed)
        pid += 1
        panels = []
        for p in row.panels:
            panels.append(sdk_panel(p, pid))
            pid += 1
        if row.collapsed:
            # Grafana keeps a collapsed row's panels inside the row.
            for b in panels:
                r = r.with_panel(b)
            d = d.with_row(r)
        else:
            d = d.with_row(r)
            for b in panels:
                d = d.with_panel(b)
    return d


def render() -> str:
    """The dashboard JSON text, as committed (sorted keys, two-space indent, final newline)."""
    model = dashboard().build()
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def build() -> dict[str, Any]:
    """The dashboard as a JSON-ready dict."""
    built: dict[str, Any] = json.loads(render())
    return built


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
