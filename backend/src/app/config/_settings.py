"""Configuration: the user's flat environment variables, validated once at startup.

The public interface is the flat variable names of the user's spec (``ASTERDEX_API_KEY``,
``LEVERAGE``, ``ASSETS`` …), read from the environment and an optional ``.env`` file. Code
receives typed groups (``settings.database``, ``settings.api`` …) and one resolved
:class:`AccountSettings` per trading account, never ``os.environ``.

This module holds the model and its groups; :mod:`app.config._loading` reads the
environment, runs the cross-field checks and fills in the accounts (``load_settings``).
"""

from decimal import Decimal
from functools import cached_property
from typing import Annotated, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from app.config._accounts import AccountSettings
from app.config._values import (
    AssetList,
    Interval,
    Leverage,
    LogLevel,
    ModelName,
    OptionalPositiveUsd,
    OptionalSecret,
    OptionalText,
    OrderType,
    PositionPolicy,
    PositiveUsd,
    normalise_database_url,
    split_csv,
)
from app.core.types import (
    AccountId,
    EntryOrderType,
    Environment,
    TradingMode,
    UnmanagedPositionPolicy,
)

DEFAULT_SQLITE_URL: Final = "sqlite+aiosqlite:///./data/trading-agent.db"


class DatabaseSettings(BaseModel):
    """Where and how the service stores its data."""

    model_config = ConfigDict(frozen=True)

    url: str
    auto_migrate: bool

    @property
    def is_sqlite(self) -> bool:
        """True for the embedded SQLite default (or any SQLite URL)."""
        return self.url.startswith("sqlite")


class ApiSettings(BaseModel):
    """The HTTP server and who may use it."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    token: SecretStr | None
    read_token: SecretStr | None
    environment: Environment
    max_body_bytes: int


class ExchangeSettings(BaseModel):
    """AsterDEX endpoints shared by every account."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    ws_url: str
    v3_base_url: str
    v3_chain_id: int


class LlmSettings(BaseModel):
    """OpenRouter endpoint shared by every account."""

    model_config = ConfigDict(frozen=True)

    base_url: str
    default_model: str


class MarketDataSettings(BaseModel):
    """Candle backfill, the data-quality gate and the replay source."""

    model_config = ConfigDict(frozen=True)

    intervals: tuple[str, ...]
    backfill_bars: int
    max_mark_deviation: Decimal
    replay_data_dir: str | None


class AgentSettings(BaseModel):
    """Scheduling, order-entry and paper-trading settings shared by every account."""

    model_config = ConfigDict(frozen=True)

    interval: str
    long_interval: str
    paper_balance_usd: Decimal
    config_watch_enabled: bool
    config_cache_ttl: int
    entry_order_type: EntryOrderType
    unmanaged_position_policy: UnmanagedPositionPolicy


