"""Configuration: defaults, every refusal, multi-account resolution, secret hygiene."""

from decimal import Decimal
from pathlib import Path

import pytest

from app.config import DEFAULT_SQLITE_URL, Settings, load_settings
from app.core.errors import ConfigError
from app.core.types import AccountId, Environment, TradingMode


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> Settings:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(use_default_env_file=False)


def problems(monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as caught:
        load(monkeypatch, **env)
    return caught.value.problems


def test_every_default_matches_the_spec(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch)

    assert settings.asterdex_api_key is None
    assert settings.asterdex_api_secret is None
    assert settings.openrouter_api_key is None
    assert settings.database_url is None
    assert settings.database.url == DEFAULT_SQLITE_URL
    assert settings.database.is_sqlite
    assert settings.api_host == "0.0.0.0"
    assert settings.api_port == 3000
    assert settings.llm_model == "x-ai/grok-4"
    assert settings.assets == ["BTC", "ETH", "SOL"]
    assert settings.interval == "1h"
    assert settings.long_interval == "1h"
    assert settings.leverage == Decimal("2.0")
    assert settings.max_position_size_usd == Decimal("10000.0")
    assert settings.log_level == "INFO"
    assert settings.environment is Environment.DEVELOPMENT
    assert settings.multi_account_mode is False
    assert settings.account_ids == []
    assert settings.config_watch_enabled is True
    assert settings.config_cache_ttl == 3600
    assert settings.trading_mode is TradingMode.PAPER
    assert settings.paper_balance_usd == Decimal(10000)
    assert settings.asterdex_base_url == "https://fapi.asterdex.com"
    assert settings.asterdex_ws_url == "wss://fstream.asterdex.com"
    assert settings.openrouter_base_url == "https://openrouter.ai/api/v1"
    assert settings.api_token is None
    assert settings.api_read_token is None
    assert settings.auto_migrate is True


def test_single_account_mode_has_one_default_account(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, ASSETS="btc, eth,btc", LEVERAGE="3", LLM_MODEL="m/x")

    (account,) = settings.accounts
    assert account.id == "default"
    assert account.assets == ["BTC", "ETH"]
    assert account.leverage == Decimal(3)
    assert account.llm_model == "m/x"
    assert account.trading_mode is TradingMode.PAPER


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        ({"LEVERAGE": "0"}, "LEVERAGE", "between 1 and 125"),
        ({"LEVERAGE": "126"}, "LEVERAGE", "between 1 and 125"),
        ({"LEVERAGE": "lots"}, "LEVERAGE", "valid decimal"),
        ({"INTERVAL": "7m"}, "INTERVAL", "1m 3m 5m 15m 30m 1h"),
        ({"LONG_INTERVAL": "1y"}, "LONG_INTERVAL", "not an AsterDEX kline interval"),
        ({"ASSETS": ""}, "ASSETS", "at least one asset"),
        ({"ASSETS": " , ,"}, "ASSETS", "at least one asset"),
        ({"ASSETS": "BTC,ET H"}, "ASSETS", "not an asset name"),
        ({"MAX_POSITION_SIZE_USD": "0"}, "MAX_POSITION_SIZE_USD", "positive"),
        ({"MAX_POSITION_SIZE_USD": "-10"}, "MAX_POSITION_SIZE_USD", "positive"),
        ({"TRADING_MODE": "live"}, "ASTERDEX_API_KEY", "trades live and needs exchange keys"),
        ({"TRADING_MODE": "yolo"}, "TRADING_MODE", "'paper' or 'live'"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL", "not a database URL"),
        ({"DATABASE_URL": "mysql://u@h/db"}, "DATABASE_URL", "unsupported database 'mysql'"),
        ({"DATABASE_URL": "postgresql:///db"}, "DATABASE_URL", "needs a host"),
        ({"DATABASE_URL": "postgresql://u@h:5432"}, "DATABASE_URL", "database name"),
        ({"ENVIRONMENT": "production"}, "API_TOKEN", "required when ENVIRONMENT=production"),
        ({"ENVIRONMENT": "prod"}, "ENVIRONMENT", "'production'"),
        ({"API_PORT": "70000"}, "API_PORT", "less than or equal to 65535"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL", "not a log level"),
        ({"LLM_MODEL": "grok 4"}, "LLM_MODEL", "not a model id"),
        ({"LLM_FALLBACK_MODELS": "a/b, c\td"}, "LLM_FALLBACK_MODELS", "not a model id"),
        ({"CONFIG_CACHE_TTL": "-1"}, "CONFIG_CACHE_TTL", "greater than or equal to 0"),
        ({"MULTI_ACCOUNT_MODE": "true"}, "ACCOUNT_IDS", "required when MULTI_ACCOUNT_MODE"),
        ({"ASTERDEX_API_KEY": "k" * 20}, "ASTERDEX_API_SECRET", "HMAC signing needs both"),
    ],
)
def test_bad_values_are_refused_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str, fragment: str
) -> None:
    lines = problems(monkeypatch, **env)

    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{variable}: ")
    assert fragment in lines[0]


