"""The request and response bodies of ``/api/v1/backtests``."""

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from app.backtest.spec import BacktestSpec, CachePolicy, ProviderKind

_EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)


def _in_range(value: datetime) -> datetime:
    # Candle history starts long after 2000; bounding the window keeps the warm-up
    # arithmetic before it (and the database's range) far from the calendar's ends.
    try:
        value = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("has no UTC equivalent") from None
    if not _EARLIEST <= value < _LATEST:
        raise ValueError("must be between 2000-01-01 and 2100-01-01 (UTC)")
    return value


WindowTime = Annotated[AwareDatetime, AfterValidator(_in_range)]
Asset = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,30}$")]
Interval = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}[mhdwM]$")]
SettingName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
SettingValue = (
    Annotated[str, StringConstraints(max_length=1000)]
    | bool
    | int
    | Annotated[float, Field(allow_inf_nan=False)]
)
Amount = Annotated[Decimal, Field(max_digits=30, decimal_places=8, allow_inf_nan=False)]


class BacktestCreate(BaseModel):
    """A backtest to start: the same choices as ``trading-agent backtest``."""

    model_config = ConfigDict(extra="forbid")

    start: WindowTime = Field(description="First decision time, with a UTC offset")
    end: WindowTime = Field(description="No decision at or after this time")
    assets: list[Asset] = Field(min_length=1, max_length=20, examples=[["BTC", "ETH"]])
    interval: Interval = Field(default="1h", description="Decision interval")
    long_interval: Interval = Field(default="4h", description="Higher-timeframe context")
    provider: ProviderKind = ProviderKind.RULES
    model: str | None = Field(default=None, max_length=128, description="LLM model")
    settings: dict[SettingName, SettingValue] = Field(
        default_factory=dict,
        max_length=100,
        description='Settings by their environment names, e.g. {"LEVERAGE": 3}',
    )
    balance: Amount = Field(default=Decimal(10_000), gt=0, description="Starting USDT")
    data_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="A directory on the server of <SYMBOL>-<interval>.csv candles; "
        "absent: the database's candles",
    )
    cache: CachePolicy = CachePolicy.USE
    max_cost_usd: Amount | None = Field(default=None, ge=0, description="LLM spend cap")
    title: str | None = Field(default=None, max_length=200)

    def spec(self) -> BacktestSpec:
        """The engine's request (setting names upper-cased, values as text)."""
        return BacktestSpec(
            start=self.start,
            end=self.end,
            assets=tuple(self.assets),
            interval=self.interval,
            long_interval=self.long_interval,
            provider=self.provider,
            model=self.model,
            settings={name.upper(): _text(value) for name, value in self.settings.items()},
            balance=self.balance,
            data_dir=Path(self.data_dir) if self.data_dir is not None else None,
            cache=self.cache,
            max_cost_usd=self.max_cost_usd,
            title=self.title,
        )


class ReplayCreate(BaseModel):
    """A decision replay of a finished backtest: its decisions under other settings."""

    model_config = ConfigDict(extra="forbid")

    settings: dict[SettingName, SettingValue] = Field(
        default_factory=dict,
        max_length=100,
        description='Settings to change, by their environment names, e.g. {"LEVERAGE": 1}',
    )
    title: str | None = Field(default=None, max_length=200)

    def overrides(self) -> dict[str, str]:
        """The settings as the engine takes them (names upper-cased, values as text)."""
        return {name.upper(): _text(value) for name, value in self.settings.items()}


def _text(value: str | bool | int | float) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_FLAGS: Final = {
    "--from": "start",
    "--to": "end",
    "--assets": "assets",
    "--interval": "interval",
    "--long-interval": "long_interval",
    "--set": "settings",
    "--balance": "balance",
    "--max-cost-usd": "max_cost_usd",
    "--data": "data_dir",
    "--provider": "provider",
}
_FLAG: Final = re.compile(r"--[a-z][a-z-]*")


def as_fields(problem: str) -> str:
    """A problem line of the engine with its command-line flags named as the body's fields."""
    return _FLAG.sub(lambda match: _FLAGS.get(match[0], match[0]), problem)


class BacktestAccepted(BaseModel):
    """A run that started."""

    id: str = Field(examples=["backtest-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"])
    status: str
    channel: str = Field(description="Subscribe to it on /ws for progress and the end")


class BacktestRead(BaseModel):
    """A run: its request, status, progress and, once it ended, metrics and notes."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    status: str = Field(description="running, completed, stopped_at_cost_cap, cancelled or failed")
    title: str | None
    config: dict[str, Any]
    progress: dict[str, Any] | None
    metrics: dict[str, Any] | None
    notes: list[str]
    error: str | None
    created_at: AwareDatetime
    started_at: AwareDatetime | None
    finished_at: AwareDatetime | None


class TradeRead(BaseModel):
    """One fill of a run (decimals as text)."""

    symbol: str
    side: str
    quantity: str
    price: str
    fee: str
    realized_pnl: str
    at: AwareDatetime
    purpose: str | None


class EquityRead(BaseModel):
    """The run's account after one cycle."""

    at: AwareDatetime
    equity: str
    wallet_balance: str
    unrealized_pnl: str
    margin_used: str


class LegSummary(BaseModel):
    """One leg of a decision and what became of it."""

    symbol: str
    action: str
    status: str
    requested: dict[str, Any] | None = Field(
        default=None, description="What the decision asked for (size, stop, invalidation...)"
    )
    approved: dict[str, Any] | None = Field(
        default=None, description="What the risk engine approved (orders, stop, leverage)"
    )
    adjustments: list[Any] = Field(default_factory=list, description="What it changed, and why")


class CallSummary(BaseModel):
    """One LLM call of a decision (the prompt is kept by its hash)."""

    model: str
    status: str
    attempt: int
    started_at: AwareDatetime
    latency_ms: int
    prompt_hash: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: str | None
    cache_hit: bool = Field(description="Answered from the reply cache (cost 0)")
    cached_from: str | None = Field(description="When the cached reply was first asked for")
    generation_id: str | None
    raw_reply: str | None
    error: str | None


class DecisionRead(BaseModel):
    """One decision cycle of a run."""

    id: str
    at: AwareDatetime
    candle_time: AwareDatetime | None
    status: str
    provider: str
    model: str | None
    summary: str | None
    validation_error: str | None
    prompt_version: str | None = None
    notes: list[Any] = Field(default_factory=list)
    legs: list[LegSummary]
    llm_calls: int
    llm_cost_usd: str
    calls: list[CallSummary] = Field(default_factory=list)


class SeriesPage[T](BaseModel):
    """One page of a run's records, oldest first (a finished run does not change)."""

    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (later) page; null on the last page"
    )
