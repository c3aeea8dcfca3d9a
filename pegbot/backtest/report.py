"""``pegbot report RESULTS``: one self-contained, interactive HTML page a quant can open.

For a backtest's results directory (:func:`pegbot.backtest.results.save`): the summary, the
figures around fair, a peg scorecard when the results carry one, and the charts of
:mod:`pegbot.backtest.report_figures` (price with fair, our best quotes and fills; inventory;
PnL; markouts). For a sweep's directory (``sweep.parquet``): the objective's heatmap and the
table of runs.

The contract and why:

* **Offline.** plotly.js is written into the page once (about 4.8 MB), so the file opens
  from a mail attachment or an air-gapped laptop: no CDN, nothing fetched.
* **Real times.** Tables show times as UTC ISO strings (``2025-01-01T00:00:00.000Z``), never
  raw nanoseconds; charts have UTC time axes with zoom, hover and range sliders.
* **Reproducible.** Chart element ids are fixed, so the same results give the same page.
* **Sortable tables.** Click a column header (a few lines of our own script, no library).
* **Scorecard hook.** :func:`scorecard_section` renders peg-quality figures (two-sided
  uptime, spreads, mid-deviation percentiles, ...) from ``summary["scorecard"]`` when the
  results have them, and nothing otherwise, so the scorecard can arrive without touching
  the page.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

from pegbot.backtest import report_figures as rf
from pegbot.backtest import results

#: A ``*_ns`` figure at or after this (1973) is a time; below it, a duration.
_EPOCH_NS_MIN = 10**17
_PLOT_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": False}

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#222}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;font-size:13px}
td.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;background:#f6f6f6}
table.sortable th:after{content:" \\2195";color:#aaa}
.chart{margin:10px 0;border:1px solid #eee}
.note{color:#666;font-size:13px}
.wide{overflow-x:auto}
"""

# Click a header: sort the rows by that column (numbers as numbers), again to reverse.
_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.dataset.order !== "asc";
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v || a.cells[col].textContent;
        var y = b.cells[col].dataset.v || b.cells[col].textContent;
        var nx = x === "" ? NaN : Number(x), ny = y === "" ? NaN : Number(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = asc ? "asc" : "desc";
    });
  });
});
"""


def utc_iso(ns: int) -> str:
    """A nanosecond UTC time as an ISO string to the millisecond, ``...Z``."""
    text: str = pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def fmt(key: str, value: Any) -> str:
    """A figure as a table shows it: times as UTC ISO, floats to 6 significant digits."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "n/a"
    if key.endswith("_ns") and isinstance(value, int | float) and not isinstance(value, bool):
        if value >= _EPOCH_NS_MIN:
            return utc_iso(int(value))
        return f"{value / 1e9:.6g} s"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {fmt(str(k), v)}" for k, v in value.items())
    return str(value)


def _label(key: str) -> str:
    # "start_ns" -> "start (UTC)": the unit is in the cell now.
    return key.removesuffix("_ns") + " (UTC)" if key.endswith("_ns") else key


def _cell(key: str, value: Any) -> str:
    text = html.escape(fmt(key, value))
    if key.endswith("_ns"):  # ISO times sort as text
        return f"<td>{text}</td>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num" data-v="{value}">{text}</td>'
    return f"<td>{text}</td>"


