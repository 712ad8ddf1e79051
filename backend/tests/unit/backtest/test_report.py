"""Backtest report: the JSON holds what the page shows, the page is self-contained and escaped."""

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest

from app.backtest.metrics import Bar, ReportInputs, compute_metrics
from app.backtest.report import ReportFiles, TradeMarker, write_report
from app.backtest.report_html import script_json
from app.core.secrets import register_secrets
from app.trading.performance import EquityPoint, TradeFill

D = Decimal
T0 = datetime(2025, 3, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
HOSTILE = "<script>alert(1)</script>"
NOTES = ["stopped at cost cap", "model may have seen these prices in training"]


class Mode(StrEnum):
    PAPER = "paper"


def bars(start: str, closes: list[str]) -> list[Bar]:
    result, previous = [], D(start)
    for i, close in enumerate(closes):
        c = D(close)
        result.append(Bar(T0 + i * HOUR, previous, max(previous, c) + 1, min(previous, c) - 1, c))
        previous = c
    return result


def sample_inputs() -> ReportInputs:
    equity = [D(e) for e in ("1000", "1010", "990", "1020")]
    return ReportInputs(
        start=T0,
        end=T0 + 4 * HOUR,
        initial_balance=D(1000),
        equity=[EquityPoint(T0 + (i + 1) * HOUR, e) for i, e in enumerate(equity)],
        fills=[
            TradeFill("BTCUSDT", D("0.1"), D(0), D("0.5"), T0 + HOUR),
            TradeFill("BTCUSDT", D("-0.1"), D(25), D("0.5"), T0 + 3 * HOUR),
        ],
        funding=D("-0.2"),
        exposed=[True, True, False, False],
        llm_cost_usd=D("0.03"),
        decisions=4,
        candles={
            "BTCUSDT": bars("60000", ["60100", "59900", "60200", "60300"]),
            "ETHUSDT": bars("3000", ["3010", "2990", "3020", "3050"]),
        },
        interval="1h",
    )


MARKERS = [
    TradeMarker("BTCUSDT", T0 + HOUR, "buy", D(60100), "entry"),
    TradeMarker("BTCUSDT", T0 + 3 * HOUR, "sell", D(60350), "exit"),
]


def write(tmp_path: Path, *, title: str = "BTC and ETH, March", **extra: object) -> ReportFiles:
    inputs = sample_inputs()
    config = {
        "model": "some/model",
        "leverage": D(3),
        "start": T0,
        "mode": Mode.PAPER,
        "assets": ("BTC", "ETH"),
        "out": tmp_path,
    } | extra
    return write_report(
        tmp_path / "out",
        title=title,
        config=config,
        metrics=compute_metrics(inputs),
        inputs=inputs,
        trades=MARKERS,
        notes=NOTES,
    )


def test_the_json_holds_config_metrics_notes_curve_and_trips(tmp_path: Path) -> None:
    files = write(tmp_path)

    document = json.loads(files.json_path.read_text("utf-8"))

    assert files.json_path == tmp_path / "out" / "report.json"
    assert document["metrics"]["total_return_pct"] == "2"
    assert document["metrics"]["trades"] == 1
    assert document["metrics"]["buy_and_hold_pct"] == {
        "BTCUSDT": "0.5",
        "ETHUSDT": "1.666666666666666666666666667",
    }
    assert document["config"]["leverage"] == "3"
    assert document["config"]["mode"] == "paper"
    assert document["config"]["assets"] == ["BTC", "ETH"]
    assert document["config"]["start"] == T0.isoformat()
    assert document["notes"] == NOTES
    assert [p["equity"] for p in document["equity_curve"]] == [
        "1000",
        "1000",
        "1010",
        "990",
        "1020",
    ]
    assert [p["exposed"] for p in document["equity_curve"]] == [None, True, True, False, False]
    assert D(document["equity_curve"][3]["drawdown_pct"]) == (D(1010) - D(990)) / D(1010) * 100
    assert document["round_trips"] == [
        {"symbol": "BTCUSDT", "closed_at": (T0 + 3 * HOUR).isoformat(), "net_pnl": "24"}
    ]
    assert document["trades"][1] == {
        "symbol": "BTCUSDT",
        "at": (T0 + 3 * HOUR).isoformat(),
        "side": "sell",
        "price": "60350",
        "kind": "exit",
    }


def test_the_page_inlines_plotly_and_loads_nothing_from_the_network(tmp_path: Path) -> None:
    page = write(tmp_path).html_path.read_text("utf-8")

    assert "plotly.js v" in page
    assert "Plotly.newPlot" in page
    assert not re.search(r"<script[^>]*\bsrc\s*=", page, re.IGNORECASE)
    assert not re.search(r"<link[^>]*\bhref\s*=\s*[\"']?https?:", page, re.IGNORECASE)
    assert not re.search(r"@import\s+url\(\s*[\"']?https?:", page, re.IGNORECASE)


def test_the_page_has_every_symbols_chart_the_metrics_and_the_notes(tmp_path: Path) -> None:
    page = write(tmp_path).html_path.read_text("utf-8")

    assert "<h3>BTCUSDT</h3>" in page
    assert "<h3>ETHUSDT</h3>" in page
    assert 'id="chart-0"' in page
    assert 'id="chart-1"' in page
    assert 'id="equity-chart"' in page
    for note in NOTES:
        assert f"<li>{note}</li>" in page
    assert "Total return" in page
    assert "2.00 %" in page
    # Four hours compounded to a year: a figure past a billion is shown as a power of ten.
    assert re.search(r'CAGR</th><td class="value">\d\.\d{3}e\+\d+ %<', page)
    data = _report_data(page)
    assert [s["symbol"] for s in data["symbols"]] == ["BTCUSDT", "ETHUSDT"]
    assert data["symbols"][0]["markers"][0]["price"] == [60100.0]
    assert data["equity"]["equity"] == [1000.0, 1000.0, 1010.0, 990.0, 1020.0]


def test_hostile_text_is_escaped_everywhere(tmp_path: Path) -> None:
    inputs = sample_inputs()
    hostile_inputs = ReportInputs(
        **{name: getattr(inputs, name) for name in ReportInputs.__dataclass_fields__}
        | {"candles": {HOSTILE: inputs.candles["BTCUSDT"]}}
    )
    files = write_report(
        tmp_path,
        title=HOSTILE,
        config={"note": HOSTILE, HOSTILE: 1},
        metrics=compute_metrics(hostile_inputs),
        inputs=hostile_inputs,
        trades=[TradeMarker(HOSTILE, T0 + HOUR, "buy", D(1), "entry")],
        notes=[HOSTILE],
    )
    page = files.html_path.read_text("utf-8")

    assert HOSTILE not in page
    assert "alert(1)" in page  # present, but only as inert text
    assert f"<title>{_escaped(HOSTILE)}</title>" in page
    assert f"<h1>{_escaped(HOSTILE)}</h1>" in page
    assert f"<li>{_escaped(HOSTILE)}</li>" in page
    # Only the three scripts of the page itself open and close: plotly.js, data, charts.
    assert page.count("</script>") == 3
    assert _report_data(page)["symbols"][0]["symbol"] == HOSTILE


def test_script_json_cannot_close_its_element() -> None:
    value = {"a": "</script><!-- & -->", "b": [1.5, None]}

    text = script_json(value)

    assert "<" not in text
    assert ">" not in text
    assert "&" not in text
    assert json.loads(text) == value


def test_secrets_in_the_config_and_notes_are_redacted(tmp_path: Path) -> None:
    secret = "sk-or-v1-report-test-secret-0123456789abcdef"
    register_secrets([secret])

    files = write(tmp_path, api_key=secret)

    assert secret not in files.json_path.read_text("utf-8")
    assert secret not in files.html_path.read_text("utf-8")


def test_an_empty_run_still_writes_both_files(tmp_path: Path) -> None:
    inputs = ReportInputs(
        start=T0,
        end=T0 + HOUR,
        initial_balance=D(1000),
        equity=[],
        fills=[],
        funding=D(0),
        exposed=[],
        llm_cost_usd=D(0),
        decisions=0,
        candles={},
        interval="1h",
    )
    files = write_report(
        tmp_path,
        title="empty",
        config={},
        metrics=compute_metrics(inputs),
        inputs=inputs,
        trades=[],
        notes=[],
    )

    document = json.loads(files.json_path.read_text("utf-8"))
    assert document["metrics"]["sharpe"] is None
    assert document["round_trips"] == []
    assert "No candles." in files.html_path.read_text("utf-8")


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the page's script")
def test_the_chart_script_draws_every_chart_from_the_data(tmp_path: Path) -> None:
    page = write(tmp_path).html_path.read_text("utf-8")
    scripts = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    charts_script = scripts[-1]
    # plotly.js itself needs a browser; its one entry point is replaced by a recorder here.
    harness = (
        "var calls = [];\n"
        "var Plotly = {newPlot: function (el, traces, layout) {"
        " calls.push({el: el, traces: traces.length, types: traces.map(function (t) {"
        " return t.type; })}); }};\n"
        f"var document = {{getElementById: function () {{ return {{textContent: "
        f"{json.dumps(json.dumps(_report_data(page)))}}}; }}}};\n"
        f"{charts_script}\n"
        "console.log(JSON.stringify(calls));\n"
    )
    script = tmp_path / "harness.js"
    script.write_text(harness, "utf-8")

    result = subprocess.run(
        ["node", str(script)], capture_output=True, text=True, check=True, timeout=60
    )

    calls = json.loads(result.stdout)
    assert [call["el"] for call in calls] == ["equity-chart", "chart-0", "chart-1"]
    assert calls[0]["types"] == ["scatter", "scatter"]
    assert calls[1]["types"] == ["candlestick", "scatter", "scatter"]
    assert calls[2]["types"] == ["candlestick"]


def _report_data(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="report-data">(.*?)</script>', page, re.DOTALL
    )
    assert match is not None
    data: dict[str, Any] = json.loads(match.group(1))
    return data


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
