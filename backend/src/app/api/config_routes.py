"""``/api/v1/config``: the resolved configuration (secrets redacted) and live changes to it.

``PATCH`` takes the same variables as the ``.env`` file, limited to those that are safe to
change while the agents run, validates them exactly like the environment, and hands them to
the agents for their next cycle. Patched values win over the file until the next restart
(they are not written to it).
"""

from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field, SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from app.api.auth import FullAccess, ReadAccess
from app.api.deps import ContainerDep
from app.api.errors import API_ERRORS
from app.config import ACCOUNT_VARIABLES, LIVE_SAFE_VARIABLES, Settings
from app.core.decimals import plain_decimal
from app.core.errors import AppError, ConfigError
from app.hot_reload import apply_change

router = APIRouter(prefix="/api/v1", tags=["config"])
_HIDDEN = "********"


class InvalidConfigChange(AppError):
    """The change names a variable that cannot change live, or is invalid."""

    status_code = 422
    code = "config_invalid"


class AccountConfigRead(BaseModel):
    """One account's resolved variables."""

    id: str
    variables: dict[str, str | None]


class ConfigRead(BaseModel):
    """The configuration the service runs with; secrets show as ``********`` when set."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "variables": {"ASSETS": "BTC,ETH,SOL", "OPENROUTER_API_KEY": _HIDDEN},
                    "accounts": [{"id": "default", "variables": {"LEVERAGE": "2.0"}}],
                    "live_safe": ["ASSETS", "LEVERAGE"],
                    "overrides": ["LEVERAGE"],
                }
            ]
        }
    }

    variables: dict[str, str | None]
    accounts: list[AccountConfigRead]
    live_safe: list[str] = Field(description="Variables PATCH may change without a restart")
    overrides: list[str] = Field(description="Variables set over the API (win over the file)")


class ConfigPatchRead(BaseModel):
    """What a PATCH changed."""

    applied: list[str] = Field(description="Variables that changed; agents use them next cycle")
    config: ConfigRead


def _show(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, SecretStr):
        return _HIDDEN
    if name == "database_url":
        try:
            return make_url(str(value)).render_as_string(hide_password=True)
        except ArgumentError:
            return _HIDDEN
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, Decimal):
        return plain_decimal(value)
    if isinstance(value, int | float | str):
        return str(value)
    return None


def config_read(settings: Settings, overrides: Mapping[str, str]) -> ConfigRead:
    """The resolved configuration with every secret redacted."""
    variables = {
        name.upper(): _show(name, getattr(settings, name)) for name in Settings.model_fields
    }
    accounts = [
        AccountConfigRead(
            id=account.id,
            variables={
                env: _show(field, getattr(account, field))
                for field, env in ACCOUNT_VARIABLES.items()
            },
        )
        for account in settings.accounts
    ]
    return ConfigRead(
        variables=variables,
        accounts=accounts,
        live_safe=sorted(LIVE_SAFE_VARIABLES),
        overrides=sorted(overrides),
    )


def _allowed(settings: Settings) -> set[str]:
    names = set(LIVE_SAFE_VARIABLES)
    if settings.multi_account_mode:
        per_account = LIVE_SAFE_VARIABLES & set(ACCOUNT_VARIABLES.values())
        names |= {f"{v}_{a.id}".upper() for v in per_account for a in settings.accounts}
    return names


@router.get("/config", summary="Resolved configuration (secrets redacted)", responses=API_ERRORS)
async def get_config(container: ContainerDep, _: ReadAccess) -> ConfigRead:
    """Every variable as the service resolved it, per account too."""
    watcher = container.watcher
    settings = watcher.current if watcher is not None else container.settings
    return config_read(settings, watcher.overrides if watcher is not None else {})


@router.patch("/config", summary="Change live-safe variables", responses=API_ERRORS)
async def patch_config(
    container: ContainerDep,
    _: FullAccess,
    values: Annotated[
        dict[str, Annotated[str, Field(max_length=500)]],
        Body(
            examples=[{"LEVERAGE": "3", "ASSETS": "BTC,ETH"}],
            description="Variables as in the .env file (per account: NAME_<ID>)",
        ),
    ],
) -> ConfigPatchRead:
    """Validate like the environment; the agents pick the change up at their next cycle."""
    watcher = container.watcher
    if watcher is None:
        raise InvalidConfigChange("the agents are not running: nothing can change live")
    names = {name.upper() for name in values}
    refused = sorted(names - _allowed(watcher.current))
    if refused:
        raise InvalidConfigChange(
            f"not changeable while running (restart with a new .env instead): {', '.join(refused)}"
        )
    if not names:
        raise InvalidConfigChange("nothing to change")
    try:
        change = watcher.patch(values)
    except ConfigError as exc:
        raise InvalidConfigChange("; ".join(exc.problems)) from None
    if container.runtime is not None and not change.is_empty:
        await apply_change(container.runtime, change)
    return ConfigPatchRead(
        applied=list(change.applied), config=config_read(watcher.current, watcher.overrides)
    )