def test_several_bad_variables_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(monkeypatch, LEVERAGE="0", INTERVAL="2m", API_PORT="x")

    assert sorted(line.split(":")[0] for line in lines) == ["API_PORT", "INTERVAL", "LEVERAGE"]


def test_database_urls_are_normalised_to_async_drivers(monkeypatch: pytest.MonkeyPatch) -> None:
    pg = load(monkeypatch, DATABASE_URL="postgresql://trader:pw@db:5432/trading")
    assert pg.database.url == "postgresql+asyncpg://trader:pw@db:5432/trading"
    assert not pg.database.is_sqlite

    legacy = load(monkeypatch, DATABASE_URL="postgres://trader@db/trading")
    assert legacy.database.url.startswith("postgresql+asyncpg://trader@db/")

    lite = load(monkeypatch, DATABASE_URL="sqlite:///./x.db")
    assert lite.database.url == "sqlite+aiosqlite:///./x.db"


def test_live_mode_accepts_either_signing_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    hmac = load(
        monkeypatch, TRADING_MODE="live", ASTERDEX_API_KEY="k" * 16, ASTERDEX_API_SECRET="s" * 16
    )
    assert hmac.accounts[0].has_hmac_keys

    monkeypatch.delenv("ASTERDEX_API_KEY")
    monkeypatch.delenv("ASTERDEX_API_SECRET")
    v3 = load(
        monkeypatch,
        ASTERDEX_USER="0x" + "1" * 40,
        ASTERDEX_SIGNER="0x" + "2" * 40,
        ASTERDEX_SIGNER_PRIVATE_KEY="0x" + "3" * 64,
    )
    assert v3.accounts[0].has_v3_keys
    assert not v3.accounts[0].has_hmac_keys


def test_half_a_v3_trio_names_the_missing_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(monkeypatch, ASTERDEX_USER="0xabc")

    assert [line.split(":")[0] for line in lines] == [
        "ASTERDEX_SIGNER",
        "ASTERDEX_SIGNER_PRIVATE_KEY",
    ]


def test_multi_account_overrides_fall_back_to_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(
        monkeypatch,
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="alice, bob",
        LLM_MODEL="global/model",
        LEVERAGE="2",
        ASSETS="BTC,ETH",
        ASTERDEX_API_KEY_ALICE="alice-key-123",
        ASTERDEX_API_SECRET_alice="alice-secret-123",
        LLM_MODEL_ALICE="anthropic/claude",
        ASSETS_BOB="SOL",
        LEVERAGE_BOB="5",
        MAX_POSITION_SIZE_USD_BOB="500",
        TRADING_MODE_ALICE="live",
    )

    alice, bob = settings.accounts
    assert (alice.id, bob.id) == ("alice", "bob")
    assert alice.trading_mode is TradingMode.LIVE
    assert alice.asterdex_api_key is not None
    assert alice.asterdex_api_key.get_secret_value() == "alice-key-123"
    assert alice.llm_model == "anthropic/claude"
    assert alice.assets == ["BTC", "ETH"]
    assert alice.leverage == Decimal(2)
    assert bob.trading_mode is TradingMode.PAPER
    assert bob.asterdex_api_key is None
    assert bob.llm_model == "global/model"
    assert bob.assets == ["SOL"]
    assert bob.leverage == Decimal(5)
    assert bob.max_position_size_usd == Decimal(500)
    assert settings.account(AccountId("bob")) is bob


