"""``PATCH /api/v1/config`` over real HTTP on a paper service replaying the bundled candles:
a change is checked whole before anything keeps it, refused changes answer 422 with each
variable's reason and leave nothing behind, and no sequence of changes loosens a risk limit
past the environment's value."""

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.agent.loop import AgentLoop
from app.core.types import AccountId
from app.runtime.container import RuntimeOptions
from tests.service import RunningService, serve

pytestmark = pytest.mark.postgres
FULL, READ = "full-token-0123456789abcdef", "read-token-0123456789abcdef"
ACCOUNT = "/api/v1/accounts/default"
CONFIG = "/api/v1/config"

# The environment the service starts with: every risk limit set, so each is a ceiling.
ENVIRONMENT = {
    "LEVERAGE": "5",
    "MAX_POSITION_SIZE_USD": "10000",
    "MAX_TOTAL_EXPOSURE_USD": "20000",
    "MAX_DAILY_LOSS_PCT": "5",
    "MAX_LOSS_PER_TRADE_PCT": "2",
    "MAX_STOP_DISTANCE_PCT": "10",
    "MIN_STOP_ATR": "0.5",
    "MIN_HOLD_BARS": "3",
    "STOP_COOLDOWN_BARS": "3",
    "ALLOW_PYRAMIDING": "false",
    "LLM_DAILY_BUDGET_USD": "20",
}
# Which way gives the agent more room (an operator's reading of each limit).
LOOSER_WHEN_LOWER = {"MIN_STOP_ATR", "MIN_HOLD_BARS", "STOP_COOLDOWN_BARS"}


@pytest.fixture
async def service(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningService]:
    for name, value in {
        "DATABASE_URL": postgres_url,
        "AGENTS_ENABLED": "true",
        "API_TOKEN": FULL,
        "API_READ_TOKEN": READ,
        "REPLAY_SPEED": "1",  # one cycle at startup, the rest when a test asks
        "CONFIG_WATCH_ENABLED": "false",
        **ENVIRONMENT,
    }.items():
        monkeypatch.setenv(name, value)
    async with serve(RuntimeOptions(replay=True)) as running:
        yield running


def agent_loop(service: RunningService) -> AgentLoop:
    loop = service.container.supervisor.loop(AccountId("default"))
    assert loop is not None
    return loop


async def cycle(http: httpx.AsyncClient) -> None:
    response = await http.post(f"{ACCOUNT}/agent/cycle")
    assert response.status_code == 200, response.text


