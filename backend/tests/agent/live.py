"""A live-mode agent loop against the fake AsterDEX and the fake OpenRouter over loopback.

Everything the loop touches is real: the signed AsterDEX client, the live exchange port, the
market-data service on the exchange's klines, the OpenRouter client and LLM provider. Only
the two services are fakes speaking their real protocols.

The journal and the market view are in memory by default: one :class:`MemoryJournal` shared by
every loop of a rig, so a restarted loop finds what the one before it journaled, as a restarted
process finds its database. Given database sessions, a rig runs on the SQL journal and candle
store instead, end to end; :func:`records` reads back either journal in the memory journal's
record shapes, so one assertion holds for both.
"""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from app.agent.loop import AgentConfig, AgentLoop
from app.agent.models import AgentEvent
from app.agent.ports import Journal
from app.core.types import AccountId, TradingMode
from app.db.session import SessionFactory, session_scope
from app.exchange.http.auth import HmacSigner
from app.exchange.http.client import AsterdexClient
from app.exchange.http.streams import ReconnectPolicy, UserDataStream
from app.exchange.live import LiveExchange
from app.exchange.types import OrderType
from app.indicators.features import feature_names
from app.indicators.schemas import IndicatorConfig
from app.llm.http import OpenRouterClient
from app.llm.models import LlmCall
from app.llm.provider import LlmDecisionProvider
from app.market_data.exchange_source import ExchangeMarketData
from app.market_data.service import MarketDataService
from app.records.memory_journal import MemoryJournal
from app.records.memory_records import JournalEvent, JournalFill, JournalOrder
from app.records.sql_journal import SqlJournal
from app.trading.domain import RiskLimits
from app.trading.models import Decision, DecisionLeg, Fill, Order
from app.trading.repository import sync_accounts
from tests.fakes.asterdex import DEFAULT_DATA_DIR, FakeAccount, FakeAsterdex, FakeCandle
from tests.fakes.asterdex._market import read_candles
from tests.fakes.clock import ManualClock
from tests.fakes.openrouter import FakeOpenRouter, Reply

START = datetime(2026, 11, 2, 10, 0, 30, tzinfo=UTC)
ACCOUNT = "live"
API_KEY, API_SECRET, LLM_KEY = "live-key", "live-secret", "sk-or-v1-live"
SYMBOLS = {"BTC": "BTCUSDT", "ETH": "ETHUSDT", "SOL": "SOLUSDT"}
LIMITS = RiskLimits(
    max_position_usd=Decimal(4000), max_leverage=Decimal(3), max_total_exposure_usd=Decimal(9000)
)


def leg(asset: str, action: str = "hold", **fields: Any) -> dict[str, Any]:
    """One leg of a decision document, holding unless told otherwise."""
    base: dict[str, Any] = {
        "symbol": asset,
        "action": action,
        "size_usd": None,
        "leverage": None,
        "stop_loss": None,
        "take_profit": None,
        "invalidation": None,
        "confidence": 0.6,
        "rationale": f"{action} {asset}",
    }
    return {**base, **fields}


