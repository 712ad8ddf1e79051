"""The report of a backtest: ``report.json`` for programs, ``report.html`` for people.

Both files come from the same values (the run's configuration, its metrics, notes, equity
curve, round trips and trade markers), so what the page shows is what the JSON holds. The
configuration and the notes pass through the secret registry's redaction first: a report is
a file people share, and a key must not travel with it.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Final

from app.backtest.metrics import (
    BacktestMetrics,
    ReportInputs,
    drawdown_curve,
    equity_curve,
    metrics_json,
)
from app.backtest.report_html import MarkerKind, MarkerSide, SymbolChart, TradeMarker, render_html
from app.core.decimals import plain_decimal
from app.core.secrets import redact_json
from app.trading.performance import round_trips

__all__ = [
    "MarkerKind",
    "MarkerSide",
    "ReportFiles",
    "TradeMarker",
    "report_document",
    "write_report",
]

JSON_NAME: Final = "report.json"
HTML_NAME: Final = "report.html"


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """Where a report was written."""

    json_path: Path
    html_path: Path


def write_report(
    out_dir: Path,
    *,
    title: str,
    config: Mapping[str, object],
    metrics: BacktestMetrics,
    inputs: ReportInputs,
    trades: Sequence[TradeMarker],
    notes: Sequence[str],
) -> ReportFiles:
    """Write ``report.json`` and a self-contained ``report.html`` into ``out_dir``.

    Args:
        out_dir: Directory of the two files (created if missing; files replaced).
        title: The report's title (any text; escaped in the page).
        config: The run's configuration; any JSON-like values (Decimals, datetimes,
            enums, paths... are converted, secrets redacted).
        metrics: The run's metrics (:func:`app.backtest.metrics.compute_metrics`).
        inputs: What the metrics were computed from (curve, fills, candles).
        trades: Markers for the candlestick charts.
        notes: Warnings for the reader, e.g. that the run stopped at its cost cap.

    Returns:
        The paths written.

    Raises:
        OSError: The directory or a file cannot be written.
    """
    document = report_document(
        title=title, config=config, metrics=metrics, inputs=inputs, trades=trades, notes=notes
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / JSON_NAME
    html_path = out_dir / HTML_NAME
    json_path.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n", "utf-8")
    curve = equity_curve(inputs)
    drawdowns = drawdown_curve([point.equity for point in curve])
    page = render_html(
        title=title,
        metrics=metrics,
        notes=[str(note) for note in _list(document["notes"])],
        config_json=json.dumps(document["config"], indent=2),
        equity=[(p.at, p.equity, dd) for p, dd in zip(curve, drawdowns, strict=True)],
        symbols=_symbol_charts(inputs, trades),
    )
    html_path.write_text(page, "utf-8")
    return ReportFiles(json_path=json_path, html_path=html_path)


def report_document(
    *,
    title: str,
    config: Mapping[str, object],
    metrics: BacktestMetrics,
    inputs: ReportInputs,
    trades: Sequence[TradeMarker],
    notes: Sequence[str],
) -> dict[str, object]:
    """The content of ``report.json``: JSON-safe values only (see :func:`write_report`).

    The equity curve starts at the initial balance (as the metrics judge it), each point
    with its drawdown and, for the ticks, whether a position was open.
    """
    curve = equity_curve(inputs)
    drawdowns = drawdown_curve([point.equity for point in curve])
    # The curve may start with the initial balance, which is no tick and has no flag.
    flags: list[bool | None] = [None] * (len(curve) - len(inputs.exposed)) + list(inputs.exposed)
    return {
        "title": title,
        "window": {
            "start": inputs.start.isoformat(),
            "end": inputs.end.isoformat(),
            "interval": inputs.interval,
        },
        "config": redact_json(json_safe(config)),
        "metrics": metrics_json(metrics),
        "notes": redact_json([str(note) for note in notes]),
        "equity_curve": [
            {
                "at": point.at.isoformat(),
                "equity": plain_decimal(point.equity),
                "drawdown_pct": plain_decimal(drawdown),
                "exposed": exposed,
            }
            for point, drawdown, exposed in zip(curve, drawdowns, flags, strict=True)
        ],
        "round_trips": [
            {
                "symbol": trip.symbol,
                "closed_at": trip.closed_at.isoformat(),
                "net_pnl": plain_decimal(trip.net_pnl),
            }
            for trip in round_trips(inputs.fills)
        ],
        "trades": [
            {
                "symbol": marker.symbol,
                "at": marker.at.isoformat(),
                "side": marker.side,
                "price": plain_decimal(marker.price),
                "kind": marker.kind,
            }
            for marker in trades
        ],
    }


def json_safe(value: object) -> object:
    """``value`` with everything JSON cannot hold converted, recursively.

    Decimals become plain text, datetimes ISO 8601, timedeltas seconds, enums their value,
    mappings objects with text keys, other collections lists, non-finite floats null;
    anything else its ``str`` (a report shows the configuration, it never reads it back).
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, Decimal):
        return plain_decimal(value) if value.is_finite() else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return json_safe(value.value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_safe(item) for item in items]
    return str(value)


def _symbol_charts(inputs: ReportInputs, trades: Sequence[TradeMarker]) -> list[SymbolChart]:
    symbols = sorted(set(inputs.candles) | {marker.symbol for marker in trades})
    return [
        SymbolChart(
            symbol=symbol,
            candles=[
                (bar.open_time, bar.open, bar.high, bar.low, bar.close)
                for bar in inputs.candles.get(symbol, ())
            ],
            markers=[marker for marker in trades if marker.symbol == symbol],
        )
        for symbol in symbols
    ]


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
