"""The HTML page of a backtest report: one self-contained file that opens offline.

The plotly.js library comes from the installed ``plotly`` Python package at run time and is
inlined, so the page loads nothing from the network and the repository carries no copy of
it. The chart data travels as JSON in a ``<script type="application/json">`` block, escaped
so no text inside it can close the block; a short inline script draws the charts from it.
Every other text on the page (title, symbols, notes, configuration, figures) goes through
:func:`html.escape`.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Final, Literal

from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

from app.backtest.metrics import BacktestMetrics

_NOT_DEFINED: Final = "n/a"
_HUGE: Final = 1_000_000_000

# Draws the charts from the JSON block. Plain ES5 so any browser that runs plotly.js runs it.
_CHARTS_SCRIPT: Final = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var config = {responsive: true, displaylogo: false};
  var eq = data.equity;
  Plotly.newPlot("equity-chart", [
    {type: "scatter", mode: "lines", name: "equity", x: eq.at, y: eq.equity,
     xaxis: "x", yaxis: "y", line: {color: "#1f77b4"}},
    {type: "scatter", mode: "lines", name: "drawdown %", x: eq.at,
     y: eq.drawdown_pct.map(function (v) { return -v; }), fill: "tozeroy",
     xaxis: "x", yaxis: "y2", line: {color: "#d62728"}}
  ], {
    height: 520, margin: {t: 30},
    xaxis: {title: {text: "time (UTC)"}, anchor: "y2"},
    yaxis: {title: {text: "equity"}, domain: [0.35, 1]},
    yaxis2: {title: {text: "drawdown %"}, domain: [0, 0.27], anchor: "x"},
    legend: {orientation: "h"}
  }, config);
  data.symbols.forEach(function (s) {
    var traces = [{type: "candlestick", name: s.symbol, x: s.time, open: s.open,
                   high: s.high, low: s.low, close: s.close}];
    s.markers.forEach(function (m) {
      traces.push({type: "scatter", mode: "markers", name: m.name, x: m.at, y: m.price,
                   text: m.text, marker: {symbol: m.shape, color: m.color, size: 11,
                   line: {width: 1, color: "#222"}}});
    });
    Plotly.newPlot(s.element, traces, {
      height: 460, margin: {t: 30},
      xaxis: {title: {text: "time (UTC)"}, rangeslider: {visible: false}},
      yaxis: {title: {text: "price"}},
      legend: {orientation: "h"}
    }, config);
  });
})();
"""