@dataclass
class LiveRig:
    """The fakes, the clock and the journal one test's live loops share.

    ``sessions`` None: the journal is ``memory`` and every loop's market view is in memory;
    otherwise both are in that database (and ``memory`` stays empty).
    """

    clock: ManualClock
    exchange: FakeAsterdex
    router: FakeOpenRouter
    sessions: SessionFactory | None
    account: FakeAccount
    memory: MemoryJournal = field(default_factory=MemoryJournal)
    closers: list[Any] = field(default_factory=list)

    def journal(self) -> Journal:
        """The journal a new loop writes to: the shared memory one, or a new SQL journal over
        the same database (as a restarted process opens it)."""
        return SqlJournal(self.sessions) if self.sessions is not None else self.memory

    def price(self, symbol: str = "BTCUSDT") -> Decimal:
        """The fake's current (mark) price."""
        return self.exchange.price(symbol)

    def say(self, *legs: dict[str, Any]) -> None:
        """Script the LLM's next reply: these legs, every other asset holding."""
        named = {item["symbol"] for item in legs}
        rest = [leg(asset) for asset in SYMBOLS if asset not in named]
        self.router.script(Reply.json({"decisions": [*legs, *rest], "summary": "test"}))

    def open_long(self, *, size: int = 3000, invalidation: str | None = None) -> Decimal:
        """Script a BTC long with a 3 % stop and a 6 % target; returns the stop."""
        price = self.price()
        stop, target = (price * Decimal("0.97")).quantize(Decimal(1)), (
            price * Decimal("1.06")
        ).quantize(Decimal(1))
        self.say(
            leg(
                "BTC",
                "open_long",
                size_usd=size,
                leverage=2,
                stop_loss=float(stop),
                take_profit=float(target),
                invalidation=(
                    {"condition": invalidation, "text": "test"} if invalidation else None
                ),
            )
        )
        return stop

    async def hour(self, hours: int = 1) -> None:
        """Let time pass on the exchange: bars close, stops trigger."""
        self.clock.advance(timedelta(hours=hours))
        await self.exchange.process()

    async def loop(
        self,
        *,
        stream: bool = False,
        policy: str = "adopt",
        entry_type: OrderType = OrderType.MARKET,
    ) -> tuple[AgentLoop, LiveExchange]:
        """A fresh loop (as after a restart): new clients, same exchange and journal."""
        client = AsterdexClient(
            base_url=self.exchange.base_url,
            signer=HmacSigner(SecretStr(API_KEY), SecretStr(API_SECRET)),
            clock=self.clock,
            timeout_s=10.0,
        )
        public = AsterdexClient(base_url=self.exchange.base_url, clock=self.clock)
        llm = OpenRouterClient(base_url=self.router.base_url, api_key=SecretStr(LLM_KEY))
        user_stream = (
            UserDataStream(
                client,
                self.exchange.ws_url,
                list(SYMBOLS.values()),
                clock=self.clock,
                policy=ReconnectPolicy(base_delay_s=0.05, max_delay_s=0.2),
            )
            if stream
            else None
        )
        live = LiveExchange(
            client,
            symbols=list(SYMBOLS.values()),
            stream=user_stream,
            funding_since=self.clock.now(),
        )
        self.closers.extend([live, client, public, llm])
        await live.prepare()
        await live.start()
        market = MarketDataService(
            ExchangeMarketData(public), self.sessions, self.clock, intervals=("1h",)
        )
        for symbol in SYMBOLS.values():
            await market.backfill(symbol)
        provider = LlmDecisionProvider(
            llm, model="x-ai/grok-4", features=feature_names(IndicatorConfig()), max_tokens=4000
        )
        config = AgentConfig(
            ACCOUNT,
            SYMBOLS,
            "1h",
            "1h",
            LIMITS,
            entry_type=entry_type,
            unmanaged_policy="flatten" if policy == "flatten" else "adopt",
        )
        loop = AgentLoop(
            config,
            clock=self.clock,
            market=market,
            exchange=live,
            provider=provider,
            journal=self.journal(),
        )
        return loop, live


async def journal(sessions: SessionFactory) -> tuple[list[Order], list[Fill], list[AgentEvent]]:
    """Every journaled order (oldest first), fill and event, as rows of that database (for
    the tests of database faults; :func:`records` reads either journal)."""
    async with session_scope(sessions) as session:
        orders = list(await session.scalars(select(Order).order_by(Order.created_at)))
        fills = list(await session.scalars(select(Fill)))
        events = list(await session.scalars(select(AgentEvent).order_by(AgentEvent.occurred_at)))
    return orders, fills, events


Records = tuple[list[JournalOrder], list[JournalFill], list[JournalEvent]]


