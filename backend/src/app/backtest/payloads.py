"""A backtest's progress and records as the compact JSON its row keeps and the API serves.

Decimals are plain text and times ISO 8601, as in every API answer. The lists are written
once, when the run ends, from the run's own in-memory journal.
"""

from decimal import Decimal
from typing import Any

from app.backtest.engine import Progress
from app.backtest.results import trades
from app.core.decimals import plain_decimal
from app.core.secrets import redact_json
from app.llm.ports import LlmCallRecord
from app.records.memory_journal import MemoryJournal
from app.records.memory_records import JournalDecision


def progress_json(progress: Progress) -> dict[str, Any]:
    """Where the run is: cycles done of the total, counts, equity, spend, simulated time."""
    return {
        "ticks": progress.ticks,
        "total_ticks": progress.total_ticks,
        "candles": progress.candles,
        "decisions": progress.decisions,
        "trades": progress.trades,
        "equity": plain_decimal(progress.equity) if progress.equity is not None else None,
        "llm_cost_usd": plain_decimal(progress.llm_cost_usd),
        "at": progress.at.isoformat() if progress.at is not None else None,
    }


def trade_rows(journal: MemoryJournal) -> list[dict[str, object]]:
    """Every fill in the order it happened, with its order's purpose."""
    return [trade.to_json() for trade in trades(journal)]


def equity_rows(journal: MemoryJournal) -> list[dict[str, Any]]:
    """The account's balances after every cycle, oldest first."""
    return [
        {
            "at": point.taken_at.isoformat(),
            "equity": plain_decimal(point.equity),
            "wallet_balance": plain_decimal(point.wallet_balance),
            "unrealized_pnl": plain_decimal(point.unrealized_pnl),
            "margin_used": plain_decimal(point.margin_used),
        }
        for point in journal.equity
    ]


def decision_rows(journal: MemoryJournal) -> list[dict[str, Any]]:
    """Every decision cycle, oldest first: outcome, summary, legs and what its calls cost."""
    # The journal redacts what it keeps; masking again costs little and keeps a key that
    # reached a summary some other way out of the database and the API.
    return redact_json([_decision(decision) for decision in journal.decisions])


def _decision(decision: JournalDecision) -> dict[str, Any]:
    cost = sum(
        (call.cost_usd for call in decision.calls if call.cost_usd is not None), start=Decimal(0)
    )
    return {
        "id": str(decision.id),
        "at": decision.created_at.isoformat(),
        "candle_time": decision.candle_time.isoformat() if decision.candle_time else None,
        "status": decision.status,
        "provider": decision.provider,
        "model": decision.model,
        "summary": decision.summary,
        "validation_error": decision.validation_error,
        "prompt_version": decision.prompt_version,
        "notes": decision.parsed.get("notes", []),
        # Each leg whole (what was asked, what the risk engine approved and why): the
        # audit trail, and what a decision replay re-judges.
        "legs": [
            {
                "symbol": leg.symbol,
                "action": leg.action,
                "status": leg.status,
                "requested": leg.requested,
                "approved": leg.approved,
                "adjustments": leg.adjustments,
            }
            for leg in decision.legs
        ],
        "llm_calls": len(decision.calls),
        "llm_cost_usd": plain_decimal(cost),
        "calls": [_call(call) for call in decision.calls],
    }


def _call(call: LlmCallRecord) -> dict[str, Any]:
    """One LLM call of a decision: who answered, what it said, whether from the cache."""
    return {
        "model": call.model,
        "status": call.status,
        "attempt": call.attempt,
        "started_at": call.started_at.isoformat(),
        "latency_ms": call.latency_ms,
        "prompt_hash": call.prompt_hash,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "cost_usd": plain_decimal(call.cost_usd) if call.cost_usd is not None else None,
        "cache_hit": call.cached,
        "cached_from": call.cached_from,
        "generation_id": call.generation_id,
        "raw_reply": call.raw_reply,
        "error": call.error,
    }