_STYLE: Final = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: 0.25rem 1rem; text-align: left; }
td.value { text-align: right; font-variant-numeric: tabular-nums; }
.notes li { color: #8a4b00; }
pre { background: #f6f6f6; padding: 1rem; overflow-x: auto; }
"""

# (kind, side) -> legend name, plotly marker shape, colour.
_MARKER_STYLES: Final[Mapping[tuple[str, str], tuple[str, str, str]]] = {
    ("entry", "buy"): ("entry long (buy)", "triangle-up", "#2ca02c"),
    ("entry", "sell"): ("entry short (sell)", "triangle-down", "#d62728"),
    ("exit", "buy"): ("exit (buy)", "x", "#2ca02c"),
    ("exit", "sell"): ("exit (sell)", "x", "#d62728"),
    ("stop", "buy"): ("stop (buy)", "square", "#ff7f0e"),
    ("stop", "sell"): ("stop (sell)", "square", "#ff7f0e"),
}


type MarkerSide = Literal["buy", "sell"]
type MarkerKind = Literal["entry", "exit", "stop"]


@dataclass(frozen=True, slots=True)
class TradeMarker:
    """A trade drawn on its symbol's candles.

    Attributes:
        symbol: The symbol whose chart shows it.
        at: When it happened (tz-aware UTC).
        side: ``"buy"`` or ``"sell"``.
        price: The fill price.
        kind: ``"entry"`` (opens or adds), ``"exit"`` (closes) or ``"stop"`` (a stop that
            closed the position).
    """

    symbol: str
    at: datetime
    side: MarkerSide
    price: Decimal
    kind: MarkerKind


@dataclass(frozen=True, slots=True)
class SymbolChart:
    """One symbol's candles and trade markers (candle rows: open time, open, high, low, close)."""

    symbol: str
    candles: Sequence[tuple[datetime, Decimal, Decimal, Decimal, Decimal]]
    markers: Sequence[TradeMarker]


def render_html(
    *,
    title: str,
    metrics: BacktestMetrics,
    notes: Sequence[str],
    config_json: str,
    equity: Sequence[tuple[datetime, Decimal, Decimal]],
    symbols: Sequence[SymbolChart],
) -> str:
    """The report page.

    Args:
        title: Page title (any text: it is escaped).
        metrics: The figures of the metrics table.
        notes: Warnings shown above the charts.
        config_json: The run's configuration as indented JSON text (shown verbatim).
        equity: The equity curve as ``(at, equity, drawdown_pct)`` rows.
        symbols: One candlestick chart each, in this order.

    Returns:
        The whole HTML document.
    """
    data = {
        "equity": {
            "at": [_chart_time(at) for at, _, _ in equity],
            "equity": [float(value) for _, value, _ in equity],
            "drawdown_pct": [float(dd) for _, _, dd in equity],
        },
        "symbols": [_symbol_data(chart, f"chart-{i}") for i, chart in enumerate(symbols)],
    }
    symbol_sections = "".join(
        f'<h3>{escape(chart.symbol)}</h3><div id="chart-{i}" class="chart"></div>\n'
        for i, chart in enumerate(symbols)
    )
    notes_html = (
        '<ul class="notes">' + "".join(f"<li>{escape(n)}</li>" for n in notes) + "</ul>"
        if notes
        else "<p>None.</p>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n"
        f"<script>{get_plotlyjs()}</script>\n</head><body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f"<h2>Notes</h2>\n{notes_html}\n"
        f"<h2>Metrics</h2>\n{_metrics_table(metrics)}\n"
        '<h2>Equity and drawdown</h2>\n<div id="equity-chart" class="chart"></div>\n'
        f"<h2>Candles and trades</h2>\n{symbol_sections or '<p>No candles.</p>'}\n"
        f"<h2>Configuration</h2>\n<pre>{escape(config_json)}</pre>\n"
        f'<script type="application/json" id="report-data">{script_json(data)}</script>\n'
        f"<script>{_CHARTS_SCRIPT}</script>\n"
        "</body></html>\n"
    )


def script_json(value: object) -> str:
    r"""JSON text safe inside a ``<script>`` element.

    ``<``, ``>`` and ``&`` become JSON unicode escapes (``\u003c``...), which JSON reads
    back as the same characters, so no string in ``value`` can end the element or open a
    comment.
    """
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _symbol_data(chart: SymbolChart, element: str) -> dict[str, object]:
    rows = sorted(chart.candles, key=lambda row: row[0])
    groups: dict[tuple[str, str], list[TradeMarker]] = {}
    for marker in chart.markers:
        groups.setdefault((marker.kind, marker.side), []).append(marker)
    markers = []
    for key, members in groups.items():
        name, shape, color = _MARKER_STYLES.get(key, (" ".join(key), "circle", "#7f7f7f"))
        markers.append(
            {
                "name": name,
                "shape": shape,
                "color": color,
                "at": [_chart_time(m.at) for m in members],
                "price": [float(m.price) for m in members],
                "text": [f"{m.kind} {m.side} @ {m.price}" for m in members],
            }
        )
    return {
        "symbol": chart.symbol,
        "element": element,
        "time": [_chart_time(row[0]) for row in rows],
        "open": [float(row[1]) for row in rows],
        "high": [float(row[2]) for row in rows],
        "low": [float(row[3]) for row in rows],
        "close": [float(row[4]) for row in rows],
        "markers": markers,
    }


def _chart_time(at: datetime) -> str:
    # plotly.js has no time zones: it gets UTC wall-clock text and the axes say "UTC".
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _metrics_table(metrics: BacktestMetrics) -> str:
    rows: list[tuple[str, str]] = [
        ("Start equity", _money(metrics.start_equity)),
        ("End equity", _money(metrics.end_equity)),
        ("Total return", _pct(metrics.total_return_pct)),
        ("CAGR", _pct(metrics.cagr_pct)),
        ("Max drawdown", _pct(metrics.max_drawdown_pct)),
        ("Longest drawdown", _duration(metrics.max_drawdown_duration)),
        ("Sharpe (annualised)", _ratio(metrics.sharpe)),
        ("Sortino (annualised)", _ratio(metrics.sortino)),
        ("Calmar", _ratio(metrics.calmar)),
        ("Round trips", str(metrics.trades)),
        ("Win rate (after fees)", _pct(_share_pct(metrics.win_rate))),
        ("Profit factor (after fees)", _ratio(metrics.profit_factor)),
        ("Average win", _money(metrics.average_win)),
        ("Average loss", _money(metrics.average_loss)),
        ("Expectancy per trip", _money(metrics.expectancy)),
        ("Exposure", _pct(metrics.exposure_pct)),
        ("Fees", _money(metrics.fees)),
        ("Funding", _money(metrics.funding)),
        ("LLM cost (USD)", _money(metrics.llm_cost_usd)),
        ("Decisions", str(metrics.decisions)),
        ("Cost per decision (USD)", _money(metrics.cost_per_decision, digits=6)),
    ]
    rows += [
        (f"Buy and hold {symbol}", _pct(value))
        for symbol, value in sorted(metrics.buy_and_hold_pct.items())
    ]
    rows.append(("Buy and hold, equal-weight basket", _pct(metrics.buy_and_hold_basket_pct)))
    body = "".join(
        f'<tr><th scope="row">{escape(label)}</th><td class="value">{escape(value)}</td></tr>'
        for label, value in rows
    )
    return f'<table class="metrics">{body}</table>'


def _money(value: Decimal | None, digits: int = 2) -> str:
    return _NOT_DEFINED if value is None else _figure(value, digits)


def _pct(value: Decimal | None) -> str:
    return _NOT_DEFINED if value is None else f"{_figure(value, 2)} %"


def _share_pct(value: Decimal | None) -> Decimal | None:
    return None if value is None else value * 100


def _ratio(value: float | Decimal | None) -> str:
    return _NOT_DEFINED if value is None else _figure(value, 2)


def _figure(value: float | Decimal, digits: int) -> str:
    # A short window's CAGR (and its Calmar) can run to dozens of digits: past a billion
    # the digits say nothing a power of ten does not. Formatting rounds on its own, without
    # the decimal context's precision, so any figure prints.
    if abs(float(value)) >= _HUGE:
        return f"{value:.3e}"
    return f"{value:,.{digits}f}"


def _duration(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
