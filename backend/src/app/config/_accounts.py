"""Trading accounts: one ``default`` account, or ``ACCOUNT_IDS`` with per-account overrides.

In multi-account mode account ``alice`` reads ``ASTERDEX_API_KEY_ALICE`` (any case),
``LLM_MODEL_ALICE`` and so on, and falls back to the global variable for anything unset.
"""

import re
from collections.abc import Callable, Mapping
from typing import Final, Protocol

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

from app.config._values import (
    AssetList,
    Leverage,
    ModelName,
    OptionalSecret,
    OptionalText,
    PositiveUsd,
    format_errors,
)
from app.core.types import DEFAULT_ACCOUNT_ID, AccountId, TradingMode


class AccountDefaults(Protocol):
    """What account resolution reads from the global settings.

    A protocol rather than ``Settings`` itself so that this module does not import the
    module that imports it. The per-field fallbacks are read by name (``ACCOUNT_VARIABLES``).
    """

    @property
    def multi_account_mode(self) -> bool:
        """Whether ``ACCOUNT_IDS`` lists the accounts."""
        ...

    @property
    def account_ids(self) -> list[str]:
        """The configured account ids (multi-account mode only)."""
        ...


# Field name of AccountSettings -> the global variable it falls back to. The per-account
# variable is the global name plus "_<ID>".
ACCOUNT_VARIABLES: Final[dict[str, str]] = {
    "asterdex_api_key": "ASTERDEX_API_KEY",
    "asterdex_api_secret": "ASTERDEX_API_SECRET",
    "asterdex_user": "ASTERDEX_USER",
    "asterdex_signer": "ASTERDEX_SIGNER",
    "asterdex_signer_private_key": "ASTERDEX_SIGNER_PRIVATE_KEY",
    "openrouter_api_key": "OPENROUTER_API_KEY",
    "llm_model": "LLM_MODEL",
    "assets": "ASSETS",
    "leverage": "LEVERAGE",
    "max_position_size_usd": "MAX_POSITION_SIZE_USD",
    "trading_mode": "TRADING_MODE",
    "agent_paused": "AGENT_PAUSED",
}

_ACCOUNT_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")


class AccountSettings(BaseModel):
    """Everything one trading account needs, after per-account fallbacks are applied."""

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    id: AccountId
    trading_mode: TradingMode
    asterdex_api_key: OptionalSecret = None
    asterdex_api_secret: OptionalSecret = None
    asterdex_user: OptionalText = None
    asterdex_signer: OptionalText = None
    asterdex_signer_private_key: OptionalSecret = None
    openrouter_api_key: OptionalSecret = None
    llm_model: ModelName
    assets: AssetList
    leverage: Leverage
    max_position_size_usd: PositiveUsd
    # How an operator pauses one account from the .env file: its loop stays paused while set.
    agent_paused: bool = False

    @property
    def has_hmac_keys(self) -> bool:
        """True when both the API key and secret (V1 HMAC signing) are set."""
        return self.asterdex_api_key is not None and self.asterdex_api_secret is not None

    @property
    def has_v3_keys(self) -> bool:
        """True when user, signer and signer private key (V3 API-wallet signing) are set."""
        return bool(
            self.asterdex_user and self.asterdex_signer and self.asterdex_signer_private_key
        )

    def secrets(self) -> list[SecretStr | None]:
        """This account's secret values, for redaction."""
        return [
            self.asterdex_api_key,
            self.asterdex_api_secret,
            self.asterdex_signer_private_key,
            self.openrouter_api_key,
        ]


def resolve_accounts(
    settings: AccountDefaults, raw: Mapping[str, str]
) -> tuple[tuple[AccountSettings, ...], list[str]]:
    """Build every account from the globals and its ``<VAR>_<ID>`` overrides.

    Args:
        settings: The validated global settings.
        raw: The merged environment, keys upper-cased.

    Returns:
        The accounts, and one problem line per bad variable (empty when all is well).
    """
    ids = settings.account_ids if settings.multi_account_mode else [str(DEFAULT_ACCOUNT_ID)]
    problems: list[str] = []
    accounts: list[AccountSettings] = []
    seen: set[str] = set()
    for account_id in ids:
        if not _ACCOUNT_ID.match(account_id):
            problems.append(
                f"ACCOUNT_IDS: '{account_id}' is not a valid account id "
                "(letters, digits and '-', at most 32 characters)"
            )
            continue
        if account_id.lower() in seen:
            problems.append(f"ACCOUNT_IDS: '{account_id}' is listed twice")
            continue
        seen.add(account_id.lower())
        account, account_problems = _resolve_one(settings, raw, account_id)
        problems.extend(account_problems)
        if account is not None:
            accounts.append(account)
    problems.extend(_shared_credentials(accounts))
    return tuple(accounts), problems