def test_per_account_variables_are_ignored_in_single_account_mode(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load(monkeypatch, ACCOUNT_IDS="alice", LLM_MODEL_ALICE="other/model")

    assert [a.id for a in settings.accounts] == ["default"]
    assert settings.accounts[0].llm_model == "x-ai/grok-4"


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        (
            {
                "TRADING_MODE": "live",
                "ASTERDEX_API_KEY_A": "a" * 16,
                "ASTERDEX_API_SECRET_A": "b" * 16,
            },
            "ASTERDEX_API_KEY_b",
            "account 'b' trades live",
        ),
        ({"LEVERAGE_B": "500"}, "LEVERAGE_b", "between 1 and 125"),
        ({"ASSETS_A": ","}, "ASSETS_a", "at least one asset"),
        ({"TRADING_MODE_B": "live"}, "ASTERDEX_API_KEY_b", "needs exchange keys"),
        ({"ASTERDEX_API_SECRET_A": "s" * 16}, "ASTERDEX_API_KEY", "HMAC signing needs both"),
    ],
)
def test_bad_per_account_values_name_the_per_account_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], variable: str, fragment: str
) -> None:
    lines = problems(monkeypatch, MULTI_ACCOUNT_MODE="true", ACCOUNT_IDS="a,b", **env)

    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{variable}: ")
    assert fragment in lines[0]


@pytest.mark.parametrize(
    ("ids", "fragment"),
    [("a,A", "listed twice"), ("a,b c", "not a valid account id"), ("x" * 40, "at most 32")],
)
def test_bad_account_ids_are_refused(
    monkeypatch: pytest.MonkeyPatch, ids: str, fragment: str
) -> None:
    lines = problems(monkeypatch, MULTI_ACCOUNT_MODE="true", ACCOUNT_IDS=ids)

    assert lines[0].startswith("ACCOUNT_IDS: ")
    assert fragment in lines[0]


def test_two_live_accounts_cannot_share_exchange_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lines = problems(
        monkeypatch,
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="a,b",
        TRADING_MODE="live",
        ASTERDEX_API_KEY="shared-key-123",
        ASTERDEX_API_SECRET="shared-secret-123",
    )

    assert len(lines) == 1
    assert "'a' and 'b' use the same exchange credentials" in lines[0]
    assert "shared-key-123" not in lines[0]


def test_env_file_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    Path(".env").write_text("LEVERAGE=4\nASSETS=SOL\n# comment\nLLM_MODEL=file/model\n")
    monkeypatch.setenv("LLM_MODEL", "env/model")

    settings = load_settings()

    assert settings.leverage == Decimal(4)
    assert settings.assets == ["SOL"]
    assert settings.llm_model == "env/model"


def test_env_file_errors_are_reported_like_environment_errors() -> None:
    Path(".env").write_text("LEVERAGE=0\n")

    with pytest.raises(ConfigError, match=r"^LEVERAGE: must be between 1 and 125"):
        load_settings()


SECRETS = {
    "ASTERDEX_API_KEY": "ak-visible-if-leaked-111",
    "ASTERDEX_API_SECRET": "as-visible-if-leaked-222",
    "OPENROUTER_API_KEY": "sk-or-v1-visible-if-leaked-333",
    "API_TOKEN": "token-visible-if-leaked-444",
}


def test_secrets_never_appear_in_repr_or_serialisation(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load(monkeypatch, **SECRETS)

    texts = [repr(settings), str(settings), settings.model_dump_json(), repr(settings.accounts)]
    for text in texts:
        for secret in SECRETS.values():
            assert secret not in text
    assert set(settings.secret_values()) == set(SECRETS.values())


def test_the_database_password_and_per_account_keys_are_secrets_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = load(
        monkeypatch,
        DATABASE_URL="postgresql://agent:db-password-666@db.internal:5432/trading",
        MULTI_ACCOUNT_MODE="true",
        ACCOUNT_IDS="alice",
        OPENROUTER_API_KEY_ALICE="llm-key-of-alice-777",
    )

    assert {"db-password-666", "llm-key-of-alice-777"} <= set(settings.secret_values())


def test_secrets_never_appear_in_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(
        monkeypatch,
        ASTERDEX_API_KEY="ak-visible-if-leaked-111",
        LEVERAGE="0",
        DATABASE_URL="postgresql://user:db-password-555@:bad",
    )

    joined = "\n".join(lines)
    assert "ak-visible-if-leaked-111" not in joined
    assert "db-password-555" not in joined
    assert "DATABASE_URL: is not a database URL" in joined


def test_production_refuses_placeholder_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(
        monkeypatch, ENVIRONMENT="production", API_TOKEN="t" * 32, OPENROUTER_API_KEY="changeme"
    )

    assert lines == ("OPENROUTER_API_KEY: is a placeholder; set the real value",)
