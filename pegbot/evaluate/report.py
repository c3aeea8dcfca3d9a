"""The evaluation's page: what the market and our ladder did, the scorecard and the targets.

One self-contained HTML file (plotly.js inline, nothing fetched), built from a
:class:`~pegbot.evaluate.harness.RunResult` and, when the same scenario also ran without the
bot, that baseline: the market mid, the mid without our orders, the fair value, every order
of ours (the ladder) and our fills over time, FX jumps marked; the mid's distance from fair
with and without the bot; then the targets, the scorecard figures, and the baseline's.

The page machinery (offline plotly, tables, UTC times) is the backtest report's, so the two
read alike; the time series come from the scorecard's own event stream.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import plotly.graph_objects as go

from pegbot.backtest.report import chart, figures_table, page, scorecard_section, utc_iso
from pegbot.backtest.report_figures import ASK, BID, FAIR, MID, OURS, thin, utc
from pegbot.scorecard import Book, Fair, OwnFill, Quotes

from .harness import RunResult
from .targets import Check

__all__ = ["Series", "html_report", "series"]

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "height": 440,
    "margin": {"l": 70, "r": 20, "t": 80, "b": 40},
    "hovermode": "x unified",
    "legend": {"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 0},
}
# Ladder points drawn at most (every n-th change beyond that).
_MAX_LADDER = 6000


@dataclass
class Series:
    """The run as columns: one row per change of the book, our orders or the fair value."""

    ts: list[int] = field(default_factory=list)
    mid: list[float] = field(default_factory=list)
    mid_ex: list[float] = field(default_factory=list)
    fair: list[float] = field(default_factory=list)
    ladder: list[tuple[int, float, int]] = field(default_factory=list)  # ts, price, side
    fills: list[tuple[int, float, int, bool]] = field(default_factory=list)


def series(result: RunResult) -> Series:
    """The columns of ``result``'s stream, in quote-currency prices."""
    tick = float(result.market.tick_size)
    out = Series()
    mid = mid_ex = fair = float("nan")
    for ev in result.events:
        if isinstance(ev, Book):
            mid = (ev.bid + ev.ask) / 2 * tick if ev.bid and ev.ask else float("nan")
            mid_ex = (ev.bid_ex + ev.ask_ex) / 2 * tick if ev.bid_ex and ev.ask_ex else float("nan")
        elif isinstance(ev, Fair):
            fair = float(ev.price_ticks) * tick if ev.price_ticks is not None else float("nan")
        elif isinstance(ev, Quotes):
            out.ladder += [(ev.ts_ns, p * tick, 1) for p, _ in ev.bids]
            out.ladder += [(ev.ts_ns, p * tick, -1) for p, _ in ev.asks]
        elif isinstance(ev, OwnFill):
            out.fills.append((ev.ts_ns, ev.price_ticks * tick, int(ev.side), ev.maker))
            continue
        else:
            continue
        out.ts.append(ev.ts_ns)
        out.mid.append(mid)
        out.mid_ex.append(mid_ex)
        out.fair.append(fair)
    return out


def _line(name: str, ts: Any, y: Any, color: str, dash: str | None = None) -> go.Scatter:
    t, v = thin(ts, y, keep_gaps=True)
    line = {"color": color, "width": 1.3, "shape": "hv", "dash": dash}
    return go.Scatter(x=utc(t), y=v, name=name, mode="lines", connectgaps=False, line=line)


def _markers(name: str, pts: list[tuple[int, float]], marker: dict[str, Any]) -> list[go.Scatter]:
    if not pts:
        return []
    ts = [t for t, _ in pts]
    return [go.Scatter(x=utc(ts), y=[p for _, p in pts], name=name, mode="markers", marker=marker)]


def _time_figure(title: str, yaxis: str, traces: list[go.Scatter], result: RunResult) -> go.Figure:
    fig = go.Figure(traces)
    fig.update_layout(**_LAYOUT)
    fig.update_layout(title_text=title, yaxis_title=yaxis)
    fig.update_xaxes(
        title="time (UTC)", type="date", rangeslider={"visible": True, "thickness": 0.08}
    )
    # Shapes take one time each: to the microsecond (a datetime has no nanoseconds).
    span = utc([result.start_ns, result.end_ns]).floor("us").to_pydatetime()
    fig.add_vrect(x0=span[0], x1=span[1], fillcolor="#eeeeee", opacity=0.25, line_width=0)
    for j in result.card.jumps:
        at = utc([j.at_ns]).floor("us").to_pydatetime()[0]
        fig.add_vline(x=at, line={"color": FAIR, "dash": "dot", "width": 1})
    return fig