def figures_table(figures: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    """A two-column table of named figures (nested mappings on one line)."""
    rows = [
        f"<tr><th>{html.escape(_label(k))}</th>{_cell(k, v)}</tr>"
        for k, v in figures.items()
        if k not in skip
    ]
    return "<table>" + "".join(rows) + "</table>"


def runs_table(df: pd.DataFrame) -> str:
    """A sortable table of a DataFrame's rows (times in ``*_ns`` columns as UTC ISO)."""
    head = "".join(f"<th>{html.escape(_label(str(c)))}</th>" for c in df.columns)
    body = []
    for rec in df.to_dict(orient="records"):
        body.append("<tr>" + "".join(_cell(str(k), v) for k, v in rec.items()) + "</tr>")
    return (
        f'<div class="wide"><table class="sortable"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def scorecard_section(figures: Mapping[str, Any] | None) -> str:
    """The peg scorecard's section, or ``""`` when there are no scorecard figures.

    The hook for the scorecard room: any mapping of figure name to value (numbers, strings,
    or a mapping such as percentiles ``{"p50": 1.2, "p99": 8.0}``) is shown as a table.
    """
    if not figures:
        return ""
    return (
        '<h2 id="scorecard">Peg scorecard</h2>'
        '<p class="note">Peg-quality figures of this run (two-sided uptime, spreads, mid '
        "deviation, ...).</p>" + figures_table(figures)
    )


def bands_table(summary: Mapping[str, Any]) -> str:
    """The figures around fair: mid time within ±N bps, and our resting size within ±N bps."""
    near = summary.get("mid_near_fair") or {}
    depth = summary.get("our_depth_near_fair") or {}
    bands = list(near) or sorted({k.split("_")[0] for k in depth}, key=lambda b: int(b[:-3]))
    head = (
        "<tr><th>band (of fair)</th><th>time the mid spent within</th>"
        "<th>our bids within (base, time-weighted)</th><th>our asks within</th>"
        "<th>ours, both sides</th></tr>"
    )
    rows = []
    for b in bands:
        share = near.get(b)
        cells = ["n/a" if share is None else f"{share * 100:.2f} %"]
        for side in ("_bid_base", "_ask_base", "_base"):
            v = depth.get(b + side)
            cells.append("n/a" if v is None else fmt(b + side, float(v)))
        label = "±" + b.replace("bps", " bps")
        rows.append(
            f"<tr><th>{html.escape(label)}</th>"
            + "".join(f'<td class="num">{html.escape(c)}</td>' for c in cells)
            + "</tr>"
        )
    note = summary.get("mid_near_fair_note")
    tail = f'<p class="note">Mid time: {html.escape(str(note))}</p>' if note else ""
    return "<table>" + head + "".join(rows) + "</table>" + tail


def chart(fig: go.Figure | None, name: str) -> str:
    """A figure as a ``div`` drawn by the page's plotly.js; ``""`` for no figure."""
    if fig is None:
        return ""
    div = pio.to_html(
        fig,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{name}",
        config=_PLOT_CONFIG,
        default_width="100%",
    )
    return f'<div class="chart">{div}</div>'


def page(title: str, body: Sequence[str]) -> str:
    """The whole document: plotly.js inline once, the body, the table sorter."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>"
        f"<h1>{html.escape(title)}</h1>{''.join(body)}<script>{_SORT_JS}</script></body></html>"
    )


_BAND_KEYS = ("mid_near_fair", "mid_near_fair_note", "our_depth_near_fair", "scorecard")


def backtest_html(t: Mapping[str, pd.DataFrame], summary: Mapping[str, Any], title: str) -> str:
    """The report of one backtest."""
    span = ""
    if summary.get("start_ns") and summary.get("end_ns"):
        span = (
            f'<p class="note">Tape from {utc_iso(summary["start_ns"])} to '
            f"{utc_iso(summary['end_ns'])}.</p>"
        )
    body = [
        span,
        chart(rf.price_figure(t, summary), "price"),
        chart(rf.inventory_figure(t), "inventory"),
        chart(rf.pnl_figure(t), "pnl"),
        chart(rf.markouts_figure(summary), "markouts"),
        scorecard_section(summary.get("scorecard")),
        "<h2>Around fair</h2>",
        bands_table(summary),
        "<h2>Summary</h2>",
        figures_table(summary, skip=_BAND_KEYS),
    ]
    return page(title, body)


def sweep_html(df: pd.DataFrame, params: list[str], objective: str, title: str) -> str:
    """The report of a sweep: the objective's chart and the sortable table of runs."""
    failed = int(df["error"].notna().sum()) if "error" in df else 0
    note = f'<p class="note">{len(df)} runs, {failed} failed; objective {objective}.</p>'
    body = [
        note,
        chart(rf.sweep_figure(df, params, objective), "sweep"),
        "<h2>Runs</h2>",
        '<p class="note">Click a column to sort.</p>',
        runs_table(df),
    ]
    return page(title, body)


def write_report(results_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write ``report.html`` for a results or sweep directory; returns its path.

    Raises:
        FileNotFoundError: ``results_dir`` holds neither a sweep nor a backtest's results.
    """
    d = Path(results_dir)
    dest = Path(out) if out is not None else d / "report.html"
    if (d / "sweep.parquet").exists():
        df = pd.read_parquet(d / "sweep.parquet")
        meta = json.loads((d / "sweep.json").read_text())
        text = sweep_html(df, meta["params"], meta["objective"], f"Sweep {d.name}")
    elif (d / "summary.json").exists():
        t, summary = results.load(d)
        text = backtest_html(t, summary, f"Backtest {summary.get('scenario', d.name)}")
    else:
        raise FileNotFoundError(
            f"{d}: not a backtest's results (summary.json) or a sweep's (sweep.parquet)"
        )
    dest.write_text(text, encoding="utf-8")
    return dest
