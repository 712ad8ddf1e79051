"""Imports every model so ``Base.metadata`` is complete (for Alembic and schema checks)."""

from app.agent.models import AgentControl, AgentEvent
from app.backtest.models import BacktestRunRow
from app.db.base import Base
from app.llm.models import LlmCall, LlmReplyRow
from app.market_data.models import Candle, FundingRateRow, IndicatorSnapshot
from app.trading.models import (
    Account,
    Decision,
    DecisionLeg,
    EquitySnapshot,
    Fill,
    Order,
    PaperAccountRow,
    PositionSnapshot,
    RiskStateRow,
)

__all__ = [
    "Account",
    "AgentControl",
    "AgentEvent",
    "BacktestRunRow",
    "Base",
    "Candle",
    "Decision",
    "DecisionLeg",
    "EquitySnapshot",
    "Fill",
    "FundingRateRow",
    "IndicatorSnapshot",
    "LlmCall",
    "LlmReplyRow",
    "Order",
    "PaperAccountRow",
    "PositionSnapshot",
    "RiskStateRow",
]

metadata = Base.metadata