def price_figure(result: RunResult) -> go.Figure | None:
    """Mid, mid without us, fair, our ladder (every order) and our fills."""
    s = series(result)
    if not s.ts:
        return None
    traces = [
        _line("market mid", s.ts, s.mid, MID),
        _line("mid without us", s.ts, s.mid_ex, OURS, dash="dot"),
        _line("fair", s.ts, s.fair, FAIR, dash="dash"),
    ]
    ladder = s.ladder[:: max(1, -(-len(s.ladder) // _MAX_LADDER))]
    for side, name, color in ((1, "our bids", BID), (-1, "our asks", ASK)):
        pts = [(t, p) for t, p, sd in ladder if sd == side]
        marker = {"color": color, "size": 3, "opacity": 0.5}
        traces += _markers(name, pts, marker)
    for side, name, symbol, color in (
        (1, "our buys", "triangle-up", BID),
        (-1, "our sells", "triangle-down", ASK),
    ):
        pts = [(t, p) for t, p, sd, _ in s.fills if sd == side]
        traces += _markers(name, pts, {"symbol": symbol, "size": 8, "color": color})
    title = "Price: mid, mid without us, fair, our ladder and fills (shaded: measured span)"
    return _time_figure(title, "USDT", traces, result)


def deviation_figure(result: RunResult, baseline: RunResult | None) -> go.Figure | None:
    """The public mid's distance from fair in bps, with the bot and (if run) without."""
    traces = []
    for r, name, color in ((result, "with the bot", OURS), (baseline, "without the bot", MID)):
        if r is None:
            continue
        s = series(r)
        if not s.ts:
            continue
        mid, fair = np.asarray(s.mid), np.asarray(s.fair)
        dev = (mid - fair) / fair * 10_000
        # The baseline ran at another time: draw it on this run's clock, aligned at the span.
        ts = np.asarray(s.ts, dtype="int64") - r.start_ns + result.start_ns
        traces.append(_line(f"mid - fair, {name}", ts, dev, color))
    if not traces:
        return None
    return _time_figure("Market mid against fair (bps)", "bps", traces, result)


def _checks_table(checks: list[Check]) -> str:
    rows = []
    for c in checks:
        verdict = "pass" if c.ok else "FAIL"
        color = "#2ca02c" if c.ok else "#d62728"
        value = (
            "n/a"
            if c.value is None
            else f"{c.value:.6g}"
            if isinstance(c.value, float)
            else c.value
        )
        rows.append(
            f"<tr><th>{html.escape(c.target)}</th><td>{html.escape(str(c.limit))}</td>"
            f"<td>{html.escape(str(value))}</td>"
            f'<td style="color:{color};font-weight:bold">{verdict}</td>'
            f"<td>{html.escape(c.note)}</td></tr>"
        )
    head = "<tr><th>target</th><th>limit</th><th>value</th><th></th><th>note</th></tr>"
    return "<table>" + head + "".join(rows) + "</table>"


def html_report(
    result: RunResult | None, checks: list[Check], baseline: RunResult | None = None
) -> str:
    """The page of an evaluation (``result`` with the bot, ``baseline`` without)."""
    main = result if result is not None else baseline
    if main is None:
        raise ValueError("nothing to report")
    sc = main.scenario
    body = [
        f'<p class="note">{html.escape(sc.description)}</p>',
        f'<p class="note">Measured from {utc_iso(main.start_ns)} for '
        f"{(main.end_ns - main.start_ns) / 1e9:.0f} s after a {sc.warmup_s:g} s warm-up; "
        f"bot: {'yes' if main.with_bot else 'no'}.</p>",
        *(f'<p class="note">{html.escape(n)}</p>' for n in main.notes),
        chart(price_figure(main), "price"),
        chart(deviation_figure(main, baseline if result is not None else None), "deviation"),
    ]
    if result is not None:
        body += ["<h2>Targets</h2>", _checks_table(checks) if checks else "<p>none set</p>"]
        body.append(scorecard_section(result.card.figures()))
        extra = {
            "rate_poll_s": result.rate_poll_s,
            "rate_fetches": result.rate_fetches,
            "first_two_sided_s": result.first_two_sided_s,
            "bot_exit": result.bot_exit,
        }
        body += ["<h2>Run</h2>", figures_table(extra)]
        if result.bot_summary:
            body += ["<h2>The bot's summary</h2>", figures_table(result.bot_summary)]
    if baseline is not None:
        body += ["<h2>Without the bot</h2>", figures_table(baseline.card.figures())]
    return page(f"Evaluation {sc.name}", body)