async def config(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get(CONFIG)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_refused_asset_changes_nothing_and_a_later_valid_change_applies(
    service: RunningService,
) -> None:
    async with service.client(FULL) as admin:
        before = await config(admin)
        unknown = await admin.patch(CONFIG, json={"ASSETS": "DOGE"})
        mixed = await admin.patch(CONFIG, json={"ASSETS": "BTC,DOGE", "LEVERAGE": "3"})
        after_refusals = await config(admin)
        account_after_refusals = (await admin.get(ACCOUNT)).json()
        await cycle(admin)
        symbols_after_refusals = set(agent_loop(service).config.symbols)
        valid = await admin.patch(CONFIG, json={"ASSETS": "BTC,ETH", "LEVERAGE": "3"})
        await cycle(admin)
        after_valid = await config(admin)

    assert unknown.status_code == 422
    assert unknown.json()["error"] == "config_invalid"
    assert "DOGE" in unknown.json()["problems"]["ASSETS"]
    assert "DOGE" in unknown.json()["detail"]
    assert mixed.status_code == 422
    assert list(mixed.json()["problems"]) == ["ASSETS"]  # the valid part is refused with it
    assert after_refusals == before
    assert after_refusals["overrides"] == []
    assert account_after_refusals["assets"] == ["BTC", "ETH", "SOL"]
    assert Decimal(account_after_refusals["limits"]["leverage"]) == Decimal(5)
    assert symbols_after_refusals == {"BTC", "ETH", "SOL"}
    assert valid.status_code == 200, valid.text
    assert sorted(valid.json()["applied"]) == ["ASSETS", "LEVERAGE"]
    assert after_valid["overrides"] == ["ASSETS", "LEVERAGE"]
    assert after_valid["variables"]["ASSETS"] == "BTC,ETH"
    loop = agent_loop(service)
    assert set(loop.config.symbols) == {"BTC", "ETH"}
    assert loop.config.limits.max_leverage == Decimal(3)


async def test_a_limit_tightens_and_loosens_back_only_to_the_environment(
    service: RunningService,
) -> None:
    async with service.client(FULL) as admin:
        beyond = await admin.patch(CONFIG, json={"LEVERAGE": "10"})
        tightened = await admin.patch(CONFIG, json={"LEVERAGE": "2", "MIN_STOP_ATR": "1"})
        tight_account = (await admin.get(ACCOUNT)).json()
        back = await admin.patch(CONFIG, json={"LEVERAGE": "5", "MIN_STOP_ATR": "0.5"})
        past = await admin.patch(CONFIG, json={"LEVERAGE": "5.01", "MIN_STOP_ATR": "0.4"})
        back_account = (await admin.get(ACCOUNT)).json()
        await cycle(admin)

    assert beyond.status_code == 422
    assert beyond.json()["problems"]["LEVERAGE"].startswith(
        "10 is looser than the environment allows (at most 5"
    )
    assert tightened.status_code == 200, tightened.text
    assert Decimal(tight_account["limits"]["leverage"]) == Decimal(2)
    assert Decimal(tight_account["limits"]["min_stop_atr"]) == Decimal(1)
    assert back.status_code == 200, back.text
    assert past.status_code == 422
    assert "at most 5" in past.json()["problems"]["LEVERAGE"]
    assert "at least 0.5" in past.json()["problems"]["MIN_STOP_ATR"]
    assert Decimal(back_account["limits"]["leverage"]) == Decimal(5)
    assert agent_loop(service).config.limits.max_leverage == Decimal(5)


async def test_one_patch_cannot_switch_every_limit_off(service: RunningService) -> None:
    every_limit_off = {
        "LEVERAGE": "125",
        "MAX_LOSS_PER_TRADE_PCT": "100",
        "MAX_DAILY_LOSS_PCT": "100",
        "MIN_STOP_ATR": "0",
        "MAX_POSITION_SIZE_USD": "50000",
        "MAX_TOTAL_EXPOSURE_USD": "",
        "ALLOW_PYRAMIDING": "true",
        "LLM_DAILY_BUDGET_USD": "",
    }
    async with service.client(FULL) as admin:
        before = await config(admin)
        refused = await admin.patch(CONFIG, json=every_limit_off)
        after = await config(admin)

    assert refused.status_code == 422
    assert set(refused.json()["problems"]) == set(every_limit_off)
    assert "at most 20000" in refused.json()["problems"]["MAX_TOTAL_EXPOSURE_USD"]
    assert refused.json()["problems"]["LLM_DAILY_BUDGET_USD"].startswith("unset (no cap)")
    assert after == before


async def test_a_tightened_limit_shows_on_the_account(service: RunningService) -> None:
    async with service.client(FULL) as admin, service.client(READ) as reader:
        changed = await admin.patch(
            CONFIG, json={"MAX_POSITION_SIZE_USD": "2500", "MAX_DAILY_LOSS_PCT": "1.5"}
        )
        account = (await reader.get(ACCOUNT)).json()
        listed = (await reader.get("/api/v1/accounts")).json()

    assert changed.status_code == 200, changed.text
    assert Decimal(account["limits"]["max_position_size_usd"]) == Decimal(2500)
    assert Decimal(account["limits"]["max_daily_loss_pct"]) == Decimal("1.5")
    assert listed[0]["limits"] == account["limits"]


@pytest.mark.parametrize(
    ("body", "variable", "reason"),
    [
        ({"MAX_POSITION_SIZE_USD": "1e400"}, "MAX_POSITION_SIZE_USD", "not a finite number"),
        ({"MAX_DAILY_LOSS_PCT": "nan"}, "MAX_DAILY_LOSS_PCT", "not a finite number"),
        ({"MIN_STOP_ATR": "-Infinity"}, "MIN_STOP_ATR", "not a finite number"),
        ({"LLM_MODEL": "x-ai/grok-4\n\x1b[2J"}, "LLM_MODEL", "control characters"),
        ({"LLM_MODEL": "grok 4; drop"}, "LLM_MODEL", "is not a model id"),
        ({"LLM_FALLBACK_MODELS": "a/b,<script>"}, "LLM_FALLBACK_MODELS", "is not a model id"),
        ({"leverage": "2"}, "leverage", "case-sensitive (did you mean LEVERAGE?)"),
        ({"LEVERAGE_default": "2"}, "LEVERAGE_default", "need MULTI_ACCOUNT_MODE=true"),
        ({"NO_SUCH_THING": "1"}, "NO_SUCH_THING", "unknown variable"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL", "not changeable while running"),
    ],
)
async def test_bad_names_and_values_are_refused_and_change_nothing(
    service: RunningService, body: dict[str, str], variable: str, reason: str
) -> None:
    async with service.client(FULL) as admin:
        before = await config(admin)
        refused = await admin.patch(CONFIG, json=body)
        after = await config(admin)

    assert refused.status_code == 422, refused.text
    assert reason in refused.json()["problems"][variable]
    assert "\n" not in refused.text.replace("\\n", "")  # one line each, nothing echoed raw
    assert after == before


async def test_a_json_number_too_big_for_a_float_is_refused(service: RunningService) -> None:
    async with service.client(FULL) as admin:
        before = await config(admin)
        refused = await admin.patch(
            CONFIG,
            content=b'{"MAX_POSITION_SIZE_USD": 1e400}',
            headers={"Content-Type": "application/json"},
        )
        after = await config(admin)

    assert refused.status_code == 422
    assert after == before


# Any sequence of changes, each drawn near the ceilings, past them, or junk.
def _values(name: str, ceiling: str) -> st.SearchStrategy[str]:
    if name == "ALLOW_PYRAMIDING":
        return st.sampled_from(["true", "false", "1", "no", "maybe"])
    if name.endswith("_BARS"):
        near = st.integers(min_value=-1, max_value=10).map(str)
    else:
        near = st.decimals(min_value=0, max_value=Decimal(ceiling) * 3, places=2).map(str)
    return st.one_of(near, st.sampled_from(["0", "", "nan", "inf", "1e400", "abc", ceiling]))


VALUES = {name: _values(name, ceiling) for name, ceiling in ENVIRONMENT.items()}
patches = st.lists(
    st.sets(st.sampled_from(sorted(VALUES)), min_size=1, max_size=4).flatmap(
        lambda names: st.fixed_dictionaries({name: VALUES[name] for name in names})
    ),
    min_size=1,
    max_size=4,
)


def _number(value: object) -> Decimal | None:
    """A shown value as a number: booleans as 0 / 1, unset (no cap) as None."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or value in ("true", "false"):
        return Decimal(value in (True, "true"))
    return Decimal(str(value))


def _looser(name: str, value: Decimal | None, ceiling: Decimal | None) -> bool:
    assert ceiling is not None
    if value is None:
        return True  # an unset cap limits nothing
    return value < ceiling if name in LOOSER_WHEN_LOWER else value > ceiling


async def _in_force(http: httpx.AsyncClient) -> dict[str, Decimal | None]:
    """Every limit as the account gets it (an unset exposure cap is three positions)."""
    variables = (await config(http))["variables"]
    limits = (await http.get(ACCOUNT)).json()["limits"]
    shown = {name: _number(variables[name]) for name in ENVIRONMENT}
    shown |= {name.upper(): _number(value) for name, value in limits.items()}
    shown["LEVERAGE"] = _number(limits["leverage"])
    return shown


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(sequence=patches)
async def test_no_sequence_of_patches_loosens_a_limit_past_the_environment(
    service: RunningService, sequence: list[dict[str, str]]
) -> None:
    # One service serves every example: all of them together are one longer sequence.
    async with service.client(FULL) as admin:
        for body in sequence:
            answer = await admin.patch(CONFIG, json=body)
            assert answer.status_code in (200, 422), answer.text
            in_force = await _in_force(admin)
            looser = [
                name
                for name, ceiling in ENVIRONMENT.items()
                if _looser(name, in_force[name], _number(ceiling))
            ]
            assert looser == [], (body, in_force)
        await cycle(admin)
    limits = agent_loop(service).config.limits
    assert limits.max_leverage <= Decimal(ENVIRONMENT["LEVERAGE"])
    assert limits.max_position_usd <= Decimal(ENVIRONMENT["MAX_POSITION_SIZE_USD"])
    assert limits.max_total_exposure_usd <= Decimal(ENVIRONMENT["MAX_TOTAL_EXPOSURE_USD"])
    assert limits.max_daily_loss * 100 <= Decimal(ENVIRONMENT["MAX_DAILY_LOSS_PCT"])
    assert limits.max_loss_per_trade * 100 <= Decimal(ENVIRONMENT["MAX_LOSS_PER_TRADE_PCT"])
    assert limits.min_stop_atr >= Decimal(ENVIRONMENT["MIN_STOP_ATR"])
    assert not limits.allow_pyramiding