async def records(rig: LiveRig) -> Records:
    """Every journaled order (oldest first), fill and event (oldest first), from either
    journal, as the memory journal's records (a SQL fill's order by its client id)."""
    if rig.sessions is None:
        return list(rig.memory.orders), list(rig.memory.fill_records), list(rig.memory.events)
    async with session_scope(rig.sessions) as session:
        order_rows = list(await session.scalars(select(Order).order_by(Order.created_at)))
        fill_rows = list(await session.scalars(select(Fill)))
        event_rows = list(
            await session.scalars(select(AgentEvent).order_by(AgentEvent.occurred_at))
        )
    client_ids = {row.id: row.client_order_id for row in order_rows}
    orders = [
        JournalOrder(
            client_order_id=row.client_order_id,
            account_id=row.account_id,
            leg_id=row.decision_leg_id,
            symbol=row.symbol,
            side=row.side,
            type=row.type,
            purpose=row.purpose,
            quantity=row.quantity,
            price=row.price,
            stop_price=row.stop_price,
            reduce_only=row.reduce_only,
            close_position=row.close_position,
            working_type=row.working_type,
            status=row.status,
            status_history=tuple(row.status_history),
            created_at=row.created_at,
            updated_at=row.updated_at,
            exchange_order_id=row.exchange_order_id,
            filled_quantity=row.filled_quantity,
            average_price=row.average_price,
            error=row.error,
        )
        for row in order_rows
    ]
    fills = [
        JournalFill(
            account_id=row.account_id,
            order_client_id=client_ids[row.order_id] if row.order_id is not None else None,
            symbol=row.symbol,
            trade_id=row.trade_id,
            side=row.side,
            price=row.price,
            quantity=row.quantity,
            fee=row.fee,
            fee_asset=row.fee_asset,
            realized_pnl=row.realized_pnl,
            maker=row.is_maker,
            filled_at=row.filled_at,
        )
        for row in fill_rows
    ]
    events = [
        JournalEvent(
            account_id=row.account_id,
            kind=row.type,
            severity=row.severity,
            message=row.message,
            payload=row.payload,
            decision_id=row.decision_id,
            occurred_at=row.occurred_at,
        )
        for row in event_rows
    ]
    return orders, fills, events


@dataclass(frozen=True)
class DecisionRecord:
    """A journaled decision: its model, its deciding (last) LLM call's raw reply (None without
    a call), and its legs' ids."""

    model: str | None
    reply: str | None
    leg_ids: set[uuid.UUID]


async def decision_records(rig: LiveRig) -> list[DecisionRecord]:
    """Every journaled decision (oldest first), from either journal."""
    if rig.sessions is None:
        return [
            DecisionRecord(
                d.model,
                d.calls[-1].raw_reply if d.calls else None,
                {leg_row.id for leg_row in d.legs},
            )
            for d in rig.memory.decisions
        ]
    found = []
    async with session_scope(rig.sessions) as session:
        for decision in await session.scalars(select(Decision).order_by(Decision.created_at)):
            call = (
                await session.get(LlmCall, decision.llm_call_id)
                if decision.llm_call_id is not None
                else None
            )
            legs = await session.scalars(
                select(DecisionLeg).where(DecisionLeg.decision_id == decision.id)
            )
            found.append(
                DecisionRecord(
                    decision.model,
                    call.raw_reply if call is not None else None,
                    {leg_row.id for leg_row in legs},
                )
            )
    return found


def crash_candles(bar_index: int) -> dict[str, list[FakeCandle]]:
    """Real candles from a common start (bar 299 is the last closed one at ``START`` for
    every symbol), with BTC's bar ``bar_index`` crashing 20 %: any long's stop fires."""
    real = {s: read_candles(DEFAULT_DATA_DIR / f"{s}-1h.csv") for s in SYMBOLS.values()}
    start = max(series[0].open_time_ms for series in real.values())
    candles = {s: [c for c in v if c.open_time_ms >= start][:400] for s, v in real.items()}
    bar = candles["BTCUSDT"][bar_index]
    candles["BTCUSDT"][bar_index] = FakeCandle(
        bar.open_time_ms,
        bar.open,
        bar.open,
        bar.open * Decimal("0.8"),
        bar.open * Decimal("0.85"),
        bar.volume,
    )
    return candles


# Where a rig keeps its journal and candles: in memory (None), or in PostgreSQL end to end.
STORES = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]


@asynccontextmanager
async def live_rig(
    sessions: SessionFactory | None = None,
    *,
    candles: Mapping[str, Sequence[FakeCandle]] | None = None,
) -> AsyncIterator[LiveRig]:
    """Start both fakes on loopback ports and open one funded HMAC account; the journal and
    candles in memory, or (given ``sessions``) in that database."""
    clock = ManualClock(START)
    async with (
        FakeAsterdex(
            clock=clock, rebase_to=START, candles=candles, symbols=list(SYMBOLS.values())
        ) as exchange,
        FakeOpenRouter(api_keys=(LLM_KEY,)) as router,
    ):
        account = exchange.add_hmac_account(API_KEY, API_SECRET, balance=Decimal(10_000))
        if sessions is not None:
            async with session_scope(sessions) as session:
                await sync_accounts(session, [(AccountId(ACCOUNT), TradingMode.LIVE)])
        rig = LiveRig(clock, exchange, router, sessions, account)
        try:
            yield rig
        finally:
            for closer in reversed(rig.closers):
                await closer.aclose()