class Settings(BaseSettings):
    """Every setting of the service, as the flat variables of the user's spec.

    Prefer the typed groups (:attr:`database`, :attr:`api`, :attr:`exchange`, :attr:`llm`,
    :attr:`agent`) and :attr:`accounts` over the flat fields.
    """

    model_config = SettingsConfigDict(
        env_file=None,
        extra="ignore",
        case_sensitive=False,
        frozen=True,
        hide_input_in_errors=True,
    )

    asterdex_api_key: OptionalSecret = None
    asterdex_api_secret: OptionalSecret = None
    asterdex_user: OptionalText = None
    asterdex_signer: OptionalText = None
    asterdex_signer_private_key: OptionalSecret = None
    openrouter_api_key: OptionalSecret = None
    database_url: str | None = None
    api_host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on all interfaces
    api_port: int = Field(default=3000, ge=1, le=65535)
    llm_model: ModelName = "x-ai/grok-4"
    assets: AssetList = Field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    interval: Interval = "1h"
    long_interval: Interval = "1h"
    leverage: Leverage = Decimal("2.0")
    max_position_size_usd: PositiveUsd = Decimal("10000.0")
    log_level: LogLevel = "INFO"
    environment: Environment = Environment.DEVELOPMENT
    multi_account_mode: bool = False
    account_ids: Annotated[list[str], NoDecode] = Field(default_factory=list)
    config_watch_enabled: bool = True
    config_cache_ttl: int = Field(default=3600, ge=0)
    trading_mode: TradingMode = TradingMode.PAPER
    agent_paused: bool = False
    unmanaged_position_policy: PositionPolicy = UnmanagedPositionPolicy.ADOPT
    entry_order_type: OrderType = EntryOrderType.MARKET
    paper_balance_usd: PositiveUsd = Decimal("10000")
    asterdex_base_url: str = "https://fapi.asterdex.com"
    asterdex_ws_url: str = "wss://fstream.asterdex.com"
    # V3 (API-wallet) accounts; see docs/exchange.md for why fapi3 is the default.
    asterdex_v3_base_url: str = "https://fapi3.asterdex.com"
    asterdex_v3_chain_id: int = Field(default=1666, ge=1)
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    api_token: OptionalSecret = None
    api_read_token: OptionalSecret = None
    api_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024**3)
    auto_migrate: bool = True
    agents_enabled: bool = True
    llm_fallback_models: Annotated[list[ModelName], NoDecode] = Field(default_factory=list)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    llm_daily_budget_usd: OptionalPositiveUsd = None
    llm_max_tokens: int = Field(default=8000, ge=256, le=200_000)
    llm_timeout_s: float = Field(default=120.0, gt=0, le=900)
    max_total_exposure_usd: OptionalPositiveUsd = None
    max_daily_loss_pct: Decimal = Field(default=Decimal(5), gt=0, le=100)
    max_loss_per_trade_pct: Decimal = Field(default=Decimal(2), gt=0, le=100)
    min_stop_atr: Decimal = Field(default=Decimal("0.5"), ge=0, le=20)
    max_stop_distance_pct: Decimal = Field(default=Decimal(10), gt=0, le=90)
    min_hold_bars: int = Field(default=3, ge=0, le=1000)
    allow_pyramiding: bool = False
    stop_cooldown_bars: int = Field(default=3, ge=0, le=1000)
    backfill_bars: int = Field(default=250, ge=50, le=5000)
    max_mark_deviation_pct: Decimal = Field(default=Decimal(5), gt=0, le=100)
    replay_data_dir: OptionalText = None
    replay_speed: float = Field(default=3600.0, gt=0, le=1_000_000)

    # Filled by load_settings() from ACCOUNT_IDS and the per-account variables.
    _accounts: tuple[AccountSettings, ...] = PrivateAttr(default=())

    _split_csv_lists = field_validator(
        "account_ids", "llm_fallback_models", "cors_origins", mode="before"
    )(split_csv)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        return None if value is None or not value.strip() else normalise_database_url(value)

    @cached_property
    def database(self) -> DatabaseSettings:
        """Database group; an unset ``DATABASE_URL`` means the embedded SQLite file."""
        return DatabaseSettings(
            url=self.database_url or DEFAULT_SQLITE_URL, auto_migrate=self.auto_migrate
        )

    @cached_property
    def api(self) -> ApiSettings:
        """HTTP server group."""
        return ApiSettings(
            host=self.api_host,
            port=self.api_port,
            token=self.api_token,
            read_token=self.api_read_token,
            environment=self.environment,
            max_body_bytes=self.api_max_body_bytes,
        )

    @cached_property
    def exchange(self) -> ExchangeSettings:
        """AsterDEX endpoint group."""
        return ExchangeSettings(
            base_url=self.asterdex_base_url,
            ws_url=self.asterdex_ws_url,
            v3_base_url=self.asterdex_v3_base_url,
            v3_chain_id=self.asterdex_v3_chain_id,
        )

    @cached_property
    def llm(self) -> LlmSettings:
        """OpenRouter endpoint group."""
        return LlmSettings(base_url=self.openrouter_base_url, default_model=self.llm_model)

    @cached_property
    def market_data(self) -> MarketDataSettings:
        """Market data group; ``intervals`` is INTERVAL then LONG_INTERVAL (deduplicated)."""
        return MarketDataSettings(
            intervals=tuple(dict.fromkeys((self.interval, self.long_interval))),
            backfill_bars=self.backfill_bars,
            max_mark_deviation=self.max_mark_deviation_pct / 100,
            replay_data_dir=self.replay_data_dir,
        )

    @cached_property
    def agent(self) -> AgentSettings:
        """Scheduling group."""
        return AgentSettings(
            interval=self.interval,
            long_interval=self.long_interval,
            paper_balance_usd=self.paper_balance_usd,
            config_watch_enabled=self.config_watch_enabled,
            config_cache_ttl=self.config_cache_ttl,
            entry_order_type=self.entry_order_type,
            unmanaged_position_policy=self.unmanaged_position_policy,
        )

    @property
    def accounts(self) -> tuple[AccountSettings, ...]:
        """The trading accounts: ``default`` alone unless ``MULTI_ACCOUNT_MODE`` is on."""
        return self._accounts

    def account(self, account_id: AccountId) -> AccountSettings:
        """Return one account's settings.

        Raises:
            KeyError: No account has that id.
        """
        for account in self._accounts:
            if account.id == account_id:
                return account
        raise KeyError(account_id)

    def secret_values(self) -> list[str]:
        """Every configured secret's plain value, for the redactor. Never log this.

        Exchange keys and the OpenRouter key (global and per account), both API tokens and
        the database password.
        """
        secrets: list[SecretStr | None] = [
            self.asterdex_api_key,
            self.asterdex_api_secret,
            self.asterdex_signer_private_key,
            self.openrouter_api_key,
            self.api_token,
            self.api_read_token,
        ]
        for account in self._accounts:
            secrets.extend(account.secrets())
        values = {s.get_secret_value() for s in secrets if s is not None}
        password = make_url(self.database.url).password
        if password:
            values.add(str(password))
        return sorted(values)
