"""LLM backtests over the fake OpenRouter: the reply cache, the cost estimate and cap, and the
training-leakage warning."""

from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest

from app.backtest.engine import BacktestRun, RunStatus, llm_spend, run_backtest
from app.backtest.spec import BacktestSpec, CachePolicy, ProviderKind
from app.core.clock import Clock
from app.llm.cache import MemoryReplyStore
from app.market_data.replay import ReplayMarketData
from tests.backtest.data import START, write_recording
from tests.fakes.openrouter import DEFAULT_API_KEY, ChatRequest, FakeOpenRouter, Reply

ASSETS = ("BTC", "ETH")
END = START.replace(day=START.day + 1)  # one day: 24 decisions


def hold_everything(request: ChatRequest) -> Reply:
    del request
    legs = [
        {
            "symbol": asset,
            "action": "hold",
            "size_usd": None,
            "leverage": None,
            "stop_loss": None,
            "take_profit": None,
            "invalidation": None,
            "confidence": 0.5,
            "rationale": "nothing to do",
        }
        for asset in ASSETS
    ]
    return Reply.json({"decisions": legs, "summary": "hold"})


@pytest.fixture
async def router() -> AsyncIterator[FakeOpenRouter]:
    async with FakeOpenRouter(credits_usd=Decimal(100)) as server:
        server.default_reply = hold_everything
        yield server


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_recording(tmp_path_factory.mktemp("recording"))


def llm_spec(router: FakeOpenRouter, **changes: object) -> BacktestSpec:
    spec = BacktestSpec(
        START,
        END,
        ASSETS,
        provider=ProviderKind.LLM,
        settings={
            "OPENROUTER_API_KEY": DEFAULT_API_KEY,
            "OPENROUTER_BASE_URL": router.base_url,
            "LLM_FALLBACK_MODELS": "",
        },
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def source_in(directory: Path) -> Callable[[Clock], ReplayMarketData]:
    def build(clock: Clock) -> ReplayMarketData:
        return ReplayMarketData(clock, directory)

    return build


def chats(router: FakeOpenRouter) -> int:
    return len(router.requests)  # every POST /chat/completions


def calls(run: BacktestRun) -> list[tuple[bool, Decimal | None]]:
    return [(c.cached, c.cost_usd) for d in run.journal.decisions for c in d.calls]


async def test_a_rerun_answers_from_the_cache_with_zero_calls(
    router: FakeOpenRouter, recording: Path
) -> None:
    store = MemoryReplyStore()
    lines: list[str] = []
    first = await run_backtest(
        llm_spec(router), source_in(recording), replies=store, announce=lines.append
    )
    asked = chats(router)

    assert first.status is RunStatus.COMPLETED
    assert asked == len(first.journal.decisions) == 24
    assert all(not cached for cached, _ in calls(first))
    assert llm_spend(first.journal) > 0
    assert first.plan is not None
    assert first.plan.estimate is not None
    assert first.plan.estimate.cycles == 24
    assert first.plan.estimate.usd is not None
    assert first.plan.estimate.usd > 0
    assert lines == [first.plan.describe()]

    again = await run_backtest(llm_spec(router), source_in(recording), replies=store)

    assert chats(router) == asked  # not one more HTTP call
    assert [d.parsed for d in again.journal.decisions] == [
        d.parsed for d in first.journal.decisions
    ]
    assert all(cached and cost == 0 for cached, cost in calls(again))
    assert all(c.cached_from for d in again.journal.decisions for c in d.calls)
    assert llm_spend(again.journal) == 0


async def test_cache_only_never_calls_and_holds_on_a_miss(
    router: FakeOpenRouter, recording: Path
) -> None:
    run = await run_backtest(
        llm_spec(router, cache=CachePolicy.ONLY), source_in(recording), replies=MemoryReplyStore()
    )

    assert chats(router) == 0
    assert run.status is RunStatus.COMPLETED
    assert not run.journal.fill_records
    assert all(c.status == "error" for d in run.journal.decisions for c in d.calls)


async def test_the_run_stops_cleanly_at_the_cost_cap(
    router: FakeOpenRouter, recording: Path
) -> None:
    probe = await run_backtest(llm_spec(router, end=START.replace(hour=1)), source_in(recording))
    one_call = llm_spend(probe.journal)  # the first cycle's cost
    assert one_call > 0
    cap = one_call * Decimal("2.5")
    before = chats(router)

    run = await run_backtest(llm_spec(router, max_cost_usd=cap), source_in(recording))

    assert run.status is RunStatus.COST_CAP
    assert chats(router) - before == 3  # the third call reached the cap: no fourth
    assert len(run.journal.decisions) == 3
    assert llm_spend(run.journal) >= cap
    assert any("cost cap" in note for note in run.notes)


async def test_a_window_before_the_model_existed_is_flagged(
    router: FakeOpenRouter, recording: Path
) -> None:
    # The fake lists claude-sonnet-4.5 from 2025-09-29, after this window's end.
    run = await run_backtest(
        llm_spec(router, model="anthropic/claude-sonnet-4.5", end=START.replace(hour=2)),
        source_in(recording),
    )
    assert any("training" in note for note in run.notes), run.notes

    older = await run_backtest(
        llm_spec(router, model="openai/gpt-4o-mini", end=START.replace(hour=2)),
        source_in(recording),
    )
    assert not any("training" in note for note in older.notes), older.notes