def _resolve_one(
    settings: AccountDefaults, raw: Mapping[str, str], account_id: str
) -> tuple[AccountSettings | None, list[str]]:
    data: dict[str, object] = {"id": account_id}
    overridden: dict[str, str] = {}
    for field, variable in ACCOUNT_VARIABLES.items():
        per_account = f"{variable}_{account_id.upper()}"
        if settings.multi_account_mode and per_account in raw:
            data[field] = raw[per_account]
            overridden[field] = f"{variable}_{account_id}"
        else:
            data[field] = getattr(settings, field)

    def env_name(field: str) -> str:
        return overridden.get(field, ACCOUNT_VARIABLES.get(field, field.upper()))

    key_variable = (
        f"ASTERDEX_API_KEY_{account_id}" if settings.multi_account_mode else "ASTERDEX_API_KEY"
    )
    try:
        account = AccountSettings.model_validate(data)
    except ValidationError as exc:
        return None, format_errors(exc, env_name)
    return account, _key_problems(account, env_name, key_variable)


def _key_problems(
    account: AccountSettings, env_name: Callable[[str], str], key_variable: str
) -> list[str]:
    """A half-configured signing scheme is always an error; live mode needs a whole one."""
    problems: list[str] = []
    hmac = {
        "asterdex_api_key": account.asterdex_api_key,
        "asterdex_api_secret": account.asterdex_api_secret,
    }
    set_hmac = [f for f, v in hmac.items() if v is not None]
    if len(set_hmac) == 1:
        missing = next(f for f in hmac if f not in set_hmac)
        problems.append(
            f"{env_name(missing)}: missing for account '{account.id}' "
            f"({env_name(set_hmac[0])} is set; HMAC signing needs both)"
        )
    v3 = ("asterdex_user", "asterdex_signer", "asterdex_signer_private_key")
    set_v3 = [f for f in v3 if getattr(account, f)]
    if 0 < len(set_v3) < len(v3):
        for missing in (f for f in v3 if f not in set_v3):
            problems.append(
                f"{env_name(missing)}: missing for account '{account.id}' "
                "(V3 signing needs ASTERDEX_USER, ASTERDEX_SIGNER and ASTERDEX_SIGNER_PRIVATE_KEY)"
            )
    live = account.trading_mode is TradingMode.LIVE
    if live and not problems and not (account.has_hmac_keys or account.has_v3_keys):
        problems.append(
            f"{key_variable}: missing; account '{account.id}' trades live and needs exchange "
            "keys: ASTERDEX_API_KEY and ASTERDEX_API_SECRET, or the V3 trio ASTERDEX_USER, "
            "ASTERDEX_SIGNER, ASTERDEX_SIGNER_PRIVATE_KEY (or set TRADING_MODE=paper)"
        )
    return problems


def _shared_credentials(accounts: list[AccountSettings]) -> list[str]:
    """Two live accounts on one exchange account would trade against each other's positions."""
    owners: dict[str, str] = {}
    problems: list[str] = []
    for account in accounts:
        if account.trading_mode is not TradingMode.LIVE:
            continue
        credential = (
            account.asterdex_api_key.get_secret_value()
            if account.asterdex_api_key is not None
            else f"{account.asterdex_user}/{account.asterdex_signer}"
        )
        if credential in owners:
            problems.append(
                f"ASTERDEX_API_KEY_{account.id}: live accounts '{owners[credential]}' and "
                f"'{account.id}' use the same exchange credentials; give each its own"
            )
        owners.setdefault(credential, account.id)
    return problems
