"""A finished backtest's records, as the metrics, the report and the API read them."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from app.backtest.engine import BacktestRun, llm_spend
from app.backtest.metrics import BacktestMetrics, Bar, ReportInputs, compute_metrics
from app.backtest.report import ReportFiles, write_report
from app.backtest.report_html import MarkerKind, MarkerSide, TradeMarker
from app.core.clock import SimulatedClock
from app.records.memory_journal import MemoryJournal
from app.trading.performance import EquityPoint, TradeFill

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of a backtest, as its report and the API show it."""

    symbol: str
    side: str
    quantity: Decimal
    price: Decimal
    fee: Decimal
    realized_pnl: Decimal
    at: datetime
    purpose: str | None

    def to_json(self) -> dict[str, object]:
        """JSON-safe (decimals as text, as everywhere in the API)."""
        return {
            "symbol": self.symbol,
            "side": self.side,
            "quantity": str(self.quantity),
            "price": str(self.price),
            "fee": str(self.fee),
            "realized_pnl": str(self.realized_pnl),
            "at": self.at.isoformat(),
            "purpose": self.purpose,
        }


def trades(journal: MemoryJournal) -> list[Trade]:
    """Every fill in the order it happened, with the purpose of its order (entry, stop...)."""
    result: list[Trade] = []
    for fill in journal.fill_records:
        order = journal.order(fill.order_client_id) if fill.order_client_id else None
        result.append(
            Trade(
                fill.symbol,
                fill.side,
                fill.quantity,
                fill.price,
                fill.fee,
                fill.realized_pnl,
                fill.filled_at,
                order.purpose if order is not None else None,
            )
        )
    return result


def funding_total(journal: MemoryJournal) -> Decimal:
    """Net funding of the run (negative when the account paid), from its funding events."""
    total = _ZERO
    for event in journal.events:
        if event.kind != "funding":
            continue
        try:
            total += Decimal(str(event.payload.get("amount")))
        except InvalidOperation:
            continue
    return total


def markers(journal: MemoryJournal) -> list[TradeMarker]:
    """The fills as chart markers: entries, stops, and every other exit."""
    result: list[TradeMarker] = []
    for trade in trades(journal):
        kind: MarkerKind = "entry" if trade.purpose == "entry" else "exit"
        if trade.purpose == "stop_loss":
            kind = "stop"
        side: MarkerSide = "buy" if trade.side == "BUY" else "sell"
        result.append(TradeMarker(trade.symbol, trade.at, side, trade.price, kind))
    return result


def write_run_report(run: BacktestRun, folder: Path, inputs: ReportInputs) -> ReportFiles:
    """The run's ``report.json`` and self-contained ``report.html`` in ``folder``."""
    return write_report(
        folder,
        title=run.spec.title or f"Backtest {run.run_id}",
        config={
            **run.spec.describe(),
            "run_id": run.run_id,
            "status": run.status.value,
            "llm_estimate": run.plan.describe() if run.plan is not None else None,
        },
        metrics=compute_metrics(inputs),
        inputs=inputs,
        trades=markers(run.journal),
        notes=run.notes,
    )


async def report_inputs(run: BacktestRun) -> ReportInputs:
    """What the metrics and the report need, from the run's records and its candles."""
    journal, spec = run.journal, run.spec
    held = {p.taken_at for p in journal.positions if p.quantity > 0}
    equity = [EquityPoint(e.taken_at, e.equity) for e in journal.equity]
    fills = [
        TradeFill(
            f.symbol,
            f.quantity if f.side == "BUY" else -f.quantity,
            f.realized_pnl,
            f.fee,
            f.filled_at,
        )
        for f in journal.fill_records
    ]
    return ReportInputs(
        start=spec.start,
        end=spec.end,
        initial_balance=spec.balance,
        equity=equity,
        fills=fills,
        funding=funding_total(journal),
        exposed=[e.taken_at in held for e in journal.equity],
        llm_cost_usd=llm_spend(journal),
        decisions=len(journal.decisions),
        candles=await window_bars(run),
        interval=spec.interval,
    )


async def window_bars(run: BacktestRun) -> dict[str, list[Bar]]:
    """Each traded symbol's candles of the window (the report's charts, buy-and-hold)."""
    spec = run.spec
    source = run.source_of(SimulatedClock(spec.end))  # sees the whole window, closed
    bars: dict[str, list[Bar]] = {}
    for symbol in run.symbols.values():
        candles = await source.candles(symbol, spec.interval, start=spec.start, end=spec.end)
        bars[symbol] = [
            Bar(c.open_time, c.open, c.high, c.low, c.close)
            for c in candles
            if c.closed and c.open_time < spec.end
        ]
    return bars


async def summarize(run: BacktestRun) -> tuple[ReportInputs, BacktestMetrics]:
    """The run's report inputs and metrics."""
    inputs = await report_inputs(run)
    return inputs, compute_metrics(inputs)
